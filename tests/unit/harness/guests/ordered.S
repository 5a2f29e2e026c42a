/* Prints three markers out of order (one, three, two) with Xen-style "\r\r\n" line ends,
 * then waits forever. */
    .text
    .globl main
main:
    la a0, msg
    call uart_puts
    j hang

    .section .rodata
msg:
    .ascii "GUEST BOOT\r\r\n"
    .ascii "=== MARKER one ===\r\r\n"
    .ascii "=== MARKER three ===\r\r\n"
    .asciz "=== MARKER two ===\r\r\n"

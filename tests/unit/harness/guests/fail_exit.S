/* Prints a line, then asks QEMU to exit with status 3 through the test finisher. */
    .text
    .globl main
main:
    la a0, msg
    call uart_puts
    li a0, 3
    call exit_fail

    .section .rodata
msg:
    .asciz "GUEST BOOT\r\nexiting with status 3\r\n"

/* Prints a line with FAIL in it (a default bad pattern), then waits forever: a harness
 * that only noticed it by timing out would report a timeout instead of the bad pattern. */
    .text
    .globl main
main:
    la a0, msg
    call uart_puts
    j hang

    .section .rodata
msg:
    .asciz "GUEST BOOT\r\nself-check 7: FAIL (expected 0x2a)\r\nstill here\r\n"

/* Prints two lines, then waits forever (never exits, never prints again). */
    .text
    .globl main
main:
    la a0, msg
    call uart_puts
    j hang

    .section .rodata
msg:
    .asciz "GUEST BOOT\r\nwaiting forever\r\n"

/* A tiny line-echoing shell: prints "=> ", echoes every received byte; on carriage return
 * or line feed echoes "\r\n" and prints the prompt again. Never exits. */
    .text
    .globl main
main:
    la a0, banner
    call uart_puts
prompt:
    la a0, ps1
    call uart_puts
loop:
    call uart_getc
    li t0, '\r'
    beq a0, t0, newline
    li t0, '\n'
    beq a0, t0, newline
    call uart_putc
    j loop
newline:
    la a0, crlf
    call uart_puts
    j prompt

    .section .rodata
banner:
    .asciz "GUEST BOOT\r\necho ready\r\n"
ps1:
    .asciz "=> "
crlf:
    .asciz "\r\n"

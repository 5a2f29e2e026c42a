/* Prints a few lines, including a layout line, then asks QEMU to exit with status 0. */
    .text
    .globl main
main:
    la a0, msg
    call uart_puts
    call exit_pass

    .section .rodata
msg:
    .ascii "GUEST BOOT\r\n"
    .ascii "hello from rv32\r\n"
    .ascii "layout: ram_start=0x80000000 ram_size=0x8000000\r\n"
    .asciz "GUEST DONE\r\n"

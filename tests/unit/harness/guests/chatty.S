/* Prints the same 64-byte line 4000 times (256 KB of console output), then "GUEST DONE",
 * then asks QEMU to exit with status 0. Used to measure console throughput. */
    .text
    .globl main
main:
    li s0, 4000
1:  la a0, line
    call uart_puts
    addi s0, s0, -1
    bnez s0, 1b
    la a0, done
    call uart_puts
    call exit_pass

    .section .rodata
line:
    .asciz "[chatty] console output for the harness throughput benchmark..\r\n"
done:
    .asciz "GUEST DONE\r\n"

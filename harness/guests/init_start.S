/* Entry of a bootproof init program (user mode; a0 = PID, sp set by the kernel). */
    .section .text.start, "ax"
    .globl _start
_start:
    call    init_main
    li      a7, 2
    ecall
1:  j       1b

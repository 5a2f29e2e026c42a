/* Entry of the sample app: the test kernel starts it in user mode with a0 = its PID and
 * sp set; app_main's return value is the exit status (ecall a7 = 2). */
    .section .text.start, "ax"
    .globl _start
_start:
    call    app_main
    li      a7, 2
    ecall
1:  j       1b

/* Entry of the Xous loader model: machine mode, no paging, on qemu-system-riscv32 -M virt
 * -bios none (QEMU's reset vector jumps here with a0 = hart id, a1 = DTB). */
    .section .text.start, "ax"
    .globl _start
_start:
    csrw    mie, zero
    la      sp, __stack_top
    la      t0, loader_trap
    csrw    mtvec, t0
    /* Let supervisor and user mode reach all memory (PMP entry 0: NAPOT over everything). */
    li      t0, -1
    csrw    pmpaddr0, t0
    li      t0, 0x1f
    csrw    pmpcfg0, t0
    /* Everything after the hand-off is the kernel's business. */
    li      t0, -1
    csrw    medeleg, t0
    csrw    mideleg, t0
    la      t0, __bss_start
    la      t1, __bss_end
1:  bgeu    t0, t1, 2f
    sw      zero, 0(t0)
    addi    t0, t0, 4
    j       1b
2:  call    loader_main
3:  wfi
    j       3b

    .align  4
loader_trap:
    la      sp, __stack_top
    csrr    a0, mcause
    csrr    a1, mepc
    csrr    a2, mtval
    call    loader_trap_report
4:  wfi
    j       4b

/* start_kernel(a0 args, a1 ip, a2 rpt, a3 xpt, a4 uart, a5 finisher, a6 satp, a7 debug,
 *              stack: entry, sp, mstatus) : never returns. */
    .globl  start_kernel
start_kernel:
    lw      t0, 0(sp)           /* entry */
    lw      t1, 4(sp)           /* kernel sp */
    lw      t2, 8(sp)           /* mstatus */
    csrw    mepc, t0
    csrw    mstatus, t2
    csrw    satp, a6
    sfence.vma
    mv      sp, t1
    li      a6, 0
    mret

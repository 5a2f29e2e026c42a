/* Entry and trap path of the bootproof test kernel (supervisor mode, paging on). */
    .section .text.start, "ax"
    .globl _start
_start:
    .option push
    .option norvc
    j       1f                  /* 4 bytes, so the magic is at byte 4 */
    .option pop
    .word   0x4b545042          /* "BPTK": tells the loader model this is the test kernel */
1:  la      t0, kernel_trap
    csrw    stvec, t0
    call    kmain
2:  j       2b

/* uint32_t run_user(uint32_t satp, uint32_t entry, uint32_t sp, uint32_t pid):
 * enter user mode; returns the program's exit code when it calls the exit ecall. */
    .globl  run_user
run_user:
    addi    sp, sp, -64
    sw      ra, 0(sp)
    sw      s0, 4(sp)
    sw      s1, 8(sp)
    sw      s2, 12(sp)
    sw      s3, 16(sp)
    sw      s4, 20(sp)
    sw      s5, 24(sp)
    sw      s6, 28(sp)
    sw      s7, 32(sp)
    sw      s8, 36(sp)
    sw      s9, 40(sp)
    sw      s10, 44(sp)
    sw      s11, 48(sp)
    la      t0, kernel_saved_sp
    sw      sp, 0(t0)
    csrw    sscratch, sp
    csrw    sepc, a1
    li      t0, 0x100           /* SPP = user */
    csrc    sstatus, t0
    csrw    satp, a0
    sfence.vma
    mv      sp, a2
    mv      a0, a3
    li      a1, 0
    li      a2, 0
    li      a3, 0
    sret

    .align  4
kernel_trap:
    csrrw   sp, sscratch, sp
    addi    sp, sp, -128
    sw      x1, 4(sp)
    sw      x3, 12(sp)
    sw      x4, 16(sp)
    sw      x5, 20(sp)
    sw      x6, 24(sp)
    sw      x7, 28(sp)
    sw      x8, 32(sp)
    sw      x9, 36(sp)
    sw      x10, 40(sp)
    sw      x11, 44(sp)
    sw      x12, 48(sp)
    sw      x13, 52(sp)
    sw      x14, 56(sp)
    sw      x15, 60(sp)
    sw      x16, 64(sp)
    sw      x17, 68(sp)
    sw      x18, 72(sp)
    sw      x19, 76(sp)
    sw      x20, 80(sp)
    sw      x21, 84(sp)
    sw      x22, 88(sp)
    sw      x23, 92(sp)
    sw      x24, 96(sp)
    sw      x25, 100(sp)
    sw      x26, 104(sp)
    sw      x27, 108(sp)
    sw      x28, 112(sp)
    sw      x29, 116(sp)
    sw      x30, 120(sp)
    sw      x31, 124(sp)
    csrr    t0, sscratch
    sw      t0, 8(sp)
    csrr    t0, sepc
    sw      t0, 0(sp)
    mv      a0, sp
    call    trap_handler
    bnez    a0, 3f
    lw      t0, 0(sp)
    csrw    sepc, t0
    addi    t0, sp, 128
    csrw    sscratch, t0
    lw      x1, 4(sp)
    lw      x3, 12(sp)
    lw      x4, 16(sp)
    lw      x5, 20(sp)
    lw      x6, 24(sp)
    lw      x7, 28(sp)
    lw      x8, 32(sp)
    lw      x9, 36(sp)
    lw      x10, 40(sp)
    lw      x11, 44(sp)
    lw      x12, 48(sp)
    lw      x13, 52(sp)
    lw      x14, 56(sp)
    lw      x15, 60(sp)
    lw      x16, 64(sp)
    lw      x17, 68(sp)
    lw      x18, 72(sp)
    lw      x19, 76(sp)
    lw      x20, 80(sp)
    lw      x21, 84(sp)
    lw      x22, 88(sp)
    lw      x23, 92(sp)
    lw      x24, 96(sp)
    lw      x25, 100(sp)
    lw      x26, 104(sp)
    lw      x27, 108(sp)
    lw      x28, 112(sp)
    lw      x29, 116(sp)
    lw      x30, 120(sp)
    lw      x31, 124(sp)
    lw      x2, 8(sp)
    sret
3:  /* the program exited: back to run_user's caller on the kernel's address space */
    lw      a0, 40(sp)
    la      t0, kernel_satp
    lw      t0, 0(t0)
    csrw    satp, t0
    sfence.vma
    la      t0, kernel_saved_sp
    lw      sp, 0(t0)
    lw      ra, 0(sp)
    lw      s0, 4(sp)
    lw      s1, 8(sp)
    lw      s2, 12(sp)
    lw      s3, 16(sp)
    lw      s4, 20(sp)
    lw      s5, 24(sp)
    lw      s6, 28(sp)
    lw      s7, 32(sp)
    lw      s8, 36(sp)
    lw      s9, 40(sp)
    lw      s10, 44(sp)
    lw      s11, 48(sp)
    addi    sp, sp, 64
    ret

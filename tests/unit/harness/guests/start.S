/*
 * Tiny bare-metal RV32 runtime for the harness tests (QEMU "virt" board, -bios none).
 *
 * The board's NS16550 UART sits at 0x10000000 (THR/RBR at +0, LSR at +5: bit 0 = data
 * ready, bit 5 = transmit holding register empty). The "test finisher" (sifive_test) sits
 * at 0x100000: writing 0x5555 makes QEMU exit with status 0, writing (code << 16) | 0x3333
 * makes it exit with status `code`.
 *
 * Each test program provides `main`; these helpers follow the standard calling
 * convention (arguments in a0, return address in ra) and only clobber a0-a2, t0-t2.
 */
#define UART_BASE 0x10000000
#define UART_LSR 5
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define FINISHER 0x100000

    .section .text.start, "ax"
    .globl _start
_start:
    bnez a0, hang          /* QEMU's reset code passes the hart id in a0: only hart 0 runs */
    la sp, stack_top
    call main
    j hang

    .text
/* uart_putc(a0 = byte) */
    .globl uart_putc
uart_putc:
    li t0, UART_BASE
1:  lbu t1, UART_LSR(t0)
    andi t1, t1, LSR_THRE
    beqz t1, 1b
    sb a0, 0(t0)
    ret

/* uart_puts(a0 = NUL-terminated string) */
    .globl uart_puts
uart_puts:
    mv t2, a0
    mv a2, ra
1:  lbu a0, 0(t2)
    beqz a0, 2f
    call uart_putc
    addi t2, t2, 1
    j 1b
2:  mv ra, a2
    ret

/* a0 = uart_getc(): waits for one received byte */
    .globl uart_getc
uart_getc:
    li t0, UART_BASE
1:  lbu t1, UART_LSR(t0)
    andi t1, t1, LSR_DR
    beqz t1, 1b
    lbu a0, 0(t0)
    ret

/* exit_pass(): QEMU exits with status 0 */
    .globl exit_pass
exit_pass:
    li t0, FINISHER
    li t1, 0x5555
    sw t1, 0(t0)
    j hang

/* exit_fail(a0 = code): QEMU exits with status `code` */
    .globl exit_fail
exit_fail:
    li t0, FINISHER
    slli a0, a0, 16
    li t1, 0x3333
    or a0, a0, t1
    sw a0, 0(t0)
    j hang

    .globl hang
hang:
    wfi
    j hang

    .bss
    .balign 16
    .space 4096
stack_top:

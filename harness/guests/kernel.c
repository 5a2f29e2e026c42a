/*
 * The bootproof test kernel: started by the loader model in supervisor mode with paging on.
 *
 * a0 = args (the tag block copy), a1 = InitialProcess table ({satp, entry, sp, env} per PID,
 * index 0 = kernel), a2 = RPT, a3 = XPT, a4 = UART VA, a5 = test finisher VA.
 * It prints a banner, checks its .data pattern and zeroed .bss, walks the args, then runs each
 * init program in user mode (its own satp) until it exits, and powers off with a pass code.
 * User programs print with ecall a7 = 1 (a0 = character) and exit with ecall a7 = 2
 * (a0 = exit code).
 */
#include <stdint.h>

#include "common.h"

#define P(i) (0x9e3779b1u * ((i) + 1u) ^ 0x0badc0deu)
static volatile uint32_t kdata[16] = {P(0), P(1), P(2), P(3), P(4), P(5), P(6), P(7),
                                      P(8), P(9), P(10), P(11), P(12), P(13), P(14), P(15)};
static volatile uint32_t kbss[2048];

static volatile uint8_t *uart;
static volatile uint32_t *finisher;
uint32_t kernel_saved_sp;
uint32_t kernel_satp;
static uint32_t exit_code;

extern uint32_t run_user(uint32_t satp, uint32_t entry, uint32_t sp, uint32_t pid);

void bp_putc(char c)
{
    while (!(uart[5] & 0x20))
        ;
    uart[0] = (uint8_t)c;
}

static void __attribute__((noreturn)) power_off(uint32_t code)
{
    *finisher = code ? ((code << 16) | 0x3333u) : 0x5555u;
    for (;;)
        __asm__ volatile("wfi");
}

static uint32_t csr_read_scause(void) { uint32_t v; __asm__ volatile("csrr %0, scause" : "=r"(v)); return v; }
static uint32_t csr_read_stval(void) { uint32_t v; __asm__ volatile("csrr %0, stval" : "=r"(v)); return v; }

/* frame: [0] = sepc, [i] = x<i>. Returns 1 when the program exited. */
uint32_t trap_handler(uint32_t *frame)
{
    uint32_t cause = csr_read_scause();
    if (cause == 8) { /* ecall from user mode */
        frame[0] += 4;
        if (frame[17] == 1) {
            bp_putc((char)frame[10]);
            return 0;
        }
        if (frame[17] == 2) {
            exit_code = frame[10];
            return 1;
        }
    }
    bp_printf("KERNEL ERROR: unexpected trap scause=%x sepc=%x stval=%x a7=%x\n", cause,
              frame[0], csr_read_stval(), frame[17]);
    power_off(5);
}

static uint32_t rd32(uint32_t a) { return *(volatile uint32_t *)a; }

static void print_name(uint32_t pnam, uint32_t words, uint32_t pid)
{
    for (uint32_t off = 0; pnam && off + 8 <= words * 4;) {
        uint32_t p = rd32(pnam + off), n = rd32(pnam + off + 4);
        if (p == pid) {
            for (uint32_t i = 0; i < n; i++)
                bp_putc(*(volatile char *)(pnam + off + 8 + i));
            return;
        }
        off += 8 + ((n + 3) & ~3u);
    }
    bp_putc('-');
}

void kmain(uint32_t args, uint32_t ip, uint32_t rpt, uint32_t xpt, uint32_t uart_va,
           uint32_t finisher_va)
{
    uart = (volatile uint8_t *)uart_va;
    finisher = (volatile uint32_t *)finisher_va;
    __asm__ volatile("csrr %0, satp" : "=r"(kernel_satp));
    bp_printf("BOOTPROOF TEST KERNEL: running at %x (args %x ip %x rpt %x xpt %x)\n",
              (uint32_t)(uintptr_t)&kmain, args, ip, rpt, xpt);
    for (uint32_t i = 0; i < 16; i++)
        if (kdata[i] != P(i)) {
            bp_printf("KERNEL ERROR: .data word %d is %x, expected %x\n", i, kdata[i], P(i));
            power_off(6);
        }
    for (uint32_t i = 0; i < 2048; i++)
        if (kbss[i]) {
            bp_printf("KERNEL ERROR: .bss word %d is %x, expected 0\n", i, kbss[i]);
            power_off(6);
        }
    kbss[2047] = 1; /* the bss is writable */
    bp_printf("KERNEL: data pattern ok, bss zeroed (%d bytes)\n", (uint32_t)sizeof(kbss));

    uint32_t total = rd32(args + 8) * 4, nprog = 0, pnam = 0, pnam_words = 0;
    for (uint32_t off = 0; off < total;) {
        uint32_t tag = rd32(args + off), words = rd32(args + off + 4) >> 16;
        bp_printf("KERNEL: arg tag %f words=%d\n", tag, words);
        if (tag == 0x45696e49u || tag == 0x46696e49u) /* IniE, IniF */
            nprog++;
        if (tag == 0x6d614e50u && !pnam) { /* PNam */
            pnam = args + off + 8;
            pnam_words = words;
        }
        off += 8 + 4 * words;
    }
    for (uint32_t pid = 2; pid < nprog + 2; pid++) {
        volatile uint32_t *e = (volatile uint32_t *)(ip + 16 * (pid - 1));
        bp_printf("KERNEL: starting PID %d (", pid);
        print_name(pnam, pnam_words, pid);
        bp_printf(") satp=%x entry=%x sp=%x\n", e[0], e[1], e[2]);
        uint32_t code = run_user(e[0], e[1], e[2], pid);
        if (code) {
            bp_printf("KERNEL ERROR: PID %d exited with code %d\n", pid, code);
            power_off(7);
        }
        bp_printf("KERNEL: PID %d exited cleanly\n", pid);
    }
    bp_printf("KERNEL: all %d init programs reported; powering off\n", nprog);
    power_off(0);
}

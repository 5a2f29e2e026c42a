/*
 * A bootproof init program. Prints one marker line:
 *   INIT <name> pid=<pid> checksum=<fnv1a over .text, .rodata, .data as loaded> data=ok bss=ok
 * and exits 0. Compile-time options: PROG_NAME (string), VARIANT (number), BIG (multi-page
 * sections from init_big.S).
 */
#include <stdint.h>

#include "common.h"

#ifndef VARIANT
#define VARIANT 0
#endif
#ifndef PROG_NAME
#define PROG_NAME "init"
#endif

extern char _stext[], _etext[], _srodata[], _erodata[], _sdata[], _edata[], _sbss[], _ebss[];

#define W(i) (((uint32_t)(i) * 0x9e3779b1u) ^ ((uint32_t)VARIANT * 0x01010101u))
static volatile uint32_t small_data[8] = {W(0) ^ 0x5a5a5a5au, W(1) ^ 0x5a5a5a5au,
                                          W(2) ^ 0x5a5a5a5au, W(3) ^ 0x5a5a5a5au,
                                          W(4) ^ 0x5a5a5a5au, W(5) ^ 0x5a5a5a5au,
                                          W(6) ^ 0x5a5a5a5au, W(7) ^ 0x5a5a5a5au};
#ifdef BIG
static volatile uint32_t small_bss[3 * 1024 + 17];
extern const volatile uint32_t big_table[5120];
extern volatile uint32_t big_data[2048];
#else
static volatile uint32_t small_bss[64];
#endif

static void sys_putc(char c)
{
    register uint32_t a0 __asm__("a0") = (uint8_t)c;
    register uint32_t a7 __asm__("a7") = 1;
    __asm__ volatile("ecall" : "+r"(a0) : "r"(a7) : "memory");
}

void bp_putc(char c) { sys_putc(c); }

static int fail(uint32_t pid, const char *what, uint32_t index, uint32_t got)
{
    bp_printf("INIT ERROR %s pid=%d: %s word %d is %x\n", PROG_NAME, pid, what, index, got);
    return 1;
}

int init_main(uint32_t pid)
{
    /* Checksum first: nothing has written to .data yet. */
    uint32_t sum = bp_fnv1a(BP_FNV_INIT, _stext, (size_t)(_etext - _stext));
    sum = bp_fnv1a(sum, _srodata, (size_t)(_erodata - _srodata));
    sum = bp_fnv1a(sum, _sdata, (size_t)(_edata - _sdata));
    for (uint32_t i = 0; i < 8; i++)
        if (small_data[i] != (W(i) ^ 0x5a5a5a5au))
            return fail(pid, ".data", i, small_data[i]);
#ifdef BIG
    for (uint32_t i = 0; i < 5120; i++)
        if (big_table[i] != W(i))
            return fail(pid, ".rodata", i, big_table[i]);
    for (uint32_t i = 0; i < 2048; i++)
        if (big_data[i] != ~W(i))
            return fail(pid, "big .data", i, big_data[i]);
#endif
    uint32_t nbss = (uint32_t)(sizeof(small_bss) / 4);
    for (uint32_t i = 0; i < nbss; i++)
        if (small_bss[i])
            return fail(pid, ".bss", i, small_bss[i]);
    /* The writable sections really are writable. */
    small_bss[nbss - 1] = pid;
    small_data[0] = pid;
    if (small_bss[nbss - 1] != pid || small_data[0] != pid)
        return fail(pid, "write-back", 0, small_bss[nbss - 1]);
    bp_printf("INIT %s pid=%d checksum=%x data=ok bss=ok\n", PROG_NAME, pid, sum);
    return 0;
}

/*
 * The sample project's application: a Xous init program (IniE) booted by bootproof's test
 * kernel. It does its "work" (a running average over a table in .rodata, kept in .data and
 * .bss), prints its result, then the report line bootproof's Xous flow waits for:
 *   INIT <name> pid=<pid> checksum=<FNV-1a of .text, .rodata, .data as loaded> data=ok bss=ok
 * Output: ecall a7 = 1 with the character in a0.
 */
#include <stddef.h>
#include <stdint.h>

#ifndef APP_NAME
#define APP_NAME "sample_app"
#endif

extern char _stext[], _etext[], _srodata[], _erodata[], _sdata[], _edata[];

static const uint32_t samples[8] = {12, 15, 11, 18, 20, 9, 14, 13};
static uint32_t window = 4;      /* .data: set by the loader from the image */
static uint32_t averages[8];     /* .bss: zeroed by the loader */

static void putc_(char c)
{
    register uint32_t a0 __asm__("a0") = (uint8_t)c;
    register uint32_t a7 __asm__("a7") = 1;
    __asm__ volatile("ecall" : "+r"(a0) : "r"(a7) : "memory");
}

static void puts_(const char *s)
{
    while (*s)
        putc_(*s++);
}

static void dec(uint32_t v)
{
    char buf[11];
    int n = 0;
    do {
        buf[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        putc_(buf[--n]);
}

static void hex8(uint32_t v)
{
    for (int shift = 28; shift >= 0; shift -= 4)
        putc_("0123456789abcdef"[(v >> shift) & 0xf]);
}

static uint32_t fnv1a(uint32_t h, const char *p, const char *end)
{
    for (; p < end; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    return h;
}

int app_main(uint32_t pid)
{
    /* the checksum first, before anything writes to .data */
    uint32_t sum = fnv1a(0x811c9dc5u, _stext, _etext);
    sum = fnv1a(sum, _srodata, _erodata);
    sum = fnv1a(sum, _sdata, _edata);
    for (size_t i = 0; i < 8; i++)
        if (averages[i] != 0) {
            puts_("INIT ERROR " APP_NAME ": .bss not zeroed\n");
            return 1;
        }
    uint32_t peak = 0;
    for (uint32_t i = 0; i + window <= 8; i++) {
        uint32_t total = 0;
        for (uint32_t j = 0; j < window; j++)
            total += samples[i + j];
        averages[i] = total / window;
        if (averages[i] > peak)
            peak = averages[i];
    }
    puts_("APP: peak moving average ");
    dec(peak);
    puts_("\n");
    puts_("INIT " APP_NAME " pid=");
    dec(pid);
    puts_(" checksum=");
    hex8(sum);
    puts_(" data=ok bss=ok\n");
    return 0;
}

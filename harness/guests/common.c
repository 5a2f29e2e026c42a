/* Small freestanding helpers shared by the bootproof guest programs. */
#include "common.h"

#include <stdarg.h>

void bp_puts(const char *s)
{
    while (*s)
        bp_putc(*s++);
}

void bp_nl(void)
{
    bp_putc('\r');
    bp_putc('\n');
}

static void hex_digits(uint32_t v, int n)
{
    for (int i = n - 1; i >= 0; i--)
        bp_putc("0123456789abcdef"[(v >> (4 * i)) & 0xf]);
}

void bp_hex(uint32_t v) { hex_digits(v, 8); }
void bp_hex4(uint32_t v) { hex_digits(v, 4); }

void bp_dec(uint32_t v)
{
    char buf[11];
    int i = 0;
    do {
        buf[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (i)
        bp_putc(buf[--i]);
}

void bp_fourcc(uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        char c = (char)((v >> (8 * i)) & 0xff);
        bp_putc(c >= 0x20 && c < 0x7f ? c : '.');
    }
}

void *memset(void *d, int c, size_t n)
{
    volatile uint8_t *p = d;   /* volatile: keep gcc from turning this into a memset call */
    while (n--)
        *p++ = (uint8_t)c;
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    volatile uint8_t *p = d;
    const uint8_t *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}

uint32_t bp_fnv1a(uint32_t h, const void *p, size_t n)
{
    const volatile uint8_t *b = p;
    while (n--) {
        h ^= *b++;
        h *= 16777619u;
    }
    return h;
}

void bp_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            if (*fmt == '\n')
                bp_putc('\r');
            bp_putc(*fmt);
            continue;
        }
        switch (*++fmt) {
        case 'x': bp_hex(va_arg(ap, uint32_t)); break;
        case 'h': bp_hex4(va_arg(ap, uint32_t)); break;
        case 'b': hex_digits(va_arg(ap, uint32_t), 2); break;
        case 'd': bp_dec(va_arg(ap, uint32_t)); break;
        case 's': bp_puts(va_arg(ap, const char *)); break;
        case 'c': bp_putc((char)va_arg(ap, int)); break;
        case 'f': bp_fourcc(va_arg(ap, uint32_t)); break;
        case '%': bp_putc('%'); break;
        default: bp_putc('?'); if (!*fmt) fmt--; break;
        }
    }
    va_end(ap);
}

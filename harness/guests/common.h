/* Small freestanding helpers shared by the bootproof guest programs. */
#ifndef BOOTPROOF_COMMON_H
#define BOOTPROOF_COMMON_H

#include <stdint.h>
#include <stddef.h>

/* Each program provides its own character output. */
void bp_putc(char c);

void bp_puts(const char *s);
void bp_hex(uint32_t v);        /* exactly 8 lower-case hex digits */
void bp_hex4(uint32_t v);       /* exactly 4 lower-case hex digits */
void bp_dec(uint32_t v);
void bp_fourcc(uint32_t v);     /* the 4 bytes of a fourcc, unprintable bytes as '.' */
void bp_nl(void);               /* "\r\n" as the Xous loader prints */

/* Minimal printf: %x = 8 hex digits, %h = 4 hex digits, %b = 2 hex digits, %d = unsigned
 * decimal, %s = string, %c = char, %f = fourcc (u32 whose LE bytes are the characters). */
void bp_printf(const char *fmt, ...);

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);

/* FNV-1a (32 bit) over a byte range, continuing from h. Start with BP_FNV_INIT. */
#define BP_FNV_INIT 0x811c9dc5u
uint32_t bp_fnv1a(uint32_t h, const void *p, size_t n);

#endif

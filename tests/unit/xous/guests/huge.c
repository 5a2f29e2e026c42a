/* An init program whose .bss is exactly 2^24 bytes: too large for a MiniELF size field. */
char huge_bss[1 << 24];

void _start(void)
{
    for (;;) {
        huge_bss[0]++;
    }
}

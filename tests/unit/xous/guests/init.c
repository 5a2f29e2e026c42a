/* A stand-in init program with .text, .rodata, .data and .bss (never run). */
static const char greeting[] = "hello from an init program";
int init_value = 42;
int init_buffer[300];

void _start(void)
{
    for (unsigned i = 0;; i++) {
        init_buffer[i % 300] = greeting[i % sizeof greeting] + init_value;
    }
}

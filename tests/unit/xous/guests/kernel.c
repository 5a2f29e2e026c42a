/* A stand-in Xous kernel: only its sections matter (it is never run). */
const unsigned int kernel_table[8] = {1, 2, 3, 4, 5, 6, 7, 8};
unsigned int kernel_counter = 0x12345678;
unsigned int kernel_scratch[64];

void _start(void)
{
    for (;;) {
        kernel_counter += kernel_table[kernel_counter & 7];
        kernel_scratch[kernel_counter & 63] = kernel_counter;
    }
}

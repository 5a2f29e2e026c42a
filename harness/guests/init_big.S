/* Multi-page sections for the "big" init program: 5 pages of read-only table and 2 pages of
 * initialised data, both following init_word(i) = (i * 0x9e3779b1) ^ (VARIANT * 0x01010101). */
#ifndef VARIANT
#define VARIANT 0
#endif
    .section .rodata.big_table, "a"
    .globl  big_table
    .balign 4
big_table:
    .set    i, 0
    .rept   5120
    .word   ((i * 0x9e3779b1) ^ (VARIANT * 0x01010101)) & 0xffffffff
    .set    i, i + 1
    .endr

    .section .data.big_data, "aw"
    .globl  big_data
    .balign 4
big_data:
    .set    i, 0
    .rept   2048
    .word   ((i * 0x9e3779b1) ^ (VARIANT * 0x01010101) ^ 0xffffffff) & 0xffffffff
    .set    i, i + 1
    .endr

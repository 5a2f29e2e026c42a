/*
 * The Xous loader model: what the Xous loader does with an args.bin, on qemu-system-riscv32
 * -M virt -bios none.
 *
 * It reads args.bin from the board's flash (pflash bank 0 at 0x20000000; inside a signed
 * Precursor xous.img there, at +0x1000, once the signature block's length field checks out)
 * or, when no XArg is there, from RAM at ARGS_RAM_BASE, validates it
 * (XArg first with 5 words, exactly one 28-byte XKrn, at least one IniE/IniF, non-decreasing
 * section addresses, the kernel's VA rules and, beyond the reference loader, every tag's
 * CRC-16/X-25), prints what it found, allocates from the top of RAM, copies the programs and
 * the kernel, builds Sv32 page tables and jumps to the kernel in supervisor mode.
 *
 * Board conventions of this model (documented in harness/guests/README.md):
 *  - the UART (ns16550a, 0x10000000) and the test finisher (sifive_test, 0x100000) must lie in
 *    MREx regions; they are mapped into the kernel at UART_VA / FINISHER_VA and passed in a4/a5;
 *  - a kernel whose text carries KERNEL_MAGIC at byte 4 is the bootproof test kernel and is
 *    started; any other kernel (a real Xous image) is validated and laid out, and the model
 *    prints where it would jump ("report only");
 *  - args whose RAM is not this board's RAM are laid out in a scratch window of the board's
 *    RAM (addresses are printed as the args describe them) and are always report only.
 * Swap (a Swap tag): the model validates the swap region and reports it, names the IniS
 * programs args.bin's PNam lists after the IniE/IniF ones and, when a plaintext (debug) swap
 * image lies in the flash at the tag's flash_offset, walks its swap args (XArg + IniS) and
 * reports every IniS program as the Xous loader would merge it. It does not page: an
 * encrypted swap image is reported, not decrypted, and no IniS program is started.
 * Every violation prints one "LOADER ERROR: ..." line and stops QEMU with a failure code.
 */
#include <stdint.h>

#include "common.h"

#define PAGE 4096u
#define FLASH_BASE 0x20000000u
#define FLASH_SIZE 0x02000000u
#define ARGS_RAM_BASE 0x87000000u /* args.bin placed in RAM instead: the last 16 MiB */
#define ARGS_RAM_SIZE 0x01000000u
#define BOARD_RAM_START 0x80000000u
#define BOARD_RAM_SIZE 0x08000000u
#define WINDOW_START 0x84000000u
#define WINDOW_SIZE 0x03000000u
#define UART_PA 0x10000000u
#define FINISHER_PA 0x00100000u
#define UART_VA 0xffe00000u
#define FINISHER_VA 0xffe01000u
#define KERNEL_MAGIC 0x4b545042u /* "BPTK" */
#define GUARD_PAGES 3u

#define USER_AREA_END 0xff000000u
#define KERNEL_LOAD_OFFSET 0xffd00000u
#define KERNEL_ARGUMENT_OFFSET 0xffc00000u
#define EXCEPTION_STACK_TOP 0xffff0000u
#define KERNEL_STACK_TOP 0xfff80000u
#define PAGE_TABLE_ROOT 0xff800000u
#define PAGE_TABLE_OFFSET 0xff400000u
#define CONTEXT_OFFSET 0xff801000u
#define USER_STACK_TOP 0x80000000u

#define PTE_V 0x01u
#define PTE_R 0x02u
#define PTE_W 0x04u
#define PTE_X 0x08u
#define PTE_U 0x10u
#define PTE_A 0x40u
#define PTE_D 0x80u

#define FLAG_WRITE 0x01u
#define FLAG_NOCOPY 0x02u
#define FLAG_EXECUTE 0x04u

#define FOURCC(a, b, c, d) \
    ((uint32_t)(a) | ((uint32_t)(b) << 8) | ((uint32_t)(c) << 16) | ((uint32_t)(d) << 24))
#define TAG_XARG FOURCC('X', 'A', 'r', 'g')
#define TAG_XKRN FOURCC('X', 'K', 'r', 'n')
#define TAG_INIE FOURCC('I', 'n', 'i', 'E')
#define TAG_INIF FOURCC('I', 'n', 'i', 'F')
#define TAG_MREX FOURCC('M', 'R', 'E', 'x')
#define TAG_BFLG FOURCC('B', 'f', 'l', 'g')
#define TAG_PNAM FOURCC('P', 'N', 'a', 'm')
#define TAG_SWAP FOURCC('S', 'w', 'a', 'p')
#define TAG_INIS FOURCC('I', 'n', 'i', 'S')

#define SIGNED_KERNEL_VERSION 2u      /* a Precursor xous.img: version word at offset 0 */
#define SIGNED_HEADER 0x1000u         /* the Precursor loader's SIGBLOCK_SIZE */
#define SIGNED_TRAILER 40u
#define SWAP_HEADER_VERSION 0x01010000u
#define SWAP_SIG_OFFSET 0xd00u
#define SWAP_TAG_WORDS 12u

#define MAX_TAGS 64
#define MAX_PROGS 32
#define MAX_SECTS 32
#define MAX_REGIONS 32
#define MAX_MAPS 8192

/* Exit codes given to the test finisher (QEMU exits with this status). */
#define FAIL_INVALID 2
#define FAIL_RESOURCES 3
#define FAIL_TRAP 4

struct section {
    uint32_t vaddr, size, flags;
};

struct program {
    uint32_t kind, tag_off, load, entry, nsect, pid, root, satp;
    struct section sect[MAX_SECTS];
};

struct region {
    uint32_t start, len, name;
};

struct mapping {
    uint32_t pid, va, pa, flags;
};

static struct program progs[MAX_PROGS];
static uint32_t nprogs;
static struct program sprogs[MAX_PROGS]; /* IniS programs read from a debug swap image */
static uint32_t nsprogs;
static struct region regions[MAX_REGIONS];
static uint32_t nregions;
static struct mapping maps[MAX_MAPS];
static uint32_t nmaps;

static uint32_t ram_start, ram_size, delta, lower_bound;
static uint32_t init_size, extra_pages;
static uint32_t rpt_pa, xpt_pa, ip_pa, args_pa;
static uint32_t krn_text_pa, krn_data_pa;
static uint32_t krn_load, krn_text_va, krn_text_size, krn_data_va, krn_data_size, krn_bss;
static uint32_t krn_entry, krn_tag_off;
static uint32_t bflags;

extern char __loader_end[];
extern void start_kernel(uint32_t args, uint32_t ip, uint32_t rpt, uint32_t xpt, uint32_t uart,
                         uint32_t finisher, uint32_t satp, uint32_t debug, uint32_t entry,
                         uint32_t sp, uint32_t mstatus) __attribute__((noreturn));

void bp_putc(char c)
{
    volatile uint8_t *uart = (volatile uint8_t *)UART_PA;
    while (!(uart[5] & 0x20))
        ;
    uart[0] = (uint8_t)c;
}

static void __attribute__((noreturn)) finish(uint32_t code)
{
    volatile uint32_t *finisher = (volatile uint32_t *)FINISHER_PA;
    *finisher = code ? ((code << 16) | 0x3333u) : 0x5555u;
    for (;;)
        __asm__ volatile("wfi");
}

#define FAIL(code, ...)                                                                        \
    do {                                                                                       \
        bp_puts("LOADER ERROR: ");                                                             \
        bp_printf(__VA_ARGS__);                                                                \
        bp_nl();                                                                               \
        finish(code);                                                                          \
    } while (0)

void loader_trap_report(uint32_t mcause, uint32_t mepc, uint32_t mtval)
{
    FAIL(FAIL_TRAP, "machine-mode trap mcause=%x mepc=%x mtval=%x", mcause, mepc, mtval);
}

/* ---- args.bin in flash -------------------------------------------------------------- */

static uint32_t arg_bytes;
static uint32_t args_base = FLASH_BASE, args_limit = FLASH_SIZE;

static uint32_t rd8(uint32_t addr) { return *(volatile uint8_t *)addr; }
static uint32_t rd16(uint32_t addr) { return rd8(addr) | (rd8(addr + 1) << 8); }
static uint32_t rd32(uint32_t addr) { return rd16(addr) | (rd16(addr + 2) << 16); }
static uint32_t rd32be(uint32_t addr)
{
    return (rd8(addr) << 24) | (rd8(addr + 1) << 16) | (rd8(addr + 2) << 8) | rd8(addr + 3);
}
static uint32_t fl8(uint32_t off) { return rd8(args_base + off); }
static uint32_t fl16(uint32_t off) { return rd16(args_base + off); }
static uint32_t fl32(uint32_t off) { return rd32(args_base + off); }

/* CRC-16/X-25 of len bytes at addr: reflected 0x1021, init 0xffff, final xor 0xffff. */
static uint32_t crc16_x25_at(uint32_t addr, uint32_t len)
{
    uint32_t crc = 0xffff;
    for (uint32_t i = 0; i < len; i++) {
        crc ^= rd8(addr + i);
        for (int b = 0; b < 8; b++)
            crc = (crc & 1) ? (crc >> 1) ^ 0x8408u : crc >> 1;
    }
    return crc ^ 0xffffu;
}

static uint32_t crc16_x25(uint32_t off, uint32_t len) { return crc16_x25_at(args_base + off, len); }

/* ---- memory the model writes (RAM, or the scratch window for foreign RAM) ----------- */

static volatile uint8_t *mem8(uint32_t pa) { return (volatile uint8_t *)(pa + delta); }
static volatile uint32_t *mem32(uint32_t pa) { return (volatile uint32_t *)(pa + delta); }

static void zero_range(uint32_t pa, uint32_t len)
{
    for (uint32_t i = 0; i < len; i += 4)
        *mem32(pa + i) = 0;
}

static void copy_from_flash(uint32_t pa, uint32_t off, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        *mem8(pa + i) = (uint8_t)fl8(off + i);
}

static uint32_t top(void) { return ram_start + ram_size - init_size - PAGE * extra_pages; }

static uint32_t round_page(uint32_t v) { return (v + PAGE - 1) & ~(PAGE - 1); }

static uint32_t alloc_pages(uint32_t n)
{
    uint64_t need = (uint64_t)init_size + (uint64_t)PAGE * (extra_pages + n);
    if (need > (uint64_t)ram_start + ram_size - lower_bound)
        FAIL(FAIL_RESOURCES, "out of memory: %d more pages do not fit in RAM %x - %x", n,
             ram_start, ram_start + ram_size);
    extra_pages += n;
    uint32_t pa = top();
    zero_range(pa, n * PAGE);
    return pa;
}

static uint32_t alloc_struct(uint32_t bytes)
{
    bytes = (bytes + 3) & ~3u;
    if ((uint64_t)init_size + bytes > (uint64_t)ram_start + ram_size - lower_bound)
        FAIL(FAIL_RESOURCES, "out of memory reserving %d bytes of loader structures", bytes);
    init_size += bytes;
    zero_range(top(), bytes);
    return top();
}

/* Record the owner of a physical page in the RPT (RAM) or the XPT (MREx regions). */
static void own(uint32_t pa, uint32_t pid)
{
    if (pa >= ram_start && pa - ram_start < ram_size) {
        *mem8(rpt_pa + (pa - ram_start) / PAGE) = (uint8_t)pid;
        return;
    }
    uint32_t index = 0;
    for (uint32_t r = 0; r < nregions; r++) {
        if (pa >= regions[r].start && pa - regions[r].start < regions[r].len) {
            *mem8(xpt_pa + index + (pa - regions[r].start) / PAGE) = (uint8_t)pid;
            return;
        }
        index += regions[r].len / PAGE;
    }
    FAIL(FAIL_INVALID, "page %x (PID %d) isn't in defined memory", pa, pid);
}

static void add_map(uint32_t pid, uint32_t va, uint32_t pa, uint32_t flags)
{
    if (nmaps == MAX_MAPS)
        FAIL(FAIL_RESOURCES, "more than %d pages to map", MAX_MAPS);
    maps[nmaps].pid = pid;
    maps[nmaps].va = va;
    maps[nmaps].pa = pa;
    maps[nmaps].flags = flags;
    nmaps++;
}

static void map_page(uint32_t root, uint32_t pid, uint32_t va, uint32_t pa, uint32_t flags)
{
    if (pa == 0)
        FAIL(FAIL_INVALID, "PID %d: mapping physical page 0 at %x", pid, va);
    uint32_t vpn1 = va >> 22, vpn0 = (va >> 12) & 0x3ff;
    uint32_t pte1 = *mem32(root + vpn1 * 4);
    uint32_t l0;
    if (!(pte1 & PTE_V)) {
        l0 = alloc_pages(1);
        own(l0, pid);
        *mem32(root + vpn1 * 4) = ((l0 >> 12) << 10) | PTE_V;
        map_page(root, pid, PAGE_TABLE_OFFSET + vpn1 * PAGE, l0, PTE_R | PTE_W);
    } else {
        l0 = (pte1 >> 10) << 12;
    }
    uint32_t old = *mem32(l0 + vpn0 * 4);
    if (old & PTE_V) {
        if (((old >> 10) << 12) != (pa & ~(PAGE - 1)))
            FAIL(FAIL_INVALID, "PID %d: page %x already mapped to %x, not %x", pid, va,
                 (old >> 10) << 12, pa);
        return;
    }
    *mem32(l0 + vpn0 * 4) = ((pa >> 12) << 10) | flags | PTE_V | PTE_A | PTE_D;
}

/* ---- phase 0: parse and validate ----------------------------------------------------- */

static const char *kind_name(uint32_t kind)
{
    return kind == TAG_INIE ? "IniE" : kind == TAG_INIF ? "IniF" : "IniS";
}

static uint32_t pnam_off, pnam_words;

/* The PNam record of pid: 1 and the offset/length of its name, or 0 when PNam has none. */
static int pnam_find(uint32_t pid, uint32_t *name_off, uint32_t *name_len)
{
    uint32_t off = 0, len = pnam_words * 4;
    while (pnam_off && off + 8 <= len) {
        uint32_t p = fl32(pnam_off + off), n = fl32(pnam_off + off + 4);
        if (n > len - off - 8)
            FAIL(FAIL_INVALID, "PNam record for PID %d runs past the tag (%d bytes)", p, n);
        if (p == pid) {
            *name_off = pnam_off + off + 8;
            *name_len = n;
            return 1;
        }
        off += 8 + ((n + 3) & ~3u);
    }
    return 0;
}

static void print_name(uint32_t pid)
{
    uint32_t off, n;
    if (!pnam_find(pid, &off, &n)) {
        bp_putc('-');
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        char c = (char)fl8(off + i);
        bp_putc(c > 0x20 && c < 0x7f ? c : '_');
    }
}

/* Fill p from a program tag's body at addr (IniE/IniF/IniS: load, entry, section records). */
static void read_program(struct program *p, uint32_t kind, uint32_t tag_off, uint32_t addr,
                         uint32_t words, uint32_t pid)
{
    p->kind = kind;
    p->tag_off = tag_off;
    p->pid = pid;
    p->load = rd32(addr);
    p->entry = rd32(addr + 4);
    p->nsect = (words - 2) / 2;
    if (p->nsect > MAX_SECTS)
        FAIL(FAIL_RESOURCES, "PID %d: more than %d sections", p->pid, MAX_SECTS);
    for (uint32_t k = 0; k < p->nsect; k++) {
        uint32_t sf = rd32(addr + 12 + 8 * k);
        p->sect[k].vaddr = rd32(addr + 8 + 8 * k);
        p->sect[k].size = sf & 0x00ffffffu;
        p->sect[k].flags = sf >> 24;
    }
}

/* Print a program's Program and Section lines; returns its payload size. */
static uint32_t report_program(struct program *p)
{
    uint32_t payload = 0;
    for (uint32_t k = 0; k < p->nsect; k++)
        if (!(p->sect[k].flags & FLAG_NOCOPY))
            payload += p->sect[k].size;
    bp_printf("Program pid=%d kind=%s load=%x entry=%x payload=%x sections=%d name=", p->pid,
              kind_name(p->kind), p->load, p->entry, payload, p->nsect);
    print_name(p->pid);
    bp_nl();
    uint32_t src = p->load;
    for (uint32_t k = 0; k < p->nsect; k++) {
        struct section *s = &p->sect[k];
        bp_printf("Section pid=%d index=%d vaddr=%x size=%x flags=%b file_offset=", p->pid, k,
                  s->vaddr, s->size, s->flags);
        if (s->flags & FLAG_NOCOPY) {
            bp_puts("none");
        } else {
            bp_hex(src);
            src += s->size;
        }
        bp_nl();
    }
    for (uint32_t k = 0; k < p->nsect; k++) {
        struct section *s = &p->sect[k];
        if (k && s->vaddr < p->sect[k - 1].vaddr)
            FAIL(FAIL_INVALID,
                 "init section addresses are not strictly increasing: PID %d section %d "
                 "at %x is below section %d at %x",
                 p->pid, k, s->vaddr, k - 1, p->sect[k - 1].vaddr);
        if ((uint64_t)s->vaddr + s->size > USER_AREA_END)
            FAIL(FAIL_INVALID, "PID %d section %d %x+%x ends above the user area %x", p->pid,
                 k, s->vaddr, s->size, USER_AREA_END);
    }
    return payload;
}

static uint32_t swap_off;

/* A signed Precursor xous.img in flash: check the signature block's length field and the
 * 40-byte trailer as the Precursor loader does (not the Ed25519 signature itself), then
 * read args.bin at +0x1000. Other signed images do not boot on a Precursor. */
static void find_signed_args(void)
{
    uint32_t w0 = fl32(0);
    int jump = (w0 & 0xfffu) == 0x06fu && (fl32(4) == 1 || fl32(4) == 2);
    if (w0 != 1 && w0 != 2 && !jump)
        return;
    if (w0 != SIGNED_KERNEL_VERSION)
        FAIL(FAIL_INVALID, "flash holds a signed image whose word 0 is %x: the Precursor loader "
             "reads version 2 (xous.img, no jump) at offset 0", w0);
    uint32_t signed_len = fl32(4);
    if (signed_len < SIGNED_TRAILER + 28 || signed_len > FLASH_SIZE - SIGNED_HEADER)
        FAIL(FAIL_INVALID, "signed image: signed_len %x is out of range (%x - %x)", signed_len,
             SIGNED_TRAILER + 28, FLASH_SIZE - SIGNED_HEADER);
    uint32_t end = SIGNED_HEADER + signed_len;
    uint32_t version = fl32(end - 8), length = fl32(end - 4);
    if (version != SIGNED_KERNEL_VERSION)
        FAIL(FAIL_INVALID, "signed image: trailer version %d at %x is not 2", version, end - 8);
    if (length != signed_len - 4)
        FAIL(FAIL_INVALID, "signed image: trailer length %x is not signed_len - 4 (%x)", length,
             signed_len - 4);
    bp_printf("Signed image: version=%d signed_len=%x trailer=ok args=%x (the model checks the "
              "length field and the trailer, not the Ed25519 signature)\n", w0, signed_len,
              FLASH_BASE + SIGNED_HEADER);
    args_base = FLASH_BASE + SIGNED_HEADER;
    args_limit = signed_len - SIGNED_TRAILER;
    if (fl32(0) != TAG_XARG)
        FAIL(FAIL_INVALID, "signed image: no XArg at %x (found %f)", args_base, fl32(0));
}

static void parse_args(void)
{
    find_signed_args();
    if (fl32(0) != TAG_XARG) {
        /* Not in flash: the harness may have placed it at the top of RAM instead. */
        args_base = ARGS_RAM_BASE;
        args_limit = ARGS_RAM_SIZE;
        if (fl32(0) != TAG_XARG) {
            args_base = FLASH_BASE;
            FAIL(FAIL_INVALID, "tag 0 at offset %x is %f (%x), not XArg (args looked for at "
                 "flash %x and RAM %x)", 0, fl32(0), fl32(0), FLASH_BASE, ARGS_RAM_BASE);
        }
    }
    bp_printf("arg_buffer: %x\n", args_base);
    if (fl16(6) != 5)
        FAIL(FAIL_INVALID, "XArg size is %d words, not 5", fl16(6));
    arg_bytes = fl32(8) * 4;
    if (arg_bytes < 28 || arg_bytes > args_limit)
        FAIL(FAIL_INVALID, "XArg arg_size_words=%d is out of range", arg_bytes / 4);
    ram_start = fl32(16);
    ram_size = fl32(20);
    bp_printf("XArg: arg_size_words=%d version=%d ram=%x (%f) %x - %x\n", arg_bytes / 4,
              fl32(12), fl32(24), fl32(24), ram_start, ram_start + ram_size);

    uint32_t nkrn = 0, index = 0, mrex_off = 0, mrex_words = 0;
    for (uint32_t off = 0; off < arg_bytes; index++) {
        if (off + 8 > arg_bytes)
            FAIL(FAIL_INVALID, "tag %d header at offset %x runs past the tag block end %x",
                 index, off, arg_bytes);
        uint32_t tag = fl32(off), crc = fl16(off + 4), words = fl16(off + 6);
        if (off + 8 + words * 4 > arg_bytes)
            FAIL(FAIL_INVALID, "tag %d (%f) at offset %x: %d words run past the tag block end %x",
                 index, tag, off, words, arg_bytes);
        uint32_t calc = crc16_x25(off + 8, words * 4);
        if (calc != crc)
            FAIL(FAIL_INVALID, "tag %d (%f) at offset %x: CRC %h does not match computed %h",
                 index, tag, off, crc, calc);
        if (index >= MAX_TAGS)
            FAIL(FAIL_RESOURCES, "more than %d tags", MAX_TAGS);
        bp_printf("Tag %d %f @%x words=%d crc=%h ok\n", index, tag, off, words, crc);
        uint32_t body = off + 8;
        if (tag == TAG_XARG && off != 0)
            FAIL(FAIL_INVALID, "tag %d at offset %x: a second XArg", index, off);
        if (tag == TAG_XKRN) {
            if (++nkrn > 1)
                FAIL(FAIL_INVALID, "kernel appears twice (tag %d at offset %x)", index, off);
            if (words != 7)
                FAIL(FAIL_INVALID, "invalid XKrn size: %d words, not 7 (tag %d)", words, index);
            krn_tag_off = off;
            krn_load = fl32(body);
            krn_text_va = fl32(body + 4);
            krn_text_size = fl32(body + 8);
            krn_data_va = fl32(body + 12);
            krn_data_size = fl32(body + 16);
            krn_bss = fl32(body + 20);
            krn_entry = fl32(body + 24);
        } else if (tag == TAG_INIE || tag == TAG_INIF) {
            if (words < 2 || (words - 2) % 2)
                FAIL(FAIL_INVALID, "%f tag %d: invalid size %d words", tag, index, words);
            if (nprogs == MAX_PROGS)
                FAIL(FAIL_RESOURCES, "more than %d initial programs", MAX_PROGS);
            read_program(&progs[nprogs], tag, off, args_base + body, words, nprogs + 2);
            nprogs++;
        } else if (tag == TAG_INIS) {
            FAIL(FAIL_INVALID, "IniS tag %d in args.bin: create-image puts IniS only into the "
                 "swap args", index);
        } else if (tag == TAG_SWAP) {
            if (words < SWAP_TAG_WORDS)
                FAIL(FAIL_INVALID, "Swap tag %d has %d words; the loader reads %d", index, words,
                     SWAP_TAG_WORDS);
            swap_off = body; /* the last Swap wins, as in the reference loader */
        } else if (tag == TAG_MREX) {
            mrex_off = body; /* the last MREx wins, as in the reference loader */
            mrex_words = words;
        } else if (tag == TAG_BFLG) {
            if (words < 1)
                FAIL(FAIL_INVALID, "Bflg tag %d is empty", index);
            bflags = fl32(body);
        } else if (tag == TAG_PNAM) {
            if (!pnam_off) {
                pnam_off = body;
                pnam_words = words;
            }
        }
        off += 8 + words * 4;
    }
    if (!nkrn)
        FAIL(FAIL_INVALID, "no kernel definition (no XKrn tag)");
    if (!nprogs)
        FAIL(FAIL_INVALID, "no initial programs found (no IniE/IniF tag)");
    if (mrex_words % 4)
        FAIL(FAIL_INVALID, "MREx size %d words is not a multiple of 4", mrex_words);
    for (uint32_t r = 0; r < mrex_words / 4; r++) {
        if (r == MAX_REGIONS)
            FAIL(FAIL_RESOURCES, "more than %d MREx regions", MAX_REGIONS);
        regions[r].start = fl32(mrex_off + 16 * r);
        regions[r].len = fl32(mrex_off + 16 * r + 4);
        regions[r].name = fl32(mrex_off + 16 * r + 8);
        if (regions[r].start % PAGE || regions[r].len % PAGE)
            FAIL(FAIL_INVALID, "MREx region %d (%f) %x+%x is not page aligned", r,
                 regions[r].name, regions[r].start, regions[r].len);
        nregions++;
        bp_printf("Discovered memory region %x (%x - %x) -- %d bytes\n", regions[r].name,
                  regions[r].start, regions[r].start + regions[r].len, regions[r].len);
    }
    bp_printf("Boot flags: %x\n", bflags);
}

static void validate_and_report(void)
{
    bp_puts("Name pid=1 ");
    print_name(1);
    bp_nl();
    for (uint32_t i = 0; i < nprogs; i++) {
        struct program *p = &progs[i];
        uint32_t payload = report_program(p);
        if ((uint64_t)p->load + payload > args_limit)
            FAIL(FAIL_INVALID, "PID %d payload %x+%x lies outside the args image", p->pid,
                 p->load, payload);
        if (p->kind == TAG_INIF && p->nsect &&
            (args_base + p->load) % PAGE != p->sect[0].vaddr % PAGE)
            FAIL(FAIL_INVALID, "IniF PID %d: flash address %x and first section %x differ in "
                 "page offset", p->pid, args_base + p->load, p->sect[0].vaddr);
    }
    bp_printf("Kernel load=%x text=%x+%x data=%x+%x bss=%x entry=%x\n", krn_load, krn_text_va,
              krn_text_size, krn_data_va, krn_data_size, krn_bss, krn_entry);
    if (krn_text_va != KERNEL_LOAD_OFFSET)
        FAIL(FAIL_INVALID, "XKrn text_offset %x is not %x", krn_text_va, KERNEL_LOAD_OFFSET);
    if ((uint64_t)krn_text_va + krn_text_size >= EXCEPTION_STACK_TOP)
        FAIL(FAIL_INVALID, "XKrn text %x+%x reaches %x", krn_text_va, krn_text_size,
             EXCEPTION_STACK_TOP);
    if ((uint64_t)krn_data_va + krn_data_size + krn_bss >= EXCEPTION_STACK_TOP - 16)
        FAIL(FAIL_INVALID, "XKrn data %x+%x+%x reaches %x", krn_data_va, krn_data_size, krn_bss,
             EXCEPTION_STACK_TOP - 16);
    if (krn_data_va < KERNEL_LOAD_OFFSET)
        FAIL(FAIL_INVALID, "XKrn data_offset %x is below %x", krn_data_va, KERNEL_LOAD_OFFSET);
    if (krn_text_va % PAGE || krn_data_va % PAGE)
        FAIL(FAIL_INVALID, "XKrn text %x or data %x is not page aligned", krn_text_va,
             krn_data_va);
    if ((uint64_t)krn_text_va + krn_text_size > krn_data_va)
        FAIL(FAIL_INVALID, "XKrn text %x+%x overlaps data at %x", krn_text_va, krn_text_size,
             krn_data_va);
    if ((uint64_t)krn_load + krn_text_size + krn_data_size > args_limit)
        FAIL(FAIL_INVALID, "kernel payload %x+%x lies outside the args image", krn_load,
             krn_text_size + krn_data_size);
}

/* ---- phase 1: allocate from the top of RAM, copy ------------------------------------ */

static void copy_program(struct program *p)
{
    uint32_t src = p->load, cur_va = 1, cur_pa = 0; /* cur_va 1: no page yet */
    for (uint32_t k = 0; k < p->nsect; k++) {
        struct section *s = &p->sect[k];
        uint32_t nocopy = s->flags & FLAG_NOCOPY;
        uint32_t pte = PTE_U | PTE_R | ((s->flags & FLAG_WRITE) ? PTE_W : 0) |
                       ((s->flags & FLAG_EXECUTE) ? PTE_X : 0);
        if (p->kind == TAG_INIF && !(s->flags & FLAG_WRITE)) {
            /* Executed in place: map the flash pages holding this section. */
            uint32_t fa = args_base + src;
            if (fa % PAGE != s->vaddr % PAGE)
                FAIL(FAIL_INVALID, "IniF PID %d section %d: flash %x and VA %x differ in page "
                     "offset", p->pid, k, fa, s->vaddr);
            for (uint32_t o = 0; o < s->size + (s->vaddr % PAGE); o += PAGE)
                add_map(p->pid, (s->vaddr & ~(PAGE - 1)) + o, (fa & ~(PAGE - 1)) + o, pte);
            src += s->size;
            continue;
        }
        uint32_t va = s->vaddr, left = s->size;
        while (left) {
            if ((va & ~(PAGE - 1)) != cur_va) {
                cur_va = va & ~(PAGE - 1);
                cur_pa = alloc_pages(1);
                add_map(p->pid, cur_va, cur_pa, pte);
            } else if (pte & ~maps[nmaps - 1].flags) {
                maps[nmaps - 1].flags |= pte; /* two sections share this page */
            }
            uint32_t n = PAGE - va % PAGE;
            if (n > left)
                n = left;
            if (!nocopy) {
                copy_from_flash(cur_pa + va % PAGE, src, n);
                src += n;
            }
            va += n;
            left -= n;
        }
    }
}

/* ---- swap (a Swap tag): validate and report; the model does not page ---------------- */

static uint32_t swap_ram, swap_size;

/* The swap args of a plaintext swap image at base (its data area, limit bytes): XArg then
 * IniS tags within page 0, as the Xous loader walks them before merging the IniS tags. */
static void read_swap_args(uint32_t base, uint32_t limit)
{
    if (rd16(base + 6) != 5)
        FAIL(FAIL_INVALID, "swap args: XArg size is %d words, not 5", rd16(base + 6));
    uint32_t bytes = rd32(base + 8) * 4;
    if (bytes < 28 || bytes > PAGE)
        FAIL(FAIL_INVALID, "swap args: tag block of %d bytes; the loader reads page 0 only",
             bytes);
    uint32_t ram = rd32(base + 16), size = rd32(base + 20);
    bp_printf("Swap XArg: arg_size_words=%d version=%d ram=%x (%f) %x - %x\n", bytes / 4,
              rd32(base + 12), rd32(base + 24), rd32(base + 24), ram, ram + size);
    if (ram != swap_ram || size != swap_size)
        FAIL(FAIL_INVALID, "swap args: XArg %x+%x differs from the Swap tag's %x+%x", ram, size,
             swap_ram, swap_size);
    uint32_t index = 0;
    for (uint32_t off = 0; off < bytes; index++) {
        if (off + 8 > bytes)
            FAIL(FAIL_INVALID, "swap args: tag %d header at %x runs past the tag block end %x",
                 index, off, bytes);
        uint32_t tag = rd32(base + off), crc = rd16(base + off + 4), words = rd16(base + off + 6);
        if (off + 8 + words * 4 > bytes)
            FAIL(FAIL_INVALID, "swap args: tag %d (%f) at %x: %d words run past the tag block "
                 "end %x", index, tag, off, words, bytes);
        uint32_t calc = crc16_x25_at(base + off + 8, words * 4);
        if (calc != crc)
            FAIL(FAIL_INVALID, "swap args: tag %d (%f) at %x: CRC %h does not match computed %h",
                 index, tag, off, crc, calc);
        bp_printf("Swap tag %d %f @%x words=%d crc=%h ok\n", index, tag, off, words, crc);
        if (tag == TAG_INIS) {
            if (words < 2 || (words - 2) % 2)
                FAIL(FAIL_INVALID, "swap args: IniS tag %d: invalid size %d words", index, words);
            if (nsprogs == MAX_PROGS)
                FAIL(FAIL_RESOURCES, "more than %d IniS programs", MAX_PROGS);
            read_program(&sprogs[nsprogs], TAG_INIS, off, base + off + 8, words,
                         nprogs + 2 + nsprogs);
            nsprogs++;
        } else if (off) {
            bp_printf("Unhandled argument in swap: %x\n", tag);
        }
        off += 8 + words * 4;
    }
    /* The block's length: its payloads end at mac_offset (page-rounded), else the tags. */
    bp_printf("Swap args: size=%x inis=%d\n", nsprogs ? limit : bytes, nsprogs);
    for (uint32_t i = 0; i < nsprogs; i++) {
        struct program *p = &sprogs[i];
        uint32_t payload = report_program(p);
        if ((uint64_t)p->load + payload > limit)
            FAIL(FAIL_INVALID, "IniS PID %d payload %x+%x lies outside the swap data (%x bytes)",
                 p->pid, p->load, payload, limit);
    }
}

static void report_swap(void)
{
    if (!swap_off)
        return;
    swap_ram = fl32(swap_off);
    swap_size = fl32(swap_off + 4);
    uint32_t name = fl32(swap_off + 8), flash = fl32(swap_off + 44), key_zero = 1;
    for (uint32_t i = 0; i < 32; i++)
        if (fl8(swap_off + 12 + i))
            key_zero = 0;
    uint32_t pages = swap_size / PAGE, macs = round_page(pages * 16);
    if ((swap_size & ~(PAGE - 1)) <= macs)
        FAIL(FAIL_INVALID, "Swap %x+%x leaves no page once its MAC area (%x bytes) is taken",
             swap_ram, swap_size, macs);
    bp_printf("Swap: ram=%x size=%x name=%x (%f) flash_offset=%x key=%s pages=%d usable=%x\n",
              swap_ram, swap_size, name, name, flash, key_zero ? "zero" : "set", pages,
              (swap_size & ~(PAGE - 1)) - macs);
    if (swap_ram < ram_start + ram_size && ram_start < swap_ram + swap_size)
        FAIL(FAIL_INVALID, "Swap %x - %x overlaps main RAM %x - %x: the loader would hand out "
             "those pages twice", swap_ram, swap_ram + swap_size, ram_start,
             ram_start + ram_size);
    /* The IniS programs the loader was told about: PNam names them after IniE/IniF. */
    uint32_t named = 0, noff, nlen;
    while (pnam_find(nprogs + 2 + named, &noff, &nlen)) {
        bp_printf("Swap program pid=%d name=", nprogs + 2 + named);
        print_name(nprogs + 2 + named);
        bp_nl();
        named++;
    }
    if (flash < FLASH_BASE || flash - FLASH_BASE > FLASH_SIZE - 2 * PAGE) {
        bp_printf("Swap image: flash_offset %x is outside this board's flash: not read\n",
                  flash);
        return;
    }
    if (rd32(flash) != SWAP_HEADER_VERSION) {
        bp_printf("Swap image: none at %x\n", flash);
        return;
    }
    uint32_t mac_offset = rd32(flash + 12), aad_len = rd32(flash + 16);
    if (!mac_offset || mac_offset % PAGE || mac_offset > FLASH_BASE + FLASH_SIZE - flash - PAGE)
        FAIL(FAIL_INVALID, "swap image at %x: mac_offset %x is not a page multiple inside the "
             "flash", flash, mac_offset);
    int plain = rd32(flash + PAGE) == TAG_XARG;
    for (uint32_t o = SWAP_SIG_OFFSET; plain && o < PAGE; o += 4)
        if (rd32(flash + o))
            plain = 0;
    bp_printf("Swap image @ %x: version=%x nonce=%x%x mac_offset=%x aad_len=%d %s\n", flash,
              SWAP_HEADER_VERSION, rd32be(flash + 4), rd32be(flash + 8), mac_offset, aad_len,
              plain ? "plaintext" : "encrypted");
    if (!plain) {
        bp_puts("Swap args: encrypted; the model does not decrypt or page");
        bp_nl();
        return;
    }
    read_swap_args(flash + PAGE, mac_offset);
    if (named != nsprogs)
        FAIL(FAIL_INVALID, "PNam names %d swap programs after the IniE/IniF ones, the swap args "
             "hold %d IniS tags", named, nsprogs);
}

static void phase1(void)
{
    bp_puts("Allocating regions");
    bp_nl();
    init_size = GUARD_PAGES * PAGE;
    uint32_t xpt_entries = 0;
    for (uint32_t r = 0; r < nregions; r++)
        xpt_entries += regions[r].len / PAGE;
    rpt_pa = alloc_struct(ram_size / PAGE);
    xpt_pa = alloc_struct(xpt_entries);
    bp_printf("Runtime Page Tracker: %d bytes\n", (ram_size / PAGE + 3) & ~3u);
    bp_printf("Allocating processes\nAllocating tables for %d processes\n", nprogs + 1);
    ip_pa = alloc_struct((nprogs + 1) * 16);
    bp_puts("Copying args");
    bp_nl();
    args_pa = alloc_struct(arg_bytes);
    copy_from_flash(args_pa, 0, arg_bytes);
    init_size = round_page(init_size);
    bp_puts("Copying processes");
    bp_nl();
    for (uint32_t i = 0; i < nprogs; i++)
        copy_program(&progs[i]);
    uint32_t text_pages = round_page(krn_text_size) / PAGE;
    krn_text_pa = alloc_pages(text_pages);
    copy_from_flash(krn_text_pa, krn_load, krn_text_size);
    uint32_t data_pages = round_page(krn_data_size + krn_bss) / PAGE;
    krn_data_pa = alloc_pages(data_pages);
    copy_from_flash(krn_data_pa, krn_load + krn_text_size, krn_data_size);
    bp_printf("Kernel copied: text %x (%d pages) data %x (%d pages)\n", krn_text_pa, text_pages,
              krn_data_pa, data_pages);
}

/* ---- phase 2: page tables ------------------------------------------------------------ */

static uint32_t in_regions(uint32_t pa)
{
    for (uint32_t r = 0; r < nregions; r++)
        if (pa >= regions[r].start && pa - regions[r].start < regions[r].len)
            return 1;
    return 0;
}

static uint32_t new_space(uint32_t pid, uint32_t *root)
{
    *root = alloc_pages(1);
    own(*root, pid);
    map_page(*root, pid, PAGE_TABLE_ROOT, *root, PTE_R | PTE_W);
    uint32_t ctx = alloc_pages(1);
    own(ctx, pid);
    map_page(*root, pid, CONTEXT_OFFSET, ctx, PTE_R | PTE_W);
    return 0x80000000u | (pid << 22) | (*root >> 12);
}

static uint32_t krn_root, krn_satp, krn_struct_start;

static void phase2(int map_devices)
{
    bp_printf("Phase2: Processess start out @ %x\n", top());
    for (uint32_t i = 0; i < nprogs; i++) {
        struct program *p = &progs[i];
        bp_printf("Mapping PID %d starting at offset %x\n", p->pid, top());
        p->satp = new_space(p->pid, &p->root);
        uint32_t stack = alloc_pages(1);
        own(stack, p->pid);
        map_page(p->root, p->pid, USER_STACK_TOP - PAGE, stack, PTE_U | PTE_R | PTE_W);
        for (uint32_t m = 0; m < nmaps; m++) {
            if (maps[m].pid != p->pid)
                continue;
            own(maps[m].pa, p->pid);
            map_page(p->root, p->pid, maps[m].va, maps[m].pa, maps[m].flags);
        }
        bp_printf("    Pagetable @ %x satp %x\n", p->root, p->satp);
    }
    bp_printf("Mapping PID 1 starting at offset %x\n", top());
    krn_satp = new_space(1, &krn_root);
    uint32_t kstack = alloc_pages(1), estack = alloc_pages(1);
    own(kstack, 1);
    own(estack, 1);
    map_page(krn_root, 1, KERNEL_STACK_TOP - PAGE, kstack, PTE_R | PTE_W);
    map_page(krn_root, 1, EXCEPTION_STACK_TOP - PAGE, estack, PTE_R | PTE_W);
    uint32_t data_bytes = round_page(krn_data_size + krn_bss);
    for (uint32_t o = 0; o < round_page(krn_text_size); o += PAGE) {
        own(krn_text_pa + o, 1);
        map_page(krn_root, 1, krn_text_va + o, krn_text_pa + o, PTE_R | PTE_W | PTE_X);
    }
    for (uint32_t o = 0; o < data_bytes; o += PAGE) {
        own(krn_data_pa + o, 1);
        map_page(krn_root, 1, krn_data_va + o, krn_data_pa + o, PTE_R | PTE_W);
    }
    if (map_devices) {
        if (!in_regions(UART_PA))
            FAIL(FAIL_INVALID, "the UART %x is not in any MREx region", UART_PA);
        if (!in_regions(FINISHER_PA))
            FAIL(FAIL_INVALID, "the test finisher %x is not in any MREx region", FINISHER_PA);
        own(UART_PA, 1);
        own(FINISHER_PA, 1);
        map_page(krn_root, 1, UART_VA, UART_PA, PTE_R | PTE_W);
        map_page(krn_root, 1, FINISHER_VA, FINISHER_PA, PTE_R | PTE_W);
    }
    krn_struct_start = ram_start + ram_size - init_size;
    uint32_t struct_len = init_size - GUARD_PAGES * PAGE;
    if (struct_len > KERNEL_LOAD_OFFSET - KERNEL_ARGUMENT_OFFSET)
        FAIL(FAIL_RESOURCES, "kernel structures (%x bytes) do not fit below %x", struct_len,
             KERNEL_LOAD_OFFSET);
    for (uint32_t o = 0; o < struct_len; o += PAGE) {
        own(krn_struct_start + o, 1);
        map_page(krn_root, 1, KERNEL_ARGUMENT_OFFSET + o, krn_struct_start + o, PTE_R | PTE_W);
    }
    bp_puts("Done loading.");
    bp_nl();
    bp_puts("Mapping MMU page 1023 to all processes");
    bp_nl();
    uint32_t shared = *mem32(krn_root + 1023 * 4);
    for (uint32_t i = 0; i < nprogs; i++)
        *mem32(progs[i].root + 1023 * 4) = shared;
}

static uint32_t kva(uint32_t pa) { return KERNEL_ARGUMENT_OFFSET + (pa - krn_struct_start); }

void loader_main(void)
{
    bp_nl();
    bp_puts("Xous loader model (bootproof) v1");
    bp_nl();
    parse_args();
    validate_and_report();
    report_swap();

    int report_only = 0;
    if (ram_start % PAGE || ram_size % PAGE || ram_size == 0)
        FAIL(FAIL_INVALID, "XArg RAM %x+%x is not page aligned", ram_start, ram_size);
    if (ram_start >= BOARD_RAM_START &&
        (uint64_t)ram_start + ram_size <= (uint64_t)BOARD_RAM_START + BOARD_RAM_SIZE) {
        delta = 0;
        lower_bound = (uint32_t)(uintptr_t)__loader_end;
        if (lower_bound < ram_start)
            lower_bound = ram_start;
    } else {
        if (ram_size > WINDOW_SIZE)
            FAIL(FAIL_RESOURCES, "RAM %x+%x is not this board's RAM and too large to model",
                 ram_start, ram_size);
        delta = WINDOW_START - ram_start;
        lower_bound = ram_start;
        report_only = 1;
        bp_printf("LOADER: RAM %x - %x is not this board's RAM: modelled at %x, report only\n",
                  ram_start, ram_start + ram_size, WINDOW_START);
    }
    if (args_base != FLASH_BASE && args_base < ram_start + ram_size &&
        ram_start < args_base + args_limit)
        FAIL(FAIL_INVALID, "args at %x (in RAM) overlap the image's RAM %x - %x", args_base,
             ram_start, ram_start + ram_size);
    uint32_t magic = fl32(krn_load + 4);
    if (magic != KERNEL_MAGIC) {
        if (!report_only)
            bp_puts("LOADER: kernel has no bootproof test-kernel magic: report only");
        else
            bp_puts("LOADER: kernel has no bootproof test-kernel magic");
        bp_nl();
        report_only = 1;
    }

    phase1();
    phase2(!report_only);

    uint32_t ksp = KERNEL_STACK_TOP - 16;
    volatile uint32_t *ip = mem32(ip_pa);
    ip[0] = krn_satp;
    ip[1] = krn_entry;
    ip[2] = ksp;
    ip[3] = 0;
    for (uint32_t i = 0; i < nprogs; i++) {
        ip[4 * (i + 1)] = progs[i].satp;
        ip[4 * (i + 1) + 1] = progs[i].entry;
        ip[4 * (i + 1) + 2] = USER_STACK_TOP - 16;
        ip[4 * (i + 1) + 3] = 0;
    }
    uint32_t debug = (bflags & 4u) ? 1u : 0u;
    uint32_t mstatus = (1u << 11) | (debug ? (1u << 18) : 0u);
    bp_puts("done initializing for cold boot.");
    bp_nl();
    bp_printf("Jumping to kernel @ %x with map @ %x and stack @ %x (kargs: %x, ip: %x, rpt: %x, "
              "xpt: %x)\n",
              krn_entry, krn_satp, ksp, kva(args_pa), kva(ip_pa), kva(rpt_pa), kva(xpt_pa));
    if (report_only) {
        bp_puts("LOADER: report only: validated, not jumping");
        bp_nl();
        finish(0);
    }
    bp_printf("LOADER: starting the test kernel (uart @ %x, finisher @ %x)\n", UART_VA,
              FINISHER_VA);
    start_kernel(kva(args_pa), kva(ip_pa), kva(rpt_pa), kva(xpt_pa), UART_VA, FINISHER_VA,
                 krn_satp, debug, krn_entry, ksp, mstatus);
}

"""Tag bodies and MiniELF/kernel payload rules on synthetic ELFs, hand-computed values."""

from __future__ import annotations

import io
import struct
from dataclasses import replace
from pathlib import Path

from xousargs_helpers import SynSection, write_elf32

from bootproof.builder.elf import read_elf
from bootproof.builder.layout import AddressRange, NamedRange
from bootproof.builder.xous.build import build_image
from bootproof.builder.xous.image import InitProgram, plan_image, write_image
from bootproof.builder.xous.inspect import inspect_file
from bootproof.builder.xous.programs import kernel_from_elf, minielf_from_elf
from bootproof.builder.xous.regions import MemoryMap
from bootproof.builder.xous.tags import PNam

MEM = MemoryMap(NamedRange("SrEx", AddressRange(0x40000000, 0x1000000)),
                (NamedRange("CSRs", AddressRange(0xF0000000, 0x1000)),), 0)


def _three_section_elf(tmp_path: Path) -> Path:
    # write_elf32 puts section 1 at file offset 52 (aligned to 4): init_offset = 52.
    return write_elf32(tmp_path / "three.elf", [
        SynSection(".text", 0x10000, 0x6, b"ABCDEF", align=4),
        SynSection(".rodata", 0x10008, 0x2, b"ghijk", align=8),
        SynSection(".bss", 0x10010, 0x3, None, size=0x20, align=16),
    ], entry=0x10002)


def test_minielf_padding_hand_computed(tmp_path: Path) -> None:
    m = minielf_from_elf(read_elf(_three_section_elf(tmp_path)))
    # .text: (6 + 0 + 52) % 8 = 2 -> pad 6, clamped to the VA gap 0x10008 - 0x10006 = 2.
    # .rodata: (5 + 8 + 52) % 16 = 1 -> pad 15, clamped to 0x10010 - 0x1000d = 3.
    assert [(s.virt, s.size, s.flags) for s in m.sections] == [
        (0x10000, 8, 0x4), (0x10008, 8, 0x0), (0x10010, 0x20, 0x3)]
    assert m.payload_len == 16
    assert m.entry == 0x10002
    assert m.alignment_offset == 0


def test_minielf_unpadded_legacy(tmp_path: Path) -> None:
    m = minielf_from_elf(read_elf(_three_section_elf(tmp_path)), padded=False)
    assert [s.size for s in m.sections] == [6, 5, 0x20]
    assert m.payload_len == 11


def test_minielf_skips_non_alloc_and_latches_phase(tmp_path: Path) -> None:
    p = write_elf32(tmp_path / "p.elf", [
        SynSection(".note", 0x5000, 0x0, b"nnnn"),       # has an address but is not ALLOC
        SynSection(".text", 0x30000000, 0x6, b"tttt"),   # phase 0 is latched (#953)
        SynSection(".rodata", 0x30000004, 0x2, b"rrrr"),
        SynSection(".eh_frame", 0x30000008, 0x2, b"eeee"),
        SynSection(".eh_frame_hdr", 0x3000000C, 0x2, b"hhhh"),
    ], entry=0x30000000)
    m = minielf_from_elf(read_elf(p))
    assert [s.virt for s in m.sections] == [0x30000000, 0x30000004, 0x30000008, 0x3000000C]
    assert [s.flags for s in m.sections] == [0x4, 0x0, 0x8, 0x10]
    assert m.alignment_offset == 0


def test_kernel_gap_is_zero_filled(tmp_path: Path) -> None:
    k = write_elf32(tmp_path / "k.elf", [
        SynSection(".text", 0xFFD00000, 0x6, b"TEXT.."),
        SynSection(".rodata", 0xFFD00010, 0x2, b"RODA"),
        SynSection(".data", 0xFFD80000, 0x3, b"DATADATA"),
        SynSection(".bss", 0xFFD80008, 0x3, None, size=0x30),
        SynSection(".sbss", 0xFFD80038, 0x3, None, size=0x8),
    ], entry=0xFFD00004)
    kern = kernel_from_elf(read_elf(k))
    assert (kern.text_offset, kern.text_size) == (0xFFD00000, 0x14)
    assert (kern.data_offset, kern.data_size, kern.bss_size) == (0xFFD80000, 8, 0x38)
    i = write_elf32(tmp_path / "i.elf", [SynSection(".text", 0x10000, 0x6, b"iiii")],
                    entry=0x10000)
    out = tmp_path / "o.bin"
    lay = build_image(out, k, [("IniE", i)], MEM)
    data = out.read_bytes()
    base = lay.kernel.load_offset
    assert base == 0x2000  # tag block page, then the init program's page
    assert data[base:base + 0x1C] == b"TEXT.." + bytes(10) + b"RODA" + b"DATADATA"
    assert data[base + 0x1C:] == bytes(0x1000 - 0x1C)


def test_tag_bytes_hand_checked(tmp_path: Path) -> None:
    k = write_elf32(tmp_path / "k.elf", [SynSection(".text", 0xFFD00000, 0x6, b"KKKK")],
                    entry=0xFFD00000)
    i = write_elf32(tmp_path / "my-app.elf", [
        SynSection(".text", 0x10000, 0x6, b"IIII"),
        SynSection(".bss", 0x10004, 0x3, None, size=0x10)], entry=0x10000)
    out = tmp_path / "o.bin"
    build_image(out, k, [("IniE", i)], MEM, debug=True)
    d = out.read_bytes()
    # XArg(28) MREx(8+16) Bflg(8+4) IniE(8+8+16) XKrn(8+28) PNam(8 + 8+8 + 8+8)
    block = 28 + 24 + 12 + 32 + 36 + 8 + 16 + 16
    assert struct.unpack_from("<5I", d, 8)[:4] == (block // 4, 1, 0x40000000, 0x1000000)
    assert d[24:28] == b"SrEx"
    assert d[28:36] == b"MREx" + d[32:34] + b"\x04\x00"
    assert struct.unpack_from("<4I", d, 36) == (0xF0000000, 0x1000, 0x73525343, 0)
    assert d[52:56] == b"Bflg" and struct.unpack_from("<I", d, 60)[0] == 4
    assert d[64:68] == b"IniE"
    assert struct.unpack_from("<6I", d, 72) == (
        0x1000, 0x10000, 0x10000, 0x04000004, 0x10004, 0x03000010)
    assert d[96:100] == b"XKrn"
    assert struct.unpack_from("<7I", d, 104) == (
        0x2000, 0xFFD00000, 4, 0, 0, 0, 0xFFD00000)
    assert d[132:136] == b"PNam"
    assert d[140:block] == (struct.pack("<2I", 1, 6) + b"kernel\0\0"
                            + struct.pack("<2I", 2, 6) + b"my-app\0\0")
    assert d[0x1000:0x1004] == b"IIII" and d[0x2000:0x2004] == b"KKKK"
    assert len(d) == 0x3000


def test_pnam_padding() -> None:
    assert PNam(((1, "abcd"),)).encode() == struct.pack("<2I", 1, 4) + b"abcd"
    assert PNam(((7, "é"),)).encode() == struct.pack("<2I", 7, 2) + "é".encode() + b"\0\0"


def test_streaming_fallback_matches_file(tmp_path: Path) -> None:
    k = write_elf32(tmp_path / "k.elf", [SynSection(".text", 0xFFD00000, 0x6, bytes(range(256)))],
                    entry=0xFFD00000)
    i = write_elf32(tmp_path / "i.elf", [SynSection(".text", 0x10000, 0x6, b"x" * 5000)],
                    entry=0x10000)
    out = tmp_path / "o.bin"
    build_image(out, k, [("IniE", i)], MEM)
    plan = plan_image(kernel_from_elf(read_elf(k)),
                      [InitProgram("IniE", minielf_from_elf(read_elf(i)))], MEM)
    buf = io.BytesIO()  # no file descriptor: the read/write path
    write_image(plan, buf)
    assert buf.getvalue() == out.read_bytes()


def test_legacy_map_equals_inspect(tmp_path: Path) -> None:
    # A 2020 image has no PNam tag: its programs have no names, in the map as in the file
    # (the loader model prints "-" for them, so a map naming them could never match a boot).
    k = write_elf32(tmp_path / "k.elf", [SynSection(".text", 0xFFD00000, 0x6, b"KKKK")],
                    entry=0xFFD00000)
    i = write_elf32(tmp_path / "my-app.elf", [SynSection(".text", 0x10000, 0x6, b"IIII")],
                    entry=0x10000)
    out = tmp_path / "o.bin"
    built = build_image(out, k, [("IniE", i)], MEM, layout="legacy")
    decoded = inspect_file(out)
    assert decoded.layout == built.layout == "legacy"
    assert [p.name for p in built.programs] == [""]
    assert replace(decoded, warnings=()) == replace(built, warnings=())

"""The loader model's printed report parsed into the layout model (no QEMU needed): a
hand-written report, with every expected value read off the lines by hand."""

from __future__ import annotations

import dataclasses

import pytest

from bootproof.builder.errors import FormatError
from bootproof.builder.layout import AddressRange, NamedRange
from bootproof.builder.xous.layout_parts import Section
from bootproof.harness.xous.report import (
    SignedFlash,
    compare_layouts,
    layout_from_loader,
    signed_from_loader,
)

REPORT = """\r
Xous loader model (bootproof) v1\r
arg_buffer: 20000000\r
XArg: arg_size_words=40 version=1 ram=6e497253 (SrIn) 80000000 - 81000000\r
Tag 0 XArg @00000000 words=5 crc=3cf8 ok\r
Tag 1 MREx @0000001c words=4 crc=20ec ok\r
Tag 2 IniF @00000034 words=6 crc=aec0 ok\r
Tag 3 XKrn @00000054 words=7 crc=e6f8 ok\r
Discovered memory region 6c467053 (20000000 - 22000000) -- 33554432 bytes\r
Boot flags: 00000004\r
Name pid=1 -\r
Program pid=2 kind=IniF load=00001100 entry=00030100 payload=00000f20 sections=2 name=-\r
Section pid=2 index=0 vaddr=00030100 size=00000f20 flags=04 file_offset=00001100\r
Section pid=2 index=1 vaddr=00031020 size=00000100 flags=03 file_offset=none\r
Kernel load=00003000 text=ffd00000+00000b2c data=ffd80000+00000040 bss=00002010 entry=ffd00004\r
"""


def test_parse_hand_written_report() -> None:
    lay = layout_from_loader(REPORT)
    assert lay.arg_size_words == 40
    assert (lay.ram.name, lay.ram.start, lay.ram.size) == ("SrIn", 0x80000000, 0x01000000)
    assert [(t.index, t.tag, t.offset, t.size_words, t.crc16) for t in lay.tags] == [
        (0, "XArg", 0, 5, 0x3CF8), (1, "MREx", 0x1C, 4, 0x20EC), (2, "IniF", 0x34, 6, 0xAEC0),
        (3, "XKrn", 0x54, 7, 0xE6F8)]
    assert [(r.name, r.start, r.size) for r in lay.regions] == [
        ("SpFl", 0x20000000, 0x02000000)]
    assert lay.debug is True
    assert lay.names == {}
    (prog,) = lay.programs
    assert (prog.kind, prog.pid, prog.name, prog.load_offset, prog.entrypoint,
            prog.payload_size) == ("IniF", 2, "", 0x1100, 0x30100, 0xF20)
    assert prog.sections == (Section(0x30100, 0xF20, 0x04, 0x1100),
                             Section(0x31020, 0x100, 0x03, None))
    k = lay.kernel
    assert (k.load_offset, k.text_offset, k.text_size, k.data_offset, k.data_size,
            k.bss_size, k.entrypoint) == (0x3000, 0xFFD00000, 0xB2C, 0xFFD80000, 0x40,
                                          0x2010, 0xFFD00004)
    # The IniF payload is not page aligned, the kernel's is: the aligned layout needs both
    # IniE and kernel offsets on pages, and there is no IniE.
    assert lay.layout == "aligned"


def test_compare_names_each_differing_field() -> None:
    lay = layout_from_loader(REPORT)
    other = dataclasses.replace(
        lay, kernel=dataclasses.replace(lay.kernel, bss_size=0x2000),
        regions=(), file_size=12345, layout="legacy")
    diffs = compare_layouts(lay, other)
    # file_size and layout are not compared (the loader cannot know them).
    assert diffs == [
        "args.bin kernel: bss: expected '0xffd80040+0x2010', guest reported "
        "'0xffd80040+0x2000'",
        "memory SpFl: expected region at 0x20000000 (536870912), size 0x2000000 (33554432), "
        "guest did not report it"]
    assert compare_layouts(lay, lay) == []


def test_incomplete_report_is_a_format_error() -> None:
    cut = REPORT.split("Kernel load")[0]
    with pytest.raises(FormatError, match="no Kernel line"):
        layout_from_loader(cut)


def test_the_loaders_own_arithmetic_is_kept() -> None:
    # PIDs, payload sizes and file offsets are what the loader derived, not recomputed from
    # the tag fields: a loader that got them wrong must show in the comparison.
    wrong = (REPORT.replace("Program pid=2 kind=IniF load=00001100 entry=00030100 "
                            "payload=00000f20", "Program pid=7 kind=IniF load=00001100 "
                            "entry=00030100 payload=00000f24")
             .replace("Section pid=2", "Section pid=7")
             .replace("file_offset=00001100", "file_offset=00001104"))
    lay = layout_from_loader(wrong)
    (prog,) = lay.programs
    assert (prog.pid, prog.payload_size, prog.sections[0].file_offset) == (7, 0xF24, 0x1104)
    diffs = compare_layouts(layout_from_loader(REPORT), lay)
    assert sorted(": ".join(d.split(": ")[:2]) for d in diffs) == [
        "args.bin pid 2: pid", "args.bin pid 2: section 0", "args.bin pid 2: size"]


SWAP_REPORT = REPORT.replace(
    "Tag 1 MREx @0000001c words=4 crc=20ec ok\r\n",
    "Tag 1 Swap @0000001c words=12 crc=5ef5 ok\r\nTag 2 MREx @00000054 words=4 crc=20ec ok\r\n",
) + (
    "Swap: ram=80c00000 size=00400000 name=70617753 (Swap) flash_offset=21200000 key=zero "
    "pages=1024 usable=003fc000\r\n"
    "Swap program pid=3 name=alpha\r\n"
    "Swap program pid=4 name=beta\r\n"
    "Swap image @ 21200000: version=01010000 nonce=89abcdef01234567 mac_offset=00003000 "
    "aad_len=4 plaintext\r\n") + """\
Swap XArg: arg_size_words=15 version=1 ram=70617753 (Swap) 80c00000 - 81000000\r
Swap tag 0 XArg @00000000 words=5 crc=f1ec ok\r
Swap tag 1 IniS @0000001c words=4 crc=1234 ok\r
Swap args: size=00003000 inis=2\r
Program pid=3 kind=IniS load=00001000 entry=00010000 payload=00000100 sections=1 name=alpha\r
Section pid=3 index=0 vaddr=00010000 size=00000100 flags=05 file_offset=00001000\r
Program pid=4 kind=IniS load=00002000 entry=00020000 payload=00000010 sections=2 name=beta\r
Section pid=4 index=0 vaddr=00020000 size=00000010 flags=05 file_offset=00002000\r
Section pid=4 index=1 vaddr=00021000 size=00000200 flags=03 file_offset=none\r
"""


def test_parse_swap_lines() -> None:
    lay = layout_from_loader(SWAP_REPORT)
    assert [t.tag for t in lay.tags] == ["XArg", "Swap", "MREx", "IniF", "XKrn"]
    assert [p.pid for p in lay.programs] == [2]  # IniS programs are not init programs
    swap = lay.swap
    assert swap is not None
    assert (swap.region.name, swap.region.start, swap.region.size) == ("Swap", 0x80C00000,
                                                                        0x400000)
    assert (swap.flash_offset, swap.key_zero, swap.args_size) == (0x21200000, True, 0x3000)
    assert [(p.kind, p.pid, p.name, p.load_offset, p.payload_size) for p in swap.programs] == [
        ("IniS", 3, "alpha", 0x1000, 0x100), ("IniS", 4, "beta", 0x2000, 0x10)]
    assert swap.programs[1].sections == (Section(0x20000, 0x10, 0x05, 0x2000),
                                         Section(0x21000, 0x200, 0x03, None))
    assert lay.names == {3: "alpha", 4: "beta"}


def test_swap_programs_are_compared_only_when_the_loader_read_them() -> None:
    full = layout_from_loader(SWAP_REPORT)
    cut = SWAP_REPORT.split("Swap image @")[0] + "Swap image: none at 21200000\r\n"
    named_only = layout_from_loader(cut)
    assert named_only.swap is not None and named_only.swap.programs == ()
    assert named_only.swap.args_size is None
    assert named_only.names == {3: "alpha", 4: "beta"}
    assert compare_layouts(full, named_only) == []
    # but a loader that read them must agree on every field
    assert full.swap is not None
    moved = dataclasses.replace(full.swap, programs=(
        dataclasses.replace(full.swap.programs[0], load_offset=0x1800), full.swap.programs[1]))
    diffs = compare_layouts(dataclasses.replace(full, swap=moved), full)
    assert diffs == ["swap args alpha: start: expected 0x1800 (6144), guest reported "
                     "0x1000 (4096)"]
    # and the swap region always
    region = full.swap.region
    other = dataclasses.replace(full.swap, region=NamedRange(
        region.name, AddressRange(region.start, 0x200000)))
    assert compare_layouts(dataclasses.replace(full, swap=other), named_only) == [
        "swap Swap: size: expected 0x200000 (2097152), guest reported 0x400000 (4194304)"]


def test_parse_signed_line() -> None:
    text = REPORT.replace("arg_buffer: 20000000", "Signed image: version=2 signed_len=00004028 "
                          "trailer=ok args=20001000 (the model checks ...)\r\narg_buffer: 20001000")
    assert signed_from_loader(text) == SignedFlash(2, 0x4028, 0x20001000)
    assert signed_from_loader(REPORT) is None

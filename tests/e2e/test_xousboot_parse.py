"""The loader model's printed report parsed into the layout model (no QEMU needed): a
hand-written report, with every expected value read off the lines by hand."""

from __future__ import annotations

import dataclasses

import pytest

from bootproof.builder.errors import FormatError
from bootproof.builder.xous.layout import Section
from bootproof.harness.xous.report import compare_layouts, layout_from_loader

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
    assert sorted(d.split(":")[0] for d in diffs) == sorted([
        "kernel.bss_size", "regions.count", "regions[0].name", "regions[0].start",
        "regions[0].size"])
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
    assert sorted(d.split(":")[0] for d in diffs) == [
        "programs[0].payload_size", "programs[0].pid", "programs[0].sections[0].file_offset"]

"""Build args.bin from cross-compiled ELFs, decode it, check every field against pyelftools."""

from __future__ import annotations

import itertools
import json
import struct
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import elf_section
from elftools.elf.elffile import ELFFile
from xousargs_helpers import XOUS_FIXTURES, xous_elfs

from bootproof.builder.layout import AddressRange, NamedRange
from bootproof.builder.xous.build import build_image
from bootproof.builder.xous.inspect import inspect_file
from bootproof.builder.xous.layout import XousLayout
from bootproof.builder.xous.regions import MemoryMap, read_csr_csv, read_svd, reduce_regions

__all__ = ["xous_elfs"]  # the session fixture, re-exported for pytest

pytestmark = pytest.mark.cross

PAGE = 4096


def _alloc_sections(path: Path) -> list[dict[str, object]]:
    """What the test expects per init section, read independently with pyelftools."""
    out = []
    with path.open("rb") as fh:
        elf = ELFFile(fh)
        for sec in elf.iter_sections():
            h = sec.header
            if h["sh_addr"] == 0 or not h["sh_flags"] & 0x2:
                continue
            nobits = h["sh_type"] == "SHT_NOBITS"
            flags = (1 if h["sh_flags"] & 0x1 else 0) | (2 if nobits else 0) | (
                4 if h["sh_flags"] & 0x4 else 0)
            out.append({"name": sec.name, "addr": h["sh_addr"], "size": h["sh_size"],
                        "align": h["sh_addralign"], "flags": flags,
                        "data": b"" if nobits else sec.data()})
    return out


def _entry(path: Path) -> int:
    with path.open("rb") as fh:
        return int(ELFFile(fh).header["e_entry"])


def _pvt_memory() -> MemoryMap:
    return reduce_regions(read_svd(XOUS_FIXTURES / "precursor-soc-pvt.svd"), source="svd")


@pytest.fixture(scope="module")
def built(xous_elfs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
          ) -> tuple[Path, XousLayout, dict[str, object]]:
    out = tmp_path_factory.mktemp("xous-build") / "args.bin"
    mp = out.with_suffix(".json")
    inits = [("IniE", xous_elfs["init"]), ("IniE", xous_elfs["shell"]),
             ("IniF", xous_elfs["xipodd"]), ("IniF", xous_elfs["xippage"])]
    lay = build_image(out, xous_elfs["kernel"], inits, _pvt_memory(), debug=True, map_path=mp)
    return out, lay, json.loads(mp.read_text())


def test_tag_order_and_block_size(built: tuple[Path, XousLayout, dict[str, object]]) -> None:
    out, _, _ = built
    lay = inspect_file(out)
    assert [t.tag for t in lay.tags] == ["XArg", "MREx", "Bflg", "IniE", "IniE", "IniF",
                                         "IniF", "XKrn", "PNam"]
    assert lay.layout == "aligned"
    assert lay.debug
    assert lay.arg_size_words * 4 == sum(8 + 4 * t.size_words for t in lay.tags)
    assert [t.offset for t in lay.tags] == [
        sum(8 + 4 * u.size_words for u in lay.tags[:i]) for i in range(len(lay.tags))]
    assert all(t.crc_ok for t in lay.tags)
    data = out.read_bytes()
    # the tag block is followed by zeros up to the first page
    assert data[lay.arg_size_words * 4:PAGE] == bytes(PAGE - lay.arg_size_words * 4)
    assert lay.file_size == len(data) and len(data) % PAGE == 0
    assert struct.unpack_from("<I", data, 8)[0] == lay.arg_size_words
    assert lay.warnings == ()


def test_map_json_equals_inspect(built: tuple[Path, XousLayout, dict[str, object]]) -> None:
    out, lay, mapped = built
    decoded = inspect_file(out)
    assert XousLayout.from_json(mapped) == lay
    assert replace(decoded, warnings=()) == replace(lay, warnings=())
    detail = mapped["detail"]
    assert isinstance(detail, dict)
    assert detail["warnings"] and "engi" in str(detail["warnings"])  # the merge warning
    # the layout document: payloads in the order written, IniE and kernel on pages
    spaces = mapped["spaces"]
    assert isinstance(spaces, list)
    items = {i["name"]: i for i in spaces[0]["items"]}
    payloads = [items[n] for n in ("init", "shell", "xipodd", "xippage", "kernel")]
    assert [i["start"] for i in payloads] == sorted(i["start"] for i in payloads)
    for item in (items["init"], items["shell"], items["kernel"]):
        assert item["start"] % PAGE == 0 and item["align"] == PAGE
    assert "align" not in items["xipodd"]  # XIP: the page phase of its first section


def test_regions_and_names(built: tuple[Path, XousLayout, dict[str, object]],
                           xous_elfs: dict[str, Path]) -> None:
    out, _, _ = built
    lay = inspect_file(out)
    assert lay.ram.name == "SrEx" and lay.ram.start == 0x40000000
    assert [r.name for r in lay.regions] == ["SpFl", "Boot", "Disp", "Audi", "sha5", "engi",
                                             "CSRs"]
    assert lay.names == {1: "kernel", 2: "init", 3: "shell", 4: "xipodd", 5: "xippage"}
    assert [(p.pid, p.kind, p.name) for p in lay.programs] == [
        (2, "IniE", "init"), (3, "IniE", "shell"), (4, "IniF", "xipodd"),
        (5, "IniF", "xippage")]


def test_programs_match_pyelftools(built: tuple[Path, XousLayout, dict[str, object]],
                                   xous_elfs: dict[str, Path]) -> None:
    out, _, _ = built
    data = out.read_bytes()
    lay = inspect_file(out)
    for prog in lay.programs:
        elf = xous_elfs[prog.name]
        expected = _alloc_sections(elf)
        assert prog.entrypoint == _entry(elf)
        assert len(prog.sections) == len(expected)
        if prog.kind == "IniE":
            assert prog.load_offset % PAGE == 0
        for got, exp in zip(prog.sections, expected, strict=True):
            assert got.vaddr == exp["addr"]
            assert got.flags == exp["flags"]
            size = exp["size"]
            assert isinstance(size, int)
            if exp["flags"] & 2:
                assert got.file_offset is None and got.size == size
                continue
            # recorded size = ELF size plus padding that never crosses into the next VA
            assert size <= got.size < size + 16
            assert got.file_offset is not None
            assert data[got.file_offset:got.file_offset + size] == exp["data"]
            assert data[got.file_offset + size:got.file_offset + got.size] == bytes(
                got.size - size)
            if prog.kind == "IniF":
                assert got.file_offset % PAGE == got.vaddr % PAGE
        addrs = [s.vaddr for s in prog.sections]
        assert addrs == sorted(addrs)


def test_xip_phases(built: tuple[Path, XousLayout, dict[str, object]]) -> None:
    out, _, _ = built
    lay = inspect_file(out)
    odd = next(p for p in lay.programs if p.name == "xipodd")
    page = next(p for p in lay.programs if p.name == "xippage")
    assert odd.load_offset % PAGE == 0x234
    # xous-core #953: a first section at phase 0 keeps phase 0 (the reference took the
    # phase of a later section and then failed its own alignment check).
    assert page.load_offset % PAGE == 0
    assert page.sections[1].vaddr % PAGE != 0


def test_kernel_matches_pyelftools(built: tuple[Path, XousLayout, dict[str, object]],
                                   xous_elfs: dict[str, Path]) -> None:
    out, _, _ = built
    data = out.read_bytes()
    k = inspect_file(out).kernel
    with xous_elfs["kernel"].open("rb") as fh:
        elf = ELFFile(fh)
        text = elf_section(elf, ".text")
        rodata = elf_section(elf, ".rodata")
        dsec = elf_section(elf, ".data")
        bss = elf_section(elf, ".bss")
        assert k.entrypoint == elf.header["e_entry"]
        assert k.text_offset == text["sh_addr"] == 0xFFD00000
        assert k.text_size == rodata["sh_addr"] + rodata["sh_size"] - text["sh_addr"]
        assert k.data_offset == dsec["sh_addr"] == 0xFFD80000
        assert k.data_size == dsec["sh_size"]
        assert k.bss_size == bss["sh_size"]
        base = k.load_offset
        assert base % PAGE == 0
        assert data[base:base + text["sh_size"]] == text.data()
        roff = base + rodata["sh_addr"] - text["sh_addr"]
        assert data[roff:roff + rodata["sh_size"]] == rodata.data()
        assert data[base + k.text_size:base + k.text_size + k.data_size] == dsec.data()
    # the kernel payload is last and page-padded
    assert len(data) == base + ((k.text_size + k.data_size + PAGE - 1) & ~(PAGE - 1))


def test_payloads_in_tag_order_without_overlap(
        built: tuple[Path, XousLayout, dict[str, object]]) -> None:
    out, _, _ = built
    lay = inspect_file(out)
    spans = [(p.load_offset, p.load_offset + p.payload_size) for p in lay.programs]
    spans.append((lay.kernel.load_offset, lay.kernel.load_offset + lay.kernel.payload_size))
    assert spans[0][0] >= PAGE
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start


def test_legacy_layout(xous_elfs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "legacy.bin"
    memory = reduce_regions(read_csr_csv(XOUS_FIXTURES / "betrusted-emulation-csr-2020.csv"),
                            source="csv", merge=False)
    build_image(out, xous_elfs["kernel"], [("IniE", xous_elfs["init"])], memory,
                layout="legacy")
    lay = inspect_file(out)
    assert lay.layout == "legacy"
    assert [t.tag for t in lay.tags] == ["XArg", "MREx", "IniE", "XKrn"]
    assert [r.name for r in lay.regions] == ["Audi", "CSRs", "Disp", "SpFl", "SrIn", "VexD"]
    block = lay.arg_size_words * 4
    assert block == 28 + (8 + 6 * 16) + (8 + 8 + 8 * 4) + (8 + 28)
    (prog,) = lay.programs
    expected = _alloc_sections(xous_elfs["init"])
    # 2020 MiniELF: no inter-section padding, sizes are the ELF sizes
    assert [s.size for s in prog.sections] == [e["size"] for e in expected]
    assert prog.load_offset == block
    copied = sum(int(e["size"]) for e in expected if not int(e["flags"]) & 2)  # type: ignore[call-overload]
    assert lay.kernel.load_offset == block + ((copied + 3) & ~3)
    assert lay.file_size == lay.kernel.load_offset + lay.kernel.text_size + lay.kernel.data_size
    assert lay.names == {}


def test_ram_only_has_no_mrex(xous_elfs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "ram.bin"
    mem = MemoryMap(NamedRange("SrIn", AddressRange(0x40000000, 0x100000)), (), 0x100)
    build_image(out, xous_elfs["kernel"], [("IniE", xous_elfs["init"])], mem)
    lay = inspect_file(out)
    assert [t.tag for t in lay.tags] == ["XArg", "IniE", "XKrn", "PNam"]
    assert lay.ram == NamedRange("SrIn", AddressRange(0x40000000, 0x100000))
    assert out.read_bytes()[24:28] == b"SrIn"

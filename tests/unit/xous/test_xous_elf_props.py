"""Property test: damaged ELF files only ever raise the project's own errors."""

from __future__ import annotations

import tempfile
from pathlib import Path

from elftools.elf.elffile import ELFFile
from hypothesis import given, settings
from hypothesis import strategies as st
from xousargs_helpers import SynSection, write_elf32

from bootproof.builder.elf import read_elf
from bootproof.builder.errors import BootproofError, FormatError
from bootproof.builder.xous.programs import kernel_from_elf, minielf_from_elf

with tempfile.TemporaryDirectory() as _d:
    BASE = write_elf32(Path(_d) / "base.elf", [
        SynSection(".text", 0xFFD00000, 0x6, bytes(range(40))),
        SynSection(".data", 0xFFD80000, 0x3, b"y" * 8),
        SynSection(".bss", 0xFFD80008, 0x3, None, size=16),
    ], entry=0xFFD00000).read_bytes()


def _damaged(mutations: list[tuple[int, int]], cut: int) -> bytes:
    data = bytearray(BASE)
    for pos, value in mutations:
        data[pos] = value
    return bytes(data[:cut])


#: BASE with up to 8 bytes changed, cut short anywhere.
DAMAGED = st.builds(
    _damaged,
    st.lists(st.tuples(st.integers(0, len(BASE) - 1), st.integers(0, 255)), max_size=8),
    st.integers(0, len(BASE)),
)


@settings(max_examples=300, deadline=None)
@given(DAMAGED)
def test_mutated_elf(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.elf"
        p.write_bytes(data)
        try:
            elf = read_elf(p)
        except FormatError as exc:
            assert "m.elf" in str(exc)
            return
        for reader in (minielf_from_elf, kernel_from_elf):
            try:
                reader(elf)
            except BootproofError as exc:
                assert "m.elf" in str(exc)


def _pyelftools_view(path: Path) -> tuple[int, list[tuple[object, ...]]] | None:
    """Entry point and section headers as pyelftools reads them; None when it cannot, or
    when the file is not what read_elf accepts (ELF32 LSB RISC-V executable, every section
    with file contents inside the file)."""
    size = path.stat().st_size
    try:
        with path.open("rb") as fh:
            elf = ELFFile(fh)
            if (elf.elfclass, elf.little_endian, elf["e_machine"], elf["e_type"]) != (
                    32, True, "EM_RISCV", "ET_EXEC"):
                return None
            sections: list[tuple[object, ...]] = []
            # headers only, as read_elf promises (iter_sections would also check the
            # contents of symbol tables, which read_elf never reads)
            for i in range(elf.num_sections()):
                h = elf._get_section_header(i)
                nobits = h["sh_type"] == "SHT_NOBITS"
                if i and not nobits and h["sh_offset"] + h["sh_size"] > size:
                    return None
                sections.append((i, elf._get_section_name(h), nobits, h["sh_flags"],
                                 h["sh_addr"], h["sh_offset"], h["sh_size"],
                                 h["sh_addralign"]))
            return int(elf["e_entry"]), sections
    except Exception:  # anything pyelftools cannot read is out of this comparison
        return None


@settings(max_examples=300, deadline=None)
@given(DAMAGED)
def test_read_elf_agrees_with_pyelftools(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.elf"
        p.write_bytes(data)
        expected = _pyelftools_view(p)
        try:
            elf = read_elf(p)
        except FormatError:
            assert expected is None, "read_elf refused a file pyelftools reads"
            return
        assert expected is not None, "read_elf accepted a file pyelftools refuses"
        got = [(s.index, s.name, s.nobits, s.flags, s.addr, s.offset, s.size, s.addralign)
               for s in elf.sections]
        assert (elf.entry, got) == expected

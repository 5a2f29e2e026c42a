"""Property test: damaged ELF files only ever raise the project's own errors."""

from __future__ import annotations

import tempfile
from pathlib import Path

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


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(BASE) - 1), st.integers(0, 255)), max_size=8),
       st.integers(0, len(BASE)))
def test_mutated_elf(mutations: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(BASE)
    for pos, value in mutations:
        data[pos] = value
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.elf"
        p.write_bytes(bytes(data[:cut]))
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

"""The guest programs' cross build: cached by content, and the ELFs have the shape the
loader model and the builder rely on (checked with pyelftools)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import elf_section, require_tool
from elftools.elf.elffile import ELFFile

from bootproof.harness.guests.build import build_init, build_kernel, build_loader, init_spec


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("riscv64-unknown-elf-gcc")
    return tmp_path_factory.mktemp("guests")


def sections(elf: Path) -> dict[str, tuple[int, int, str]]:
    with elf.open("rb") as f:
        ef = ELFFile(f)
        assert ef.elfclass == 32 and ef["e_machine"] == "EM_RISCV"
        return {s.name: (s["sh_addr"], s["sh_size"], s["sh_type"]) for s in ef.iter_sections()
                if s["sh_flags"] & 0x2}  # SHF_ALLOC


def test_cached_by_content(cache: Path) -> None:
    first = build_loader(cache)
    mtime = first.stat().st_mtime_ns
    assert build_loader(cache) == first
    assert first.stat().st_mtime_ns == mtime  # not rebuilt
    assert build_init("a", "small", 1, cache) != build_init("a", "small", 2, cache)
    assert not list(first.parent.glob(".*.elf"))  # no temporary left behind


def test_loader_at_ram_base(cache: Path) -> None:
    with build_loader(cache).open("rb") as f:
        assert ELFFile(f)["e_entry"] == 0x80000000


def test_kernel_shape(cache: Path) -> None:
    elf = build_kernel(cache)
    secs = sections(elf)
    assert secs[".text"][0] == 0xFFD00000
    assert secs[".data"][0] == 0xFFD80000
    assert secs[".bss"][2] == "SHT_NOBITS"
    assert set(secs) == {".text", ".rodata", ".data", ".bss"}
    with elf.open("rb") as f:
        text = elf_section(ELFFile(f), ".text").data()
    assert text[4:8] == b"BPTK"  # the test-kernel magic the loader model looks for


@pytest.mark.parametrize(("kind", "text_va"), [("small", 0x10000), ("big", 0x10000),
                                               ("xip", 0x30100)])
def test_init_shape(cache: Path, kind: str, text_va: int) -> None:
    elf = build_init(f"p_{kind}", kind, 0, cache)  # type: ignore[arg-type]
    assert elf.name == f"p_{kind}.elf"
    secs = sections(elf)
    assert list(secs) == [".text", ".rodata", ".data", ".bss"]
    assert secs[".text"][0] == text_va
    assert secs[".data"][0] % 4096 == 0  # writable data on its own page
    if kind == "big":
        assert all(secs[n][1] > 2 * 4096 for n in (".rodata", ".data", ".bss"))


def test_bad_init_spec() -> None:
    with pytest.raises(ValueError, match="name"):
        init_spec("../x")
    with pytest.raises(ValueError, match="kind"):
        init_spec("x", "huge")  # type: ignore[arg-type]

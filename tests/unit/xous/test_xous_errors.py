"""Every input the reference accepts silently but we reject: message names file and value."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from xousargs_helpers import SynSection, write_elf32, xous_elfs

from bootproof.builder.elf import read_elf
from bootproof.builder.errors import AlignmentError, FormatError, InputError, OverflowError_
from bootproof.builder.layout import AddressRange, NamedRange
from bootproof.builder.xous.build import build_image
from bootproof.builder.xous.programs import kernel_from_elf, minielf_from_elf
from bootproof.builder.xous.regions import MemoryMap, read_csr_csv, reduce_regions

__all__ = ["xous_elfs"]

MEM = MemoryMap(NamedRange("SrIn", AddressRange(0x40000000, 0x1000000)), (), 0x1000)


def _patched(src: Path, dst: Path, offset: int, fmt: str, value: int) -> Path:
    data = bytearray(src.read_bytes())
    struct.pack_into(fmt, data, offset, value)
    dst.write_bytes(bytes(data))
    return dst


@pytest.mark.cross
def test_kernel_below_ff000000(xous_elfs: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        build_image(tmp_path / "o.bin", xous_elfs["init"], [("IniE", xous_elfs["init"])], MEM)
    text = str(err.value)
    assert "init.elf" in text and "text_offset=0x20000" in text and "0xff000000" in text
    assert not (tmp_path / "o.bin").exists()


@pytest.mark.cross
def test_section_of_2_pow_24_bytes(xous_elfs: dict[str, Path]) -> None:
    with pytest.raises(OverflowError_) as err:
        minielf_from_elf(read_elf(xous_elfs["huge"]))
    text = str(err.value)
    assert "huge.elf" in text and ".bss" in text and "0x1000000" in text


def test_section_of_2_pow_24_bytes_synthetic(tmp_path: Path) -> None:
    elf = write_elf32(tmp_path / "big.elf", [
        SynSection(".text", 0x10000, 0x6, b"\x13\x00\x00\x00"),
        SynSection(".data", 0x20000, 0x3, bytes(1 << 24)),
    ], entry=0x10000)
    with pytest.raises(OverflowError_) as err:
        minielf_from_elf(read_elf(elf))
    assert "big.elf" in str(err.value) and ".data" in str(err.value)


def test_tag_over_65535_words(tmp_path: Path) -> None:
    kernel = write_elf32(tmp_path / "k.elf", [SynSection(".text", 0xFFD00000, 0x6, bytes(4))],
                         entry=0xFFD00000)
    init = write_elf32(tmp_path / "i.elf", [SynSection(".text", 0x10000, 0x6, bytes(4))],
                       entry=0x10000)
    csv = tmp_path / "many.csv"
    rows = ["#", "memory_region,sram,0x40000000,0x100000,cached"]
    rows += [f"memory_region,r{i:05d},{0x1000_0000 + i * 0x2000},4096,io" for i in range(16384)]
    csv.write_text("\n".join(rows) + "\n")
    mem = reduce_regions(read_csr_csv(csv), source=str(csv))
    assert len(mem.regions) == 16384  # 16 bytes each: 65536 words, one too many
    with pytest.raises(OverflowError_) as err:
        build_image(tmp_path / "o.bin", kernel, [("IniE", init)], mem)
    text = str(err.value)
    assert "many.csv" in text and "MREx" in text and "65536" in text
    assert not (tmp_path / "o.bin").exists()


@pytest.mark.cross
def test_elf64_rejected(xous_elfs: dict[str, Path], tmp_path: Path) -> None:
    bad = _patched(xous_elfs["init"], tmp_path / "sixtyfour.elf", 4, "<B", 2)
    with pytest.raises(FormatError) as err:
        read_elf(bad)
    assert "sixtyfour.elf" in str(err.value) and "ELFCLASS64" in str(err.value)


@pytest.mark.cross
def test_non_riscv_rejected(xous_elfs: dict[str, Path], tmp_path: Path) -> None:
    bad = _patched(xous_elfs["init"], tmp_path / "x86.elf", 18, "<H", 3)  # EM_386
    with pytest.raises(FormatError) as err:
        read_elf(bad)
    assert "x86.elf" in str(err.value) and "e_machine" in str(err.value)
    assert "EM_386" in str(err.value)


def test_not_an_elf(tmp_path: Path) -> None:
    p = tmp_path / "text.elf"
    p.write_bytes(b"hello, world\n")
    with pytest.raises(FormatError) as err:
        read_elf(p)
    assert "text.elf" in str(err.value) and "b'hell'" in str(err.value)


@pytest.mark.parametrize("cut", [4, 20, 51, 60, 200])
def test_truncated_elf(tmp_path: Path, cut: int) -> None:
    full = write_elf32(tmp_path / "full.elf", [
        SynSection(".text", 0x10000, 0x6, bytes(64))], entry=0x10000)
    p = tmp_path / "cut.elf"
    p.write_bytes(full.read_bytes()[:cut])
    with pytest.raises(FormatError) as err:
        read_elf(p)
    assert "cut.elf" in str(err.value)


def test_relocatable_object_rejected(tmp_path: Path) -> None:
    p = write_elf32(tmp_path / "obj.o", [SynSection(".text", 0, 0x6, bytes(4))], entry=0,
                    e_type=1)
    with pytest.raises(FormatError) as err:
        read_elf(p)
    assert "obj.o" in str(err.value) and "ET_REL" in str(err.value)


@pytest.mark.cross
def test_addralign_zero_rejected(xous_elfs: dict[str, Path], tmp_path: Path) -> None:
    src = xous_elfs["init"]
    with src.open("rb") as fh:
        elf = ELFFile(fh)
        shoff, shentsize = elf.header["e_shoff"], elf.header["e_shentsize"]
        index = next(i for i, s in enumerate(elf.iter_sections()) if s.name == ".rodata")
    bad = _patched(src, tmp_path / "noalign.elf", shoff + index * shentsize + 32, "<I", 0)
    with pytest.raises(FormatError) as err:
        minielf_from_elf(read_elf(bad))
    text = str(err.value)
    assert "noalign.elf" in text and ".rodata sh_addralign=0" in text


def test_kernel_section_after_data_rejected(tmp_path: Path) -> None:
    p = write_elf32(tmp_path / "k.elf", [
        SynSection(".text", 0xFFD00000, 0x6, bytes(8)),
        SynSection(".data", 0xFFD80000, 0x3, bytes(8)),
        SynSection(".late", 0xFFD90000, 0x2, bytes(8)),
    ], entry=0xFFD00000)
    with pytest.raises(FormatError) as err:
        kernel_from_elf(read_elf(p))
    assert "k.elf" in str(err.value) and ".late" in str(err.value)


def test_xip_phase_mismatch_rejected(tmp_path: Path) -> None:
    # .data one page further in VA but packed right after .text in the payload.
    p = write_elf32(tmp_path / "xip.elf", [
        SynSection(".text", 0x30000000, 0x6, bytes(16)),
        SynSection(".data", 0x30001000, 0x3, bytes(16)),
    ], entry=0x30000000)
    k = write_elf32(tmp_path / "k.elf", [SynSection(".text", 0xFFD00000, 0x6, bytes(4))],
                    entry=0xFFD00000)
    with pytest.raises(AlignmentError) as err:
        build_image(tmp_path / "o.bin", k, [("IniF", p)], MEM)
    assert "xip.elf" in str(err.value) and "0x30001000" in str(err.value)


def test_legacy_layout_has_no_inif(tmp_path: Path) -> None:
    k = write_elf32(tmp_path / "k.elf", [SynSection(".text", 0xFFD00000, 0x6, bytes(4))],
                    entry=0xFFD00000)
    p = write_elf32(tmp_path / "xip.elf", [SynSection(".text", 0x30000000, 0x6, bytes(4))],
                    entry=0x30000000)
    with pytest.raises(InputError) as err:
        build_image(tmp_path / "o.bin", k, [("IniF", p)], MEM, layout="legacy")
    assert "xip.elf" in str(err.value)


def test_decreasing_section_addresses_rejected(tmp_path: Path) -> None:
    p = write_elf32(tmp_path / "back.elf", [
        SynSection(".text", 0x20000, 0x6, bytes(8)),
        SynSection(".rodata", 0x10000, 0x2, bytes(8)),
    ], entry=0x20000)
    with pytest.raises(AlignmentError) as err:
        minielf_from_elf(read_elf(p))
    assert "back.elf" in str(err.value) and "0x10000" in str(err.value)


def test_output_equal_to_input_rejected(tmp_path: Path) -> None:
    k = write_elf32(tmp_path / "k.elf", [SynSection(".text", 0xFFD00000, 0x6, bytes(4))],
                    entry=0xFFD00000)
    before = k.read_bytes()
    with pytest.raises(InputError):
        build_image(k, k, [], MEM)
    assert k.read_bytes() == before

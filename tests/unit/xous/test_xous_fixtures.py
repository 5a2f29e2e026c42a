"""Decode the two real 2020 args.bin files; expected values from the fixtures README."""

from __future__ import annotations

import struct

import pytest
from xousargs_helpers import XOUS_FIXTURES

from bootproof.builder.layout import AddressRange, NamedRange
from bootproof.builder.xous.inspect import decode, inspect_file
from bootproof.builder.xous.layout_parts import FLAG_EXECUTE, FLAG_NOCOPY, FLAG_WRITE, Kernel

MREX_2020 = (
    NamedRange("Audi", AddressRange(0xE0000000, 0x1000)),
    NamedRange("CSRs", AddressRange(0xF0000000, 0xC000)),
    NamedRange("Disp", AddressRange(0xB0000000, 0x6000)),
    NamedRange("SpFl", AddressRange(0x20000000, 0x8000000)),
    NamedRange("SrIn", AddressRange(0x10000000, 0x20000)),
    NamedRange("VexD", AddressRange(0xEFFF0000, 0x1000)),
)


def test_default_2020() -> None:
    lay = inspect_file(XOUS_FIXTURES / "args-default-2020.bin")
    assert lay.layout == "legacy"
    assert lay.arg_size_words == 0x34
    assert lay.ram == NamedRange("SrEx", AddressRange(0x40000000, 0x01000000))
    assert lay.regions == MREX_2020
    assert [t.tag for t in lay.tags] == ["XArg", "MREx", "IniE", "XKrn"]
    assert all(t.crc_ok for t in lay.tags)
    assert lay.tags[0].crc16 == 0x48B0
    (prog,) = lay.programs
    assert (prog.kind, prog.pid, prog.load_offset, prog.entrypoint) == ("IniE", 2, 0xD0, 0x15DAE)
    assert [(s.vaddr, s.size, s.flags) for s in prog.sections] == [
        (0x100B8, 0x1B65, 0), (0x12000, 0x3DAE, FLAG_EXECUTE), (0x15DAE, 0x18, FLAG_EXECUTE)]
    assert lay.kernel == Kernel(0x59FC, 0xFFD00000, 0xEFF4, 0xFFD80000, 0x2BCC, 0x210,
                                0xFFD00000)
    assert lay.file_size == 0x59FC + 0xEFF4 + 0x2BCC == 95676
    assert lay.names == {}
    assert not lay.debug


def test_default_2020_legacy_arithmetic() -> None:
    # Spec §1.6 worked check: payloads packed after the 208-byte tag block, 4-byte padded.
    lay = inspect_file(XOUS_FIXTURES / "args-default-2020.bin")
    block = lay.arg_size_words * 4
    assert block == 0xD0 == lay.programs[0].load_offset
    copied = sum(s.size for s in lay.programs[0].sections if not s.flags & FLAG_NOCOPY)
    assert copied == 0x592B
    assert lay.kernel.load_offset == block + ((copied + 3) & ~3) == 0x59FC
    assert lay.programs[0].sections[1].file_offset == 0xD0 + 0x1B65


def test_span_page_2020() -> None:
    lay = inspect_file(XOUS_FIXTURES / "args-span-page-2020.bin")
    assert lay.layout == "legacy"
    assert lay.arg_size_words == 0x42
    assert lay.regions == MREX_2020
    assert [t.tag for t in lay.tags] == ["XArg", "MREx", "IniE", "IniE", "XKrn"]
    assert all(t.crc_ok for t in lay.tags)
    p1, p2 = lay.programs
    assert (p1.pid, p1.load_offset, p2.pid, p2.load_offset) == (2, 0x108, 3, 0x8A00)
    last = p1.sections[-1]
    assert (last.vaddr, last.size, last.flags) == (0x1A000, 4, FLAG_WRITE | FLAG_NOCOPY)
    assert last.file_offset is None
    k = lay.kernel
    assert (k.load_offset, k.text_size, k.data_size, k.bss_size) == (
        0x11048, 0x26DE4, 0x844, 0x224)
    assert lay.file_size == 0x11048 + 0x26DE4 + 0x844 == 231024
    # legacy arithmetic: each payload follows the previous one, 4-byte padded
    assert p1.load_offset == 0x42 * 4
    assert p2.load_offset == p1.load_offset + ((p1.payload_size + 3) & ~3)
    assert k.load_offset == p2.load_offset + ((p2.payload_size + 3) & ~3)


def test_fixture_loader_warnings() -> None:
    # Both fixtures are images the loader accepts: nothing to warn about.
    for name in ("args-default-2020.bin", "args-span-page-2020.bin"):
        assert inspect_file(XOUS_FIXTURES / name).warnings == ()


def test_crc_fail_is_reported() -> None:
    data = bytearray((XOUS_FIXTURES / "args-default-2020.bin").read_bytes())
    data[0x1C + 8] ^= 0xFF  # first byte of the MREx body
    lay = decode(bytes(data), path="mutated.bin")
    assert [t.crc_ok for t in lay.tags] == [True, False, True, True]
    assert any("MREx" in w and "CRC FAIL" in w for w in lay.warnings)


def test_loader_rejections_become_warnings() -> None:
    data = bytearray((XOUS_FIXTURES / "args-default-2020.bin").read_bytes())
    # XKrn body starts at 0xac + 8; text_offset is its second word.
    struct.pack_into("<I", data, 0xAC + 8 + 4, 0xFFD01000)
    lay = decode(bytes(data))
    assert any("text_offset 0xffd01000" in w for w in lay.warnings)


@pytest.mark.parametrize("cut", [0, 5, 27, 100, 0xAC + 20])
def test_truncated_fixture_is_format_error(cut: int) -> None:
    from bootproof.builder.errors import FormatError

    data = (XOUS_FIXTURES / "args-default-2020.bin").read_bytes()[:cut]
    with pytest.raises(FormatError) as err:
        decode(data, path="cut.bin")
    assert "cut.bin" in str(err.value)

"""builder/layout.py: the align helper and the address-range types, on hand-computed values."""

from __future__ import annotations

import pytest

from bootproof.builder.layout import AddressRange, NamedRange, align_up

PAGE = 4096


@pytest.mark.parametrize(("offset", "phase", "expected"), [
    (0, 0, 0), (1, 0, 4096), (4096, 0, 4096), (0x100, 0x234, 0x234), (0x300, 0x234, 0x1234),
    (0x1234, 0x234, 0x1234)])
def test_align_up_to_a_page_phase(offset: int, phase: int, expected: int) -> None:
    # the Xous XIP rule: a payload starts at the same offset within a page as its VA
    assert align_up(offset, PAGE, phase) == expected


@pytest.mark.parametrize(("value", "align", "expected"), [
    (0, 0x200000, 0), (1, 0x200000, 0x200000), (0x40200000, 0x200000, 0x40200000),
    (0x40200001, 0x200000, 0x40400000),  # Xen modules on 2 MiB
    (17 * (1 << 20), 2 << 20, 18 << 20),  # a disk partition of 17 MiB on 2 MiB
    (5, 4, 8), (8, 4, 8),  # device-tree cells
    (7, 3, 9), (9, 3, 9),  # not a power of two
])
def test_align_up_to_a_multiple(value: int, align: int, expected: int) -> None:
    assert align_up(value, align) == expected


@pytest.mark.parametrize(("align", "phase"), [(0, 0), (-4, 0), (PAGE, PAGE), (PAGE, -1)])
def test_align_up_refuses_a_bad_align_or_phase(align: int, phase: int) -> None:
    with pytest.raises(ValueError, match="must be positive and phase"):
        align_up(0, align, phase)


# AddressRange: the rules the planners relied on when each wrote them out.

def test_range_end_overlap_and_containment() -> None:
    ram = AddressRange(0x40000000, 0x1000000)
    assert ram.end == 0x41000000
    assert ram.overlaps(AddressRange(0x40FFF000, 0x2000))
    assert AddressRange(0x40FFF000, 0x2000).overlaps(ram)
    assert not ram.overlaps(AddressRange(0x41000000, 0x1000))  # adjacent after
    assert not ram.overlaps(AddressRange(0x3FFFF000, 0x1000))  # adjacent before
    assert ram.contains(AddressRange(0x40000000, 0x1000000))
    assert ram.contains(AddressRange(0x40800000, 0x1000))
    assert not ram.contains(AddressRange(0x40FFF000, 0x2000))
    assert not ram.contains(AddressRange(0x3FFFF000, 0x2000))


def test_range_describes_itself_in_hex_with_an_exclusive_end() -> None:
    assert AddressRange(0xF0000000, 0x1000).describe() == "0xf0000000-0xf0001000"
    assert AddressRange(0x1_0000_0000, 0x10).describe() == "0x100000000-0x100000010"


def test_named_range_reads_through_to_its_range_and_keeps_the_json_form() -> None:
    r = NamedRange("SrEx", AddressRange(0x40000000, 0x1000000))
    assert (r.start, r.size, r.end) == (0x40000000, 0x1000000, 0x41000000)
    assert r.to_json() == {"name": "SrEx", "start": 0x40000000, "size": 0x1000000}
    assert list(r.to_json()) == ["name", "start", "size"]  # the --map key order
    assert r == NamedRange("SrEx", AddressRange(0x40000000, 0x1000000))
    assert r != NamedRange("SrIn", AddressRange(0x40000000, 0x1000000))

"""builder/layout.py: the align helper every planner shares, on hand-computed values."""

from __future__ import annotations

import pytest

from bootproof.builder.layout import align_up

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

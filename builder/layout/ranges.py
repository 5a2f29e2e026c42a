"""Address arithmetic every layout shares: plain data, no I/O.

* :class:`AddressRange` ``[start, start + size)`` in one address space (bytes of RAM or
  flash, sectors of a disk): its end, overlap and containment, its hex description.
* :class:`NamedRange` a range with a name (a Xous region's fourcc, a board's memory-map
  entry, the device-tree node a ``reg`` came from).
* :func:`align_up` the one round-up to an alignment (with an optional phase).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bootproof.builder.report import hexa


def align_up(value: int, align: int, phase: int = 0) -> int:
    """The smallest ``n >= value`` with ``n % align == phase``.

    ``phase`` 0 is the plain round-up to a multiple of ``align``; another phase places a
    payload at the same offset within a page as the address it runs at (Xous XIP programs).
    ``align`` need not be a power of two. Raises :class:`ValueError` for an ``align`` below 1
    or a ``phase`` outside ``0 .. align - 1``.
    """
    if align < 1 or not 0 <= phase < align:
        raise ValueError(f"align_up: align {align} must be positive and phase {phase} "
                         "below it")
    return value + (phase - value) % align


@dataclass(frozen=True, order=True)
class AddressRange:
    """The addresses ``[start, start + size)``. Readers check their own bounds (a
    negative size is not refused here); ranges sort by start, then size."""

    start: int
    size: int

    @property
    def end(self) -> int:
        """The first address after the range."""
        return self.start + self.size

    def overlaps(self, other: AddressRange) -> bool:
        """Whether the two share an address: ``self.start < other.end`` and
        ``other.start < self.end``. Adjacent ranges do not overlap."""
        return self.start < other.end and other.start < self.end

    def contains(self, other: AddressRange) -> bool:
        """Whether ``other`` lies wholly inside this range."""
        return self.start <= other.start and other.end <= self.end

    def describe(self) -> str:
        """``0x40000000-0x41000000``: start and end (exclusive) as :func:`hexa` writes them."""
        return f"{hexa(self.start)}-{hexa(self.end)}"


@dataclass(frozen=True)
class NamedRange:
    """An :class:`AddressRange` with the ``name`` its source gives it."""

    name: str
    range: AddressRange

    @property
    def start(self) -> int:
        return self.range.start

    @property
    def size(self) -> int:
        return self.range.size

    @property
    def end(self) -> int:
        return self.range.end

    def to_json(self) -> dict[str, Any]:
        """``{"name", "start", "size"}``, integers as integers."""
        return {"name": self.name, "start": self.start, "size": self.size}

"""The swap address space of a Xous image (spec addendum §1): the ``Swap`` tag of args.bin
and the ``IniS`` programs of the swap args block, whose offsets count from that block's
first byte.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bootproof.builder.layout import NamedRange
from bootproof.builder.report import hexa, size_text
from bootproof.builder.xous.layout_parts import (
    Program,
    json_int,
    json_program,
    json_region,
    program_lines,
)

SWAP_PAGE = 4096
SWAP_MAC_LEN = 16


@dataclass(frozen=True)
class SwapSpace:
    """The swap address space (spec addendum §1): the ``Swap`` tag of args.bin and, when
    the swap args block was read too (by create-image, or from a swap image), the
    ``IniS`` programs it holds.

    ``region`` is the swap RAM (its name from the tag, ``Swap`` as create-image writes it);
    ``flash_offset`` where a Precursor loader reads the swap image (create-image writes
    0x21200000 on every platform); ``key_zero`` whether the tag's 32-byte key is all zero
    (as create-image writes it: the image is encrypted with the zero key).
    ``args_size`` is the length of the swap args block, None when it was not read;
    ``programs`` the IniS programs (empty when not read), their PIDs following args.bin's
    IniE/IniF programs, their ``load_offset`` and section ``file_offset`` counted from the
    first byte of the swap args block.
    """

    region: NamedRange
    flash_offset: int
    key_zero: bool
    args_size: int | None = None
    programs: tuple[Program, ...] = ()

    @property
    def pages(self) -> int:
        """Pages of swap RAM the runtime tracks: ``size / 4096`` (the reference's
        ``Runtime will also require N bytes to track swap``)."""
        return self.region.size // SWAP_PAGE

    @property
    def usable(self) -> int:
        """Bytes of swap RAM left for pages once the MAC area (16 bytes per page, rounded
        up to pages) is taken (spec addendum §1.9 step 7)."""
        macs = -(-(self.pages * SWAP_MAC_LEN) // SWAP_PAGE) * SWAP_PAGE
        return (self.region.size & ~(SWAP_PAGE - 1)) - macs

    def to_json(self) -> dict[str, Any]:
        return {
            **self.region.to_json(),
            "flash_offset": self.flash_offset,
            "key_zero": self.key_zero,
            "pages": self.pages,
            "usable": self.usable,
            "args_size": self.args_size,
            "programs": [p.to_json() for p in self.programs],
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> SwapSpace:
        """Rebuild from :meth:`to_json` (``pages`` and ``usable`` are derived, not read)."""
        size = d.get("args_size")
        return cls(
            region=json_region(d),
            flash_offset=json_int(d["flash_offset"]),
            key_zero=bool(d["key_zero"]),
            args_size=None if size is None else json_int(size),
            programs=tuple(json_program(p) for p in d.get("programs", [])),
        )

    def to_table(self) -> list[str]:
        """The report's swap section (lines)."""
        r = self.region
        out = [
            f"Swap {r.name!r}: {hexa(r.start)} - {hexa(r.end)} ({size_text(r.size)}), "
            f"{self.pages} pages, {size_text(self.usable)} usable after the MAC area; "
            f"flash_offset {hexa(self.flash_offset)}; key "
            + ("zero" if self.key_zero else "set (not zero)"),
        ]
        if self.args_size is None:
            out.append("  swap args not read (they are in the swap image)")
        else:
            out.append(f"  swap args block: {size_text(self.args_size)}, "
                       f"{len(self.programs)} IniS program(s); offsets below count from "
                       "its first byte")
        out.extend(program_lines(self.programs))
        return out

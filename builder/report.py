"""How bootproof shows numbers to people: addresses, sizes, values in messages, and
plain-text tables (no colour, fixed-width, stable output).

Text other programs parse keeps the reference's own format where it is written
(U-Boot script lines and ``fdt`` commands, ``read-tags`` output); everything else goes
through these functions.
"""

from __future__ import annotations

from collections.abc import Sequence


def hexa(value: int, width: int = 8) -> str:
    """``0x`` and zero-padded lower-case hex: the one address format of every report."""
    return f"0x{value:0{width}x}"


def hex_dec(value: int) -> str:
    """An integer in hex then decimal, as errors show a value: ``0x1f (31)``,
    ``-0x1f (-31)``."""
    sign = "-" if value < 0 else ""
    return f"{sign}0x{abs(value):x} ({value})"


def size_text(n: int) -> str:
    """A byte count as hex plus a human figure: ``0x1000 (4 KiB)``."""
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift:
            v = n / (1 << shift)
            human = f"{v:.0f} {unit}" if v == int(v) else f"{v:.1f} {unit}"
            return f"0x{n:x} ({human})"
    return f"0x{n:x} ({n} B)"


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], indent: str = "  ") -> str:
    """Render ``rows`` under ``headers`` as aligned columns; numbers right-aligned."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [
        all(isinstance(r[i], int) for r in rows) if rows else False for i in range(len(headers))
    ]
    out = []
    for n, row in enumerate(cells):
        parts = [
            c.rjust(widths[i]) if numeric[i] else c.ljust(widths[i]) for i, c in enumerate(row)
        ]
        out.append(indent + "  ".join(parts).rstrip())
        if n == 0:
            out.append(indent + "  ".join("-" * w for w in widths))
    return "\n".join(out)

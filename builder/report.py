"""Plain-text tables for layout reports (no colour, fixed-width, stable output)."""

from __future__ import annotations

from collections.abc import Sequence


def hexa(value: int, width: int = 8) -> str:
    """``0x`` and zero-padded lower-case hex: the one address format of every report."""
    return f"0x{value:0{width}x}"


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

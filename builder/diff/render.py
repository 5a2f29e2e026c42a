"""How ``bootproof diff`` shows a :class:`~bootproof.builder.layout.compare.LayoutDiff`:
plain text, Markdown (a table per address space, ready to paste into a review) and JSON.

Addresses of a byte space are shown with :func:`~bootproof.builder.report.hexa`; those of
a sector space (a disk) as the sector number and its byte offset. Sizes and signed deltas
are in bytes, hex plus a human figure (:func:`~bootproof.builder.report.size_text`).

The JSON document (``--format json``) has this shape::

    {"format": "bootproof-diff", "version": 1, "old": "OLD", "new": "NEW",
     "summary": {"changes": 3, "new_overlaps": 0, "by_kind": {"moved": 2, ...}},
     "changes": [{"space": "ram", "unit": "byte", "name": "domU1/kernel",
                  "what": "moved", "kind": "module",
                  "old": {"start": 1075838976, "size": 4096, "align": 2097152,
                          "sha256": "..."},          (null for "added")
                  "new": {...},                       (null for "removed")
                  "delta": 2097152,                   (in the space's unit; null when
                  "delta_bytes": 2097152}, ...],      the kind has no number)
     "spaces": [{"name": "ram", "unit": "byte", "old_headroom": 123, "new_headroom": 100,
                 "headroom_delta": -23, "headroom_delta_bytes": -23}, ...],
     "overlaps": [{"space": "ram", "a": "x", "b": "y", "new": true,
                   "a_range": [start, end], "b_range": [start, end]}, ...],
     "violations": ["move: domU1/kernel in ram by +0x200000", ...]}

``what`` is one of ``removed``, ``added``, ``moved``, ``resized``, ``realigned``,
``content`` (same size, other sha256) and ``kind``. Headrooms are null for a space with no
known end or one missing from a side.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from bootproof.builder.layout.compare import UNIT_BYTES, Change, LayoutDiff, SpaceChange
from bootproof.builder.layout.model import Item
from bootproof.builder.report import hexa, size_text

FORMATS = ("text", "json", "markdown")
JSON_FORMAT = "bootproof-diff"
JSON_VERSION = 1


def unit_bytes(unit: str) -> int:
    return UNIT_BYTES.get(unit, 1)


def signed_size(delta: int) -> str:
    """A signed byte count, hex plus a human figure: ``+0x1000 (+4 KiB)``, ``-0x200 (-512 B)``."""
    sign = "-" if delta < 0 else "+"
    text = size_text(abs(delta))
    hex_part, _, human = text.partition(" (")
    return f"{sign}{hex_part} ({sign}{human}"


def address(value: int, unit: str) -> str:
    """A start address: hex for bytes; ``sector N (0xOFFSET)`` for a sector space."""
    if unit == "sector":
        return f"sector {value} ({hexa(value * 512)})"
    return hexa(value)


def place(item: Item, unit: str) -> str:
    """Where an item lies and how big it is: ``0x40200000, 0x1000 (4 KiB)``."""
    size = size_text(item.size * unit_bytes(unit))
    if item.start is None:
        return size
    return f"{address(item.start, unit)}, {size}"


def _align(item: Item | None, unit: str) -> str:
    if item is None or item.align is None:
        return "-"
    if unit == "sector":
        return f"{item.align} sectors"
    return hexa(item.align, 0)


def describe(change: Change, unit: str) -> tuple[str, str, str]:
    """``(old, new, delta)`` cells of one change."""
    old, new = change.old, change.new
    scale = unit_bytes(unit)
    if change.what == "added" and new is not None:
        return "-", place(new, unit), signed_size(new.size * scale)
    if change.what == "removed" and old is not None:
        return place(old, unit), "-", signed_size(-old.size * scale)
    assert old is not None and new is not None
    delta = change.delta
    if change.what == "moved" and old.start is not None and new.start is not None:
        assert delta is not None
        return address(old.start, unit), address(new.start, unit), signed_size(delta * scale)
    if change.what == "resized":
        assert delta is not None
        return (size_text(old.size * scale), size_text(new.size * scale),
                signed_size(delta * scale))
    if change.what == "realigned":
        return _align(old, unit), _align(new, unit), ""
    if change.what == "content":
        return (old.sha256 or "-")[:12], (new.sha256 or "-")[:12], "sha256"
    if change.what == "kind":
        return old.kind, new.kind, ""
    return "-", "-", ""


def headroom_cells(s: SpaceChange) -> tuple[str, str, str]:
    scale = unit_bytes(s.unit)
    old, new, delta = s.old_headroom, s.new_headroom, s.headroom_delta
    return ("-" if old is None else _room(old * scale),
            "-" if new is None else _room(new * scale),
            "-" if delta is None else ("0" if delta == 0 else signed_size(delta * scale)))


def _room(n: int) -> str:
    return size_text(n) if n >= 0 else f"over by {size_text(-n)}"


def _space_label(s: SpaceChange) -> str:
    side = " (only in NEW)" if s.old is None else " (only in OLD)" if s.new is None else ""
    return f"{s.name} [{s.unit}]{side}"


def _summary(diff: LayoutDiff) -> str:
    counts: dict[str, int] = {}
    for c in diff.changes:
        counts[c.what] = counts.get(c.what, 0) + 1
    parts = [f"{n} {what}" for what, n in counts.items()]
    head = f"{len(diff.changes)} change(s)" + (f" ({', '.join(parts)})" if parts else "")
    return f"{head}, {len(diff.new_overlaps)} new overlap(s)"


def text(diff: LayoutDiff, old_name: str, new_name: str,
         violations: Sequence[str] = ()) -> str:
    """The plain-text report: a summary line, then per space its changes, its overlaps and
    its headroom."""
    lines = [f"{old_name} -> {new_name}: {_summary(diff)}"]
    for s in diff.spaces:
        changes = [c for c in diff.changes if c.space == s.name]
        overlaps = [o for o in diff.overlaps if o.space == s.name]
        hold, hnew, hdelta = headroom_cells(s)
        if not changes and not overlaps and s.headroom_delta in (0, None) and s.old and s.new:
            continue
        lines.append(f"space {_space_label(s)}")
        rows = [(c.what, c.name, *describe(c, s.unit)) for c in changes]
        widths = [max((len(r[i]) for r in rows), default=0) for i in range(5)]
        for r in rows:
            old, new, delta = r[2], r[3], r[4]
            lines.append(f"  {r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  "
                         f"{old:>{widths[2]}} -> {new:<{widths[3]}}  {delta}".rstrip())
        for o in overlaps:
            mark = "NEW overlap" if o.new else "overlap (already in OLD)"
            lines.append(f"  {mark}: {o.a.name} {place(o.a, s.unit)} and "
                         f"{o.b.name} {place(o.b, s.unit)}")
        lines.append(f"  headroom: {hold} -> {hnew}  ({hdelta})")
    lines += [f"FAIL {v}" for v in violations]
    return "\n".join(lines) + "\n"


def _md(cell: str) -> str:
    return cell.replace("|", "\\|") or " "


def markdown(diff: LayoutDiff, old_name: str, new_name: str,
             violations: Sequence[str] = ()) -> str:
    """Markdown for a review: a summary line, then a ``###`` heading and a table per space
    that changed (change, item, old, new, delta), its overlaps and its headroom."""
    out = [f"**Layout diff** `{old_name}` → `{new_name}`: {_summary(diff)}", ""]
    if violations:
        out += ["**Failed checks:**", ""] + [f"- {v}" for v in violations] + [""]
    shown = 0
    for s in diff.spaces:
        changes = [c for c in diff.changes if c.space == s.name]
        overlaps = [o for o in diff.overlaps if o.space == s.name]
        if not changes and not overlaps and s.headroom_delta in (0, None) and s.old and s.new:
            continue
        shown += 1
        hold, hnew, hdelta = headroom_cells(s)
        out += [f"### {_space_label(s)}", ""]
        if changes:
            out += ["| change | item | old | new | delta |", "|---|---|---|---|---|"]
            for c in changes:
                cells = (c.what, f"`{c.name}`", *describe(c, s.unit))
                out.append("| " + " | ".join(_md(x) for x in cells) + " |")
            out.append("")
        for o in overlaps:
            mark = "**new overlap**" if o.new else "overlap (already in OLD)"
            out.append(f"- {mark}: `{o.a.name}` {place(o.a, s.unit)} and `{o.b.name}` "
                       f"{place(o.b, s.unit)}")
        out += [f"Headroom: {hold} → {hnew} ({hdelta})", ""]
    if not shown:
        out += ["No differences.", ""]
    return "\n".join(out)


def _item_json(item: Item | None) -> dict[str, Any] | None:
    if item is None:
        return None
    return {"start": item.start, "size": item.size, "align": item.align,
            "sha256": item.sha256}


def _range(item: Item) -> list[int | None]:
    return [item.start, item.end]


def to_json(diff: LayoutDiff, old_name: str, new_name: str,
            violations: Sequence[str] = ()) -> dict[str, Any]:
    """The documented JSON document (see the module docstring)."""
    units = {s.name: s.unit for s in diff.spaces}
    by_kind: dict[str, int] = {}
    changes = []
    for c in diff.changes:
        by_kind[c.what] = by_kind.get(c.what, 0) + 1
        unit = units.get(c.space, "byte")
        delta = c.delta
        if c.what == "added" and c.new is not None:
            delta = c.new.size
        elif c.what == "removed" and c.old is not None:
            delta = -c.old.size
        item = c.new or c.old
        changes.append({"space": c.space, "unit": unit, "name": c.name, "what": c.what,
                        "kind": item.kind if item is not None else None,
                        "old": _item_json(c.old), "new": _item_json(c.new), "delta": delta,
                        "delta_bytes": None if delta is None else delta * unit_bytes(unit)})
    spaces = []
    for s in diff.spaces:
        d = s.headroom_delta
        spaces.append({"name": s.name, "unit": s.unit, "old_headroom": s.old_headroom,
                       "new_headroom": s.new_headroom, "headroom_delta": d,
                       "headroom_delta_bytes": None if d is None else d * unit_bytes(s.unit)})
    overlaps = [{"space": o.space, "a": o.a.name, "b": o.b.name, "new": o.new,
                 "a_range": _range(o.a), "b_range": _range(o.b)} for o in diff.overlaps]
    return {"format": JSON_FORMAT, "version": JSON_VERSION, "old": old_name, "new": new_name,
            "summary": {"changes": len(diff.changes), "new_overlaps": len(diff.new_overlaps),
                        "by_kind": by_kind},
            "changes": changes, "spaces": spaces, "overlaps": overlaps,
            "violations": list(violations)}


def render(diff: LayoutDiff, fmt: str, old_name: str, new_name: str,
           violations: Sequence[str] = ()) -> str:
    """The report in ``fmt`` (one of :data:`FORMATS`), ending with a newline."""
    if fmt == "json":
        return json.dumps(to_json(diff, old_name, new_name, violations), indent=2) + "\n"
    if fmt == "markdown":
        return markdown(diff, old_name, new_name, violations)
    return text(diff, old_name, new_name, violations)

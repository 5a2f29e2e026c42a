"""The picture of a layout diff: per address space, the old column (labels on its left) and
the new one (labels on its right) side by side, each drawn by the rules of
:mod:`~bootproof.builder.layout.svg`, and between them a line from each item's middle in
the old column to its middle in the new one: :data:`MOVED` blue and thick for an item that
moved, thin grey for the others. Labels carry the change (``moved +0x200000``, ``resized
+0x1000 (+4 KiB)``, ``added``, ``removed``...), the new header the headroom change.

Spaces come in the diff's order (the old layout's, then those only the new one has); a
space one side lacks is drawn as ``(absent)``.
"""

from __future__ import annotations

from bootproof.builder.layout.compare import LayoutDiff, SpaceChange, compare
from bootproof.builder.layout.model import Layout, Space
from bootproof.builder.layout.svg import (
    COL_W,
    GAP,
    MUTED,
    Block,
    Canvas,
    Picture,
    Placed,
    block_of,
    compose,
    header_of,
    human,
    num,
)

#: Colour of the line joining a moved item, and of its labels.
MOVED = "#1f5fbf"
#: Colour of the line joining an item that stayed.
JOIN = "#b4b4b4"
ADDED = "#2a7a2a"
RESIZED = "#8a5a00"
#: Width of the strip between an old and a new column where the joins run, pixels.
LINK = 90.0
UNIT_BYTES = {"byte": 1, "sector": 512}


def signed_size(space: Space, delta: int) -> str:
    sign = "+" if delta >= 0 else "-"
    return f"{delta:+#x} ({sign}{human(abs(delta) * UNIT_BYTES.get(space.unit, 1))})"


def _marks(diff: LayoutDiff, sc: SpaceChange, new_side: bool) -> tuple[dict[str, str],
                                                                        dict[str, str]]:
    """Label suffixes and colours by item name, for one side of one space."""
    space = sc.new if new_side else sc.old
    assert space is not None
    words: dict[str, list[str]] = {}
    colours: dict[str, str] = {}
    for ch in diff.changes:
        if ch.space != sc.name or (ch.what == "removed") == new_side:
            continue
        if ch.what in ("added", "removed"):
            text = ch.what
            colours[ch.name] = ADDED if ch.what == "added" else MUTED
        elif ch.what == "moved":
            text = f"moved {ch.delta:+#x}" if ch.delta is not None else "moved"
            colours[ch.name] = MOVED
        elif ch.what == "resized":
            text = f"resized {signed_size(space, ch.delta or 0)}"
            colours.setdefault(ch.name, RESIZED)
        elif ch.what == "realigned":
            assert ch.old is not None and ch.new is not None
            text = f"align {ch.old.align or 1:#x}->{ch.new.align or 1:#x}"
        elif ch.what == "content":
            text = "content changed"
        else:
            assert ch.old is not None
            text = f"was {ch.old.kind}"
        words.setdefault(ch.name, []).append(text)
    return {k: f"  [{', '.join(v)}]" for k, v in words.items()}, colours


def _block(diff: LayoutDiff, sc: SpaceChange, new_side: bool) -> Block:
    side, tag = ("right", " (new)") if new_side else ("left", " (old)")
    space = sc.new if new_side else sc.old
    if space is None:
        return Block(None, None, [f"{sc.name}{tag}", "absent"], [], [], side)
    header = header_of(space, tag)
    if new_side and sc.headroom_delta is not None:
        header[-1] += f" ({signed_size(space, sc.headroom_delta)})"
    suffixes, colours = _marks(diff, sc, new_side)
    return block_of(space, side=side, header=header, suffixes=suffixes, colours=colours)


def _joins(c: Canvas, diff: LayoutDiff, sc: SpaceChange, old: Placed, new: Placed) -> None:
    if sc.old is None or sc.new is None or old.column is None or new.column is None:
        return
    moved = {ch.name for ch in diff.of("moved") if ch.space == sc.name}
    lines: list[tuple[bool, str]] = []
    for item in sc.old.placed():
        other = sc.new.find(item.name)
        if other is None or other.start is None or item.start is None:
            continue
        y0 = old.top + (old.column.y(item.start) + old.column.y(item.start + item.size)) / 2
        y1 = new.top + (new.column.y(other.start) + new.column.y(other.start + other.size)) / 2
        is_moved = item.name in moved
        colour, width = (MOVED, 2.5) if is_moved else (JOIN, 1.0)
        lines.append((is_moved, f'<line x1="{num(old.x + COL_W)}" y1="{num(y0)}" '
                      f'x2="{num(new.x)}" y2="{num(y1)}" stroke="{colour}" '
                      f'stroke-width="{num(width)}"/>'))
    c.parts += [text for m, text in lines if not m] + [text for m, text in lines if m]


def place_diff(old: Layout, new: Layout, diff: LayoutDiff | None = None, *,
               old_title: str = "old", new_title: str = "new") -> Picture:
    """The picture of ``old`` -> ``new`` (``diff``: their :func:`~bootproof.builder.layout.
    compare.compare`, computed when not given). ``columns`` holds each space's old then
    new column."""
    diff = diff if diff is not None else compare(old, new)
    blocks: list[Block] = []
    gaps: list[float] = []
    for n, sc in enumerate(diff.spaces):
        blocks += [_block(diff, sc, False), _block(diff, sc, True)]
        gaps += [2 * GAP if n else 0.0, LINK]
    title = (f"{old_title} -> {new_title}: {len(diff.changes)} change(s), "
             f"{len(diff.new_overlaps)} new overlap(s)")
    kinds = [i.kind for lay in (old, new) for _, i in lay.items() if i.start is not None]
    c, placed, width, height = compose(blocks, kinds, title, gaps)
    for n, sc in enumerate(diff.spaces):
        _joins(c, diff, sc, placed[2 * n], placed[2 * n + 1])
    svg = c.document(width, height, title)
    return Picture(int(width + 0.999), int(height + 0.999), tuple(placed), svg)


def render_diff(old: Layout, new: Layout, diff: LayoutDiff | None = None, *,
                old_title: str = "old", new_title: str = "new") -> str:
    """SVG text of the diff picture (see :func:`place_diff`)."""
    return place_diff(old, new, diff, old_title=old_title, new_title=new_title).svg

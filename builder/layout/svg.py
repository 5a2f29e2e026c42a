"""A memory-map picture of a layout, as SVG text: one column per address space.

Each space is a column (geometry and scale rules in :mod:`~bootproof.builder.layout.
columns`: low addresses at the top, items to scale with a minimum height, long empty
stretches folded). What is drawn:

* a placed item: a rectangle across the column in its kind's colour (:func:`kind_colours`,
  never red), labelled beside the column with its name, hex range ``[start, end)`` and size;
* an overlap (two items sharing addresses): the shared stretch in :data:`OVERLAP` red, on
  top, with a label naming both;
* a folded stretch: a grey band crossed by two zig-zag lines, labelled ``folded`` and its
  length (``folded 0x3f00000 (63 MiB)``);
* free stretches left unfolded: the background (white);
* the end of a space that an item runs past: a dashed red line;
* items with no address (files inside a filesystem): listed under their space's column.

Above each column its header (name, range, size, headroom); under the picture a legend. The
text is a pure function of the layout: the same layout gives the same bytes. Ranges and
sizes are in the space's unit (sector spaces: sector numbers; sizes also in bytes).

:func:`render` draws one layout; :mod:`~bootproof.builder.layout.svg_diff` draws two side
by side. :func:`place` gives where the columns are, for callers (and tests) that need it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from bootproof.builder.layout.columns import Column, column
from bootproof.builder.layout.model import Item, Layout, Space
from bootproof.builder.report import hexa, size_text

#: Colour of an overlap: the only red in a picture.
OVERLAP = "#e00000"
#: Background, and free stretches.
BACKGROUND = "#ffffff"
#: A folded stretch's band.
FOLD_FILL = "#e4e4e4"
FOLD_LINE = "#555555"
TEXT = "#222222"
MUTED = "#666666"
#: Item colours by kind (:func:`kind_colours`): no red among them.
PALETTE = ("#4e79a7", "#59a14f", "#f28e2b", "#76b7b2", "#edc948", "#b07aa1", "#9c755f",
           "#8cd17d", "#a0cbe8", "#d4a6c8")
#: Width of a column, pixels.
COL_W = 110.0
#: Outer margin, line height, font size and the width of one (monospace) character.
MARGIN = 16.0
LINE = 13.0
FONT = 11
CHAR_W = 6.7
#: Space between a column and its labels, and between two columns' blocks.
LEADER = 22.0
GAP = 30.0
#: Header lines above each column.
HEADER_LINES = 3
#: At most this many items with no address are listed under a column.
MAX_UNPLACED = 40
UNIT_BYTES = {"byte": 1, "sector": 512}

_BAD_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def escape(text: str) -> str:
    """``text`` safe inside an SVG element or a double-quoted attribute: ``& < > " '`` as
    entities, characters XML 1.0 cannot hold as ``\\xNN``/``\\uNNNN``."""
    def sub(m: re.Match[str]) -> str:
        n = ord(m.group())
        return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}"

    text = _BAD_XML.sub(sub, text)
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


def kind_colours(kinds: Iterable[str]) -> dict[str, str]:
    """The fill of each item kind of a picture: the kinds sorted, the n-th gets
    ``PALETTE[n % len(PALETTE)]`` (both layouts' kinds together in a diff)."""
    return {k: PALETTE[n % len(PALETTE)] for n, k in enumerate(sorted(set(kinds)))}


def num(v: float) -> str:
    """A coordinate as written: at most two decimals, no trailing zeros."""
    text = f"{v:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def human(n: int) -> str:
    """The human part of :func:`~bootproof.builder.report.size_text`: ``4 KiB``."""
    return size_text(n).split(" (", 1)[1][:-1]


def size_label(space: Space, n: int) -> str:
    """A size in the space's unit: bytes as ``2 MiB``, sectors as ``0x800 sectors, 1 MiB``."""
    if space.unit == "byte":
        return human(n)
    return f"{n:#x} {space.unit}s, {human(n * UNIT_BYTES.get(space.unit, 1))}"


def range_label(start: int, end: int) -> str:
    return f"{hexa(start)}-{hexa(end)}"


@dataclass(frozen=True)
class Label:
    """A line of text beside a column, wanted at ``y`` (column pixels)."""

    y: float
    text: str
    colour: str = TEXT


@dataclass
class Block:
    """A column with its header, labels and the list under it; ``side`` says where the
    labels go (``right`` or ``left`` of the column)."""

    space: Space | None
    column: Column | None
    header: list[str]
    labels: list[Label]
    notes: list[str]
    side: str = "right"
    placed_y: list[float] = field(default_factory=list)

    @property
    def label_width(self) -> float:
        longest = max((len(t.text) for t in self.labels), default=0)
        return LEADER + longest * CHAR_W if longest else 0.0

    @property
    def width(self) -> float:
        text = max((len(t) for t in (*self.header, *self.notes)), default=0) * CHAR_W
        return max(COL_W + self.label_width, text)

    def spread(self) -> None:
        """Give each label a line of its own: wanted y, or one line below the one above."""
        last = -LINE
        self.placed_y = []
        for label in self.labels:
            last = max(label.y, last + LINE)
            self.placed_y.append(last)

    @property
    def body_height(self) -> float:
        col = self.column.height if self.column is not None else 0.0
        lab = (self.placed_y[-1] + LINE / 2) if self.placed_y else 0.0
        return max(col, lab)

    @property
    def height(self) -> float:
        return self.body_height + (LINE * (len(self.notes) + 1) if self.notes else 0.0)


def header_of(space: Space, suffix: str = "") -> list[str]:
    unit = "" if space.unit == "byte" else f" ({space.unit}s)"
    first = f"{space.name}{unit}{suffix}"
    if space.end is None and not space.placed():
        return [first, "no addresses", f"{len(space.items)} item(s)"]
    if space.end is None:
        return [first, f"from {hexa(space.start)}, no end", f"used to {hexa(space.used_end())}"]
    room = space.headroom()
    return [first, f"{range_label(space.start, space.end)} {size_label(space, space.size or 0)}",
            f"headroom {size_label(space, room) if room is not None and room >= 0 else 'none'}"]


def item_label(space: Space, item: Item, suffix: str = "") -> str:
    assert item.start is not None
    return (f"{item.name}  {range_label(item.start, item.start + item.size)}  "
            f"{size_label(space, item.size)}{suffix}")


def block_of(space: Space, *, side: str = "right", header: Sequence[str] | None = None,
             suffixes: Mapping[str, str] | None = None,
             colours: Mapping[str, str] | None = None) -> Block:
    """The block of one space: geometry, header, item/overlap/fold labels, the unplaced
    list. ``suffixes``/``colours`` by item name add to an item's label (the diff's marks)."""
    col = column(space)
    suffixes = suffixes or {}
    colours = colours or {}
    labels: list[tuple[float, int, Label]] = []
    outsiders = {i.name for i in space.outside()}
    for n, item in enumerate(space.placed()):
        assert item.start is not None
        mid = (col.y(item.start) + col.y(item.start + item.size)) / 2
        outside = item.name in outsiders
        text = item_label(space, item, suffixes.get(item.name, "")
                          + ("  outside the space" if outside else ""))
        labels.append((mid, n, Label(mid, text, OVERLAP if outside
                                     else colours.get(item.name, TEXT))))
    for a, b in space.overlaps():
        lo, hi = max(a.start or 0, b.start or 0), min(a.end or 0, b.end or 0)
        mid = (col.y(lo) + col.y(hi)) / 2
        labels.append((mid, 1 << 30, Label(mid, f"overlap {a.name} / {b.name}  "
                                           f"{range_label(lo, hi)}", OVERLAP)))
    for seg in col.folded():
        mid = (seg.top + seg.bottom) / 2
        length = size_text(seg.length) if space.unit == "byte" else size_label(
            space, seg.length)
        labels.append((mid, -1, Label(mid, f"folded {length}", MUTED)))
    labels.sort(key=lambda t: (t[0], t[1]))
    unplaced = [i for i in space.items if i.start is None]
    notes: list[str] = []
    if unplaced:
        notes.append(f"{len(unplaced)} with no address:")
        notes += [f"  {i.name}  {size_label(space, i.size)}{suffixes.get(i.name, '')}"
                  for i in unplaced[:MAX_UNPLACED]]
        if len(unplaced) > MAX_UNPLACED:
            notes.append(f"  ... and {len(unplaced) - MAX_UNPLACED} more")
    block = Block(space, col, list(header) if header is not None else header_of(space),
                  [t[2] for t in labels], notes, side)
    block.spread()
    return block


class Canvas:
    """The SVG elements of a picture, written in the order they are added."""

    def __init__(self, fills: Mapping[str, str]) -> None:
        self.parts: list[str] = []
        self.fills = dict(fills)

    def rect(self, x: float, y: float, w: float, h: float, fill: str,
             stroke: str | None = None, extra: str = "") -> None:
        line = f' stroke="{stroke}" stroke-width="0.6"' if stroke else ""
        self.parts.append(f'<rect x="{num(x)}" y="{num(y)}" width="{num(w)}" '
                          f'height="{num(h)}" fill="{fill}"{line}{extra}/>')

    def line(self, x1: float, y1: float, x2: float, y2: float, colour: str,
             width: float = 1.0, extra: str = "") -> None:
        self.parts.append(f'<line x1="{num(x1)}" y1="{num(y1)}" x2="{num(x2)}" '
                          f'y2="{num(y2)}" stroke="{colour}" stroke-width="{num(width)}"'
                          f'{extra}/>')

    def text(self, x: float, y: float, text: str, colour: str = TEXT,
             anchor: str = "start", bold: bool = False) -> None:
        weight = ' font-weight="bold"' if bold else ""
        end = ' text-anchor="end"' if anchor == "end" else ""
        self.parts.append(f'<text x="{num(x)}" y="{num(y + FONT * 0.35)}" '
                          f'fill="{colour}"{end}{weight}>{escape(text)}</text>')

    def zigzag(self, x: float, y: float, w: float) -> None:
        points = " ".join(f"{num(x + k * w / 10)},{num(y + (3 if k % 2 else -3))}"
                          for k in range(11))
        self.parts.append(f'<polyline points="{points}" fill="none" stroke="{FOLD_LINE}" '
                          f'stroke-width="1.2"/>')

    def document(self, width: float, height: float, title: str) -> str:
        w, h = int(width + 0.999), int(height + 0.999)
        head = (f'<?xml version="1.0" encoding="UTF-8"?>\n'
                f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
                f'viewBox="0 0 {w} {h}">\n<title>{escape(title)}</title>\n'
                f'<rect x="0" y="0" width="{w}" height="{h}" fill="{BACKGROUND}"/>\n'
                f'<g font-family="DejaVu Sans Mono, monospace" font-size="{FONT}">\n')
        return head + "\n".join(self.parts) + "\n</g>\n</svg>\n"


def draw_block(c: Canvas, b: Block, x: float, header_top: float, top: float) -> float:
    """Draw ``b`` with its column's left edge at ``x`` and its top at ``top``; returns the
    bottom of what was drawn."""
    for n, line in enumerate(b.header):
        hx = x if b.side == "right" else x + COL_W
        c.text(hx, header_top + n * LINE, line, TEXT if n == 0 else MUTED,
               anchor="start" if b.side == "right" else "end", bold=n == 0)
    col, space = b.column, b.space
    if col is None or space is None or not col.segments:
        if not b.notes:
            c.text(x, top + LINE / 2, "(nothing placed)" if space is not None else "(absent)",
                   MUTED)
        _draw_notes(c, b, x, top - LINE / 2)
        return top + max(LINE, b.height)
    c.rect(x, top, COL_W, col.height, BACKGROUND, "#333333")
    for seg in col.folded():
        c.rect(x, top + seg.top, COL_W, seg.bottom - seg.top, FOLD_FILL)
        c.zigzag(x, top + seg.top + 5, COL_W)
        c.zigzag(x, top + seg.bottom - 5, COL_W)
    for item in space.placed():
        assert item.start is not None
        y0, y1 = col.y(item.start), col.y(item.start + item.size)
        if item.size == 0:
            c.line(x, top + y0, x + COL_W, top + y0, c.fills[item.kind], 2)
        else:
            c.rect(x, top + y0, COL_W, y1 - y0, c.fills[item.kind], "#333333")
    for a, d in space.overlaps():
        lo, hi = max(a.start or 0, d.start or 0), min(a.end or 0, d.end or 0)
        c.rect(x, top + col.y(lo), COL_W, col.y(hi) - col.y(lo), OVERLAP)
    if space.outside() and space.end is not None:
        for edge in (space.start, space.end):
            y = top + col.y(edge)
            c.line(x - 6, y, x + COL_W + 6, y, OVERLAP, 1.5, ' stroke-dasharray="4 3"')
    for label, y in zip(b.labels, b.placed_y, strict=True):
        near, far = (x + COL_W, x + COL_W + LEADER) if b.side == "right" else (x, x - LEADER)
        c.line(near, top + label.y, far - (2 if b.side == "right" else -2), top + y,
               "#999999", 0.6)
        c.text(far, top + y, label.text, label.colour,
               anchor="start" if b.side == "right" else "end")
    _draw_notes(c, b, x, top + b.body_height)
    return top + b.height


def _draw_notes(c: Canvas, b: Block, x: float, top: float) -> None:
    """The list under a column (items with no address), from ``top``."""
    for n, note in enumerate(b.notes):  # an indented note: by position (SVG drops spaces)
        indent = (len(note) - len(note.lstrip(" "))) * CHAR_W
        nx, anchor = (x + indent, "start") if b.side == "right" else (x + COL_W, "end")
        c.text(nx, top + LINE * (n + 1), note.lstrip(" "), MUTED if n == 0 else TEXT,
               anchor=anchor)


def draw_legend(c: Canvas, x: float, y: float) -> float:
    """Swatches of the kinds, overlap and folded, in one row; returns its right edge."""
    entries = [*sorted(c.fills.items()), ("overlap", OVERLAP), ("folded", FOLD_FILL)]
    for name, colour in entries:
        c.rect(x, y - 5, 10, 10, colour, "#333333")
        c.text(x + 14, y, name)
        x += 14 + len(name) * CHAR_W + 14
    return x


@dataclass(frozen=True)
class Placed:
    """A column as placed in a picture: left edge ``x`` and top ``top`` in pixels, so that
    address ``a`` of it is at ``(x .. x + COL_W, top + column.y(a))``."""

    column: Column | None
    x: float
    top: float
    side: str


@dataclass(frozen=True)
class Picture:
    width: int
    height: int
    columns: tuple[Placed, ...]
    svg: str


def compose(blocks: Sequence[Block], kinds: Iterable[str], title: str,
            gaps: Sequence[float] | None = None) -> tuple[Canvas, list[Placed], float, float]:
    """Lay ``blocks`` out left to right (``gaps[i]`` before block i, default :data:`GAP`),
    draw them and the legend; returns the canvas, the placed columns, width and height."""
    c = Canvas(kind_colours(kinds))
    c.text(MARGIN, MARGIN, title, TEXT, bold=True)
    header_top = MARGIN + LINE * 2
    top = header_top + LINE * HEADER_LINES
    x = MARGIN
    placed: list[Placed] = []
    bottom = top
    for n, b in enumerate(blocks):
        x += (gaps[n] if gaps is not None else (GAP if n else 0.0))
        col_x = x if b.side == "right" else x + b.width - COL_W
        bottom = max(bottom, draw_block(c, b, col_x, header_top, top))
        placed.append(Placed(b.column, col_x, top, b.side))
        x += b.width
    legend_y = bottom + LINE * 2
    right = draw_legend(c, MARGIN, legend_y)
    width = max(x, right, MARGIN + len(title) * CHAR_W) + MARGIN
    return c, placed, width, legend_y + LINE + MARGIN


def place(layout: Layout, *, title: str | None = None) -> Picture:
    """The picture of ``layout``: its SVG and where each space's column is."""
    title = title if title is not None else f"{layout.target} layout"
    blocks = [block_of(s) for s in layout.spaces]
    kinds = [i.kind for _, i in layout.items() if i.start is not None]
    c, placed, width, height = compose(blocks, kinds, title)
    svg = c.document(width, height, title)
    return Picture(int(width + 0.999), int(height + 0.999), tuple(placed), svg)


def render(layout: Layout, *, title: str | None = None) -> str:
    """SVG text of ``layout``'s memory map (one column per space)."""
    return place(layout, title=title).svg

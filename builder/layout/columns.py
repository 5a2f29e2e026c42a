"""Where a memory-map picture draws each address of a space: the column geometry
:mod:`~bootproof.builder.layout.svg` draws with, kept apart so that the rules below are
plain arithmetic a test can check on its own.

The scale rules of one column (one :class:`~bootproof.builder.layout.model.Space`):

* Low addresses at the top. The column runs from the lower of the space's start and its
  lowest item's start down to the higher of the space's end (the end of its highest item
  when the space has no end) and its highest item's end.
* Cut points: the column's two ends and every placed item's start and end. Between two
  neighbouring cut points lies a *segment*: ``used`` when an item of non-zero size covers
  it, else free.
* A free segment longer than :data:`FOLD_RATIO` times the largest placed item (any free
  segment when nothing with a size is placed) is ``folded``: drawn :data:`FOLD_HEIGHT`
  pixels tall as a marked break, whatever its length. The others are ``free``.
* The remaining (used and free) segments share :data:`BODY_HEIGHT` pixels in proportion to
  their lengths: ``scale = BODY_HEIGHT / (sum of their lengths)``; a used segment is then
  drawn at least :data:`MIN_USED` pixels tall (so that a 4 KiB tag beside a 64 MiB kernel
  stays visible, and a one-byte overlap is still a red band); a free one has no minimum.
* Segments follow each other without space between; within a segment an address is placed
  linearly (:meth:`Column.y`).
"""

from __future__ import annotations

import bisect
import functools
import itertools
from dataclasses import dataclass

from bootproof.builder.layout.model import Space

#: Pixels the unfolded segments share before minimum heights are applied.
BODY_HEIGHT = 360.0
#: Least height of a used segment, in pixels.
MIN_USED = 14.0
#: Height of a folded (long free) segment, in pixels.
FOLD_HEIGHT = 28.0
#: A free stretch is folded when longer than this many times the largest placed item.
FOLD_RATIO = 4
#: What a segment is.
SEGMENT_KINDS = ("used", "free", "folded")


@dataclass(frozen=True)
class Segment:
    """``[start, end)`` of the space, drawn from ``top`` to ``bottom`` (pixels from the top
    of the column)."""

    start: int
    end: int
    kind: str
    top: float
    bottom: float

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Column:
    """The drawn geometry of one space: its segments, top to bottom."""

    space: Space
    segments: tuple[Segment, ...]

    @property
    def height(self) -> float:
        return self.segments[-1].bottom if self.segments else 0.0

    @property
    def start(self) -> int:
        return self.segments[0].start if self.segments else self.space.start

    @property
    def end(self) -> int:
        return self.segments[-1].end if self.segments else self.space.start

    def y(self, addr: int) -> float:
        """Pixels from the column's top to ``addr``: linear within its segment; an address
        outside the column clamps to an end."""
        if not self.segments or addr <= self.start:
            return 0.0
        if addr >= self.end:
            return self.height
        seg = self.segments[bisect.bisect_right(self._ends, addr)]
        frac = (addr - seg.start) / seg.length
        return seg.top + frac * (seg.bottom - seg.top)

    @functools.cached_property
    def _ends(self) -> list[int]:
        return [seg.end for seg in self.segments]

    def folded(self) -> list[Segment]:
        return [s for s in self.segments if s.kind == "folded"]


def column(space: Space) -> Column:
    """The geometry of ``space`` by the module's scale rules."""
    placed = space.placed()
    cuts = {space.start}
    end = space.end if space.end is not None else space.used_end()
    cuts.add(end)
    for item in placed:
        assert item.start is not None
        cuts.update((item.start, item.start + item.size))
    points = sorted(cuts)
    sized = [(i.start or 0, (i.start or 0) + i.size) for i in placed if i.size > 0]
    largest = max((b - a for a, b in sized), default=0)
    # how many items cover each point from it to the next cut point (a sweep over the cuts)
    delta: dict[int, int] = {}
    for a, b in sized:
        delta[a] = delta.get(a, 0) + 1
        delta[b] = delta.get(b, 0) - 1
    spans: list[tuple[int, int, str]] = []
    covering = 0
    for a, b in itertools.pairwise(points):
        covering += delta.get(a, 0)
        if covering > 0:
            kind = "used"
        elif not sized or b - a > FOLD_RATIO * largest:
            kind = "folded"
        else:
            kind = "free"
        spans.append((a, b, kind))
    drawn = sum(b - a for a, b, kind in spans if kind != "folded")
    scale = BODY_HEIGHT / drawn if drawn else 0.0
    segments: list[Segment] = []
    y = 0.0
    for a, b, kind in spans:
        if kind == "folded":
            h = FOLD_HEIGHT
        elif kind == "used":
            h = max(MIN_USED, (b - a) * scale)
        else:
            h = (b - a) * scale
        segments.append(Segment(a, b, kind, y, y + h))
        y += h
    return Column(space, tuple(segments))

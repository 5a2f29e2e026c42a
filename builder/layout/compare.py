"""The one comparison of two layouts: what moved, grew, shrank, appeared, vanished or now
overlaps, and how the headroom of each space changed.

``bootproof diff`` shows it; the boot harness uses it with ``partial=True`` to check a
booted guest's report (which names only what the guest saw) against the build's layout.
Items are matched by space name and item name.

:func:`violations` turns a diff into the ``--fail-on`` verdict CI gates on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bootproof.builder.layout.model import Item, Layout, Space

#: Bytes per unit of a space.
UNIT_BYTES = {"byte": 1, "sector": 512}
#: What a :class:`Change` says happened to an item, in report order.
CHANGE_KINDS = ("removed", "added", "moved", "resized", "realigned", "content", "kind")
#: The ``--fail-on`` rules (``headroom-below`` takes ``=SIZE``).
RULES = ("any", "overlap", "move", "grow", "headroom-below")


@dataclass(frozen=True)
class Change:
    """One thing that differs about one item. ``delta`` is the signed change, in the space's
    unit, of the start (``moved``), the size (``resized``) or the alignment
    (``realigned``); None for the other kinds."""

    space: str
    name: str
    what: str
    old: Item | None
    new: Item | None

    @property
    def delta(self) -> int | None:
        if self.old is None or self.new is None:
            return None
        if self.what == "moved" and self.old.start is not None and self.new.start is not None:
            return self.new.start - self.old.start
        if self.what == "resized":
            return self.new.size - self.old.size
        if self.what == "realigned":
            return (self.new.align or 1) - (self.old.align or 1)
        return None


@dataclass(frozen=True)
class SpaceChange:
    """A space in either layout: its headroom before and after (None: unbounded or absent)."""

    name: str
    unit: str
    old: Space | None
    new: Space | None

    @property
    def old_headroom(self) -> int | None:
        return None if self.old is None else self.old.headroom()

    @property
    def new_headroom(self) -> int | None:
        return None if self.new is None else self.new.headroom()

    @property
    def headroom_delta(self) -> int | None:
        old, new = self.old_headroom, self.new_headroom
        return None if old is None or new is None else new - old


@dataclass(frozen=True)
class Overlap:
    """Two items of the new layout that share addresses; ``new`` when the old layout did not
    have this overlap."""

    space: str
    a: Item
    b: Item
    new: bool


@dataclass(frozen=True)
class LayoutDiff:
    changes: tuple[Change, ...]
    spaces: tuple[SpaceChange, ...]
    overlaps: tuple[Overlap, ...]

    @property
    def new_overlaps(self) -> tuple[Overlap, ...]:
        return tuple(o for o in self.overlaps if o.new)

    def __bool__(self) -> bool:
        """Whether anything differs (a change, or an overlap the old layout did not have)."""
        return bool(self.changes or self.new_overlaps)

    def of(self, what: str) -> list[Change]:
        return [c for c in self.changes if c.what == what]


def _item_changes(space: str, old: Item, new: Item, partial: bool) -> list[Change]:
    out: list[Change] = []

    def known(a: object, b: object) -> bool:
        return not partial or (a is not None and b is not None)

    if old.kind != new.kind and known(old.kind, new.kind):
        out.append(Change(space, old.name, "kind", old, new))
    if old.start != new.start and known(old.start, new.start):
        out.append(Change(space, old.name, "moved", old, new))
    if old.size != new.size:
        out.append(Change(space, old.name, "resized", old, new))
    if (old.align or 1) != (new.align or 1) and known(old.align, new.align):
        out.append(Change(space, old.name, "realigned", old, new))
    if (old.sha256 != new.sha256 and old.sha256 is not None and new.sha256 is not None
            and old.size == new.size):
        out.append(Change(space, old.name, "content", old, new))
    return out


def _pair_keys(overlaps: Iterable[tuple[Item, Item]]) -> set[frozenset[str]]:
    return {frozenset((a.name, b.name)) for a, b in overlaps}


def compare(old: Layout, new: Layout, *, partial: bool = False) -> LayoutDiff:
    """Every difference from ``old`` to ``new``.

    ``partial``: ``new`` reports only part of what ``old`` holds (a booted guest's view):
    spaces and items it lacks are not "removed", and a field it leaves unknown (None) is
    not compared.
    """
    changes: list[Change] = []
    spaces: list[SpaceChange] = []
    overlaps: list[Overlap] = []
    names = [s.name for s in old.spaces] + [s.name for s in new.spaces
                                             if old.space(s.name) is None]
    for name in names:
        a, b = old.space(name), new.space(name)
        if b is None and partial:
            continue
        either = b or a
        assert either is not None  # every name comes from one of the two layouts
        spaces.append(SpaceChange(name, either.unit, a, b))
        a_items = {i.name: i for i in a.items} if a is not None else {}
        b_items = {i.name: i for i in b.items} if b is not None else {}
        for item_name, item in a_items.items():
            if item_name not in b_items:
                if not partial:
                    changes.append(Change(name, item_name, "removed", item, None))
            else:
                changes += _item_changes(name, item, b_items[item_name], partial)
        for item_name, item in b_items.items():
            if item_name not in a_items:
                changes.append(Change(name, item_name, "added", None, item))
        if b is not None:
            before = _pair_keys(a.overlaps()) if a is not None else set()
            overlaps += [Overlap(name, x, y, frozenset((x.name, y.name)) not in before)
                         for x, y in b.overlaps()]
    order = {k: n for n, k in enumerate(CHANGE_KINDS)}
    changes.sort(key=lambda c: (names.index(c.space), order[c.what],
                                _sort_start(c), c.name))
    return LayoutDiff(tuple(changes), tuple(spaces), tuple(overlaps))


def _sort_start(c: Change) -> int:
    item = c.new or c.old
    return -1 if item is None or item.start is None else item.start


@dataclass(frozen=True)
class Rule:
    """One ``--fail-on`` rule: its name and, for ``headroom-below``, the size in bytes."""

    name: str
    size: int = 0

    def __str__(self) -> str:
        return f"{self.name}={self.size}" if self.name == "headroom-below" else self.name


def violations(diff: LayoutDiff, rules: Sequence[Rule]) -> list[str]:
    """One line per rule the diff breaks (empty: the gate passes)."""
    out: list[str] = []
    for rule in rules:
        if rule.name == "any" and diff:
            out.append(f"any: {len(diff.changes)} change(s), "
                       f"{len(diff.new_overlaps)} new overlap(s)")
        elif rule.name == "overlap":
            out += [f"overlap: {o.a.name} and {o.b.name} in {o.space}"
                    for o in diff.new_overlaps]
        elif rule.name == "move":
            out += [f"move: {c.name} in {c.space} by {c.delta:+#x}" for c in diff.of("moved")
                    if c.delta is not None]
        elif rule.name == "grow":
            out += [f"grow: {c.name} in {c.space} by {c.delta:+#x}"
                    for c in diff.of("resized") if c.delta is not None and c.delta > 0]
        elif rule.name == "headroom-below":
            for s in diff.spaces:
                room = s.new_headroom
                if room is not None and room * UNIT_BYTES.get(s.unit, 1) < rule.size:
                    out.append(f"headroom-below: {s.name} has "
                               f"{room * UNIT_BYTES.get(s.unit, 1)} bytes free, "
                               f"below {rule.size}")
    return out

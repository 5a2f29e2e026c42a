"""The one layout model: address spaces holding placed items, and its versioned JSON.

Every builder describes what it made in these terms (``--map``/``--json``), the harness
parses a booted guest's report into them, and :mod:`bootproof.builder.layout.compare`
compares two of them, for the guest check and for ``bootproof diff`` alike.

* :class:`Item` one thing placed in a space: its ``kind`` (``program``, ``module``,
  ``partition``, ``file``...), a ``name`` unique in its space, ``start`` and ``size`` in the
  space's unit, the ``align`` it was placed with, the ``source`` file it came from with its
  ``sha256``, and free ``attrs``. A file inside a filesystem has no address: ``start`` is
  None (it can be added, removed or resized, never moved).
* :class:`Space` an address space: RAM, flash, an args.bin's bytes, a disk's sectors. Its
  ``size`` is None when the space has no known end (then it has no headroom).
* :class:`Layout` the spaces of one build, its ``target`` (``xous``, ``xen``, ``disk``),
  and ``detail``: the target's own document (the one earlier versions wrote), kept whole so
  that readers of the target format lose nothing.

The JSON form is ``{"format": "bootproof-layout", "version": 1, ...}``; its JSON Schema
ships beside this module (``layout-v1.schema.json``, :func:`schema_text`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from bootproof.builder.errors import FormatError
from bootproof.builder.layout.ranges import AddressRange

FORMAT = "bootproof-layout"
VERSION = 1
#: Units of a space: bytes, or 512-byte disk sectors.
UNITS = ("byte", "sector")
#: The scalar types an attribute may hold (JSON: string, integer, boolean, null).
AttrValue = str | int | bool | None


@dataclass(frozen=True)
class Item:
    """One placed (or, with ``start`` None, contained) thing in a :class:`Space`."""

    kind: str
    name: str
    start: int | None
    size: int
    align: int | None = None
    source: str | None = None
    sha256: str | None = None
    attrs: Mapping[str, AttrValue] = field(default_factory=dict)

    @property
    def placed(self) -> bool:
        return self.start is not None

    @property
    def range(self) -> AddressRange:
        """``[start, start + size)``; a ValueError for an item with no address."""
        if self.start is None:
            raise ValueError(f"{self.name} has no address")
        return AddressRange(self.start, self.size)

    @property
    def end(self) -> int | None:
        return None if self.start is None else self.start + self.size

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "name": self.name, "start": self.start,
                               "size": self.size}
        if self.align is not None:
            out["align"] = self.align
        if self.source is not None:
            out["source"] = self.source
        if self.sha256 is not None:
            out["sha256"] = self.sha256
        if self.attrs:
            out["attrs"] = dict(sorted(self.attrs.items()))
        return out


@dataclass(frozen=True)
class Space:
    """An address space ``[start, start + size)`` in ``unit`` s and what is placed in it."""

    name: str
    unit: str
    start: int
    size: int | None
    items: tuple[Item, ...] = ()
    attrs: Mapping[str, AttrValue] = field(default_factory=dict)

    @property
    def end(self) -> int | None:
        return None if self.size is None else self.start + self.size

    def find(self, name: str) -> Item | None:
        for item in self.items:
            if item.name == name:
                return item
        return None

    def placed(self) -> list[Item]:
        """The items with an address, by start then size."""
        return sorted((i for i in self.items if i.start is not None),
                      key=lambda i: (i.start or 0, i.size, i.name))

    def used_end(self) -> int:
        """The end of the highest placed item (the space's start when nothing is placed)."""
        return max((i.end or 0 for i in self.placed()), default=self.start)

    def headroom(self) -> int | None:
        """Free units from the end of the highest item to the end of the space (None when the
        space has no end; negative when an item runs past it)."""
        end = self.end
        return None if end is None else end - self.used_end()

    def gaps(self) -> list[AddressRange]:
        """The free stretches between ``start`` and the highest item (and up to the end of a
        bounded space), overlapping items merged."""
        out: list[AddressRange] = []
        cursor = self.start
        for item in self.placed():
            assert item.start is not None
            if item.start > cursor:
                out.append(AddressRange(cursor, item.start - cursor))
            cursor = max(cursor, item.start + item.size)
        end = self.end
        if end is not None and end > cursor:
            out.append(AddressRange(cursor, end - cursor))
        return out

    def overlaps(self) -> list[tuple[Item, Item]]:
        """Every pair of placed items sharing an address (empty items share none), in start
        order; adjacent items do not overlap."""
        placed = [i for i in self.placed() if i.size > 0]
        out: list[tuple[Item, Item]] = []
        for n, a in enumerate(placed):
            for b in placed[n + 1:]:
                if a.range.overlaps(b.range):
                    out.append((a, b))
                elif (b.start or 0) >= (a.end or 0):
                    break
        return out

    def outside(self) -> list[Item]:
        """Placed items that do not lie wholly inside a bounded space."""
        if self.size is None:
            return []
        whole = AddressRange(self.start, self.size)
        return [i for i in self.placed() if not whole.contains(i.range)]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "unit": self.unit, "start": self.start,
                               "size": self.size, "items": [i.to_json() for i in self.items]}
        if self.attrs:
            out["attrs"] = dict(sorted(self.attrs.items()))
        return out


@dataclass(frozen=True)
class Layout:
    """What one build placed where: its spaces, and the target's own ``detail`` document."""

    target: str
    spaces: tuple[Space, ...]
    detail: Mapping[str, Any] | None = None
    attrs: Mapping[str, AttrValue] = field(default_factory=dict)

    def space(self, name: str) -> Space | None:
        for s in self.spaces:
            if s.name == name:
                return s
        return None

    def items(self) -> Iterator[tuple[Space, Item]]:
        for s in self.spaces:
            for i in s.items:
                yield s, i

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": FORMAT, "version": VERSION, "target": self.target,
                               "spaces": [s.to_json() for s in self.spaces]}
        if self.attrs:
            out["attrs"] = dict(sorted(self.attrs.items()))
        if self.detail is not None:
            out["detail"] = dict(self.detail)
        return out

    @classmethod
    def from_json(cls, data: object, *, path: str | None = None) -> Layout:
        """Read :meth:`to_json` output back. Raises FormatError naming the field (with its
        JSON path, e.g. ``spaces[0].items[3].size``) and the value when it is not one, and
        naming the version when it is a newer layout than this bootproof reads."""
        return _Reader(path).layout(data)

    def validate(self) -> None:
        """FormatError for names that repeat in a space, units outside :data:`UNITS`, or
        negative sizes (what the schema cannot say)."""
        names: set[str] = set()
        for s in self.spaces:
            if s.name in names:
                raise FormatError("space name repeats", field="spaces", value=s.name)
            names.add(s.name)
            seen: set[str] = set()
            for i in s.items:
                if i.name in seen:
                    raise FormatError(f"item name repeats in space {s.name!r}",
                                      field="items", value=i.name)
                seen.add(i.name)


def unique_names(names: Iterable[str]) -> list[str]:
    """``names`` with a repeated one numbered from its second use (``NAME #2``...), as
    item names must be unique in their space."""
    seen: dict[str, int] = {}
    out: list[str] = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return out


def schema_text() -> str:
    """The JSON Schema of :data:`VERSION` (draft 2020-12), as shipped in the package."""
    # Imported here: importlib.resources is a fifth of `bootproof diff`'s imports, and only
    # the schema needs it (python -X importtime).
    from importlib import resources

    return (resources.files("bootproof.builder.layout") / "layout-v1.schema.json").read_text(
        encoding="utf-8")


class _Reader:
    """Reads the JSON form field by field, so that an error names where it is."""

    def __init__(self, path: str | None) -> None:
        self.path = path

    def fail(self, where: str, what: str, value: object) -> FormatError:
        return FormatError(f"layout JSON: {where} {what}", path=self.path, field=where,
                           value=value)

    def obj(self, data: object, where: str) -> Mapping[str, Any]:
        if not isinstance(data, Mapping):
            raise self.fail(where, "must be an object", type(data).__name__)
        return data

    def int_(self, data: Mapping[str, Any], key: str, where: str, *, null: bool = False,
             minimum: int | None = 0) -> Any:
        value = data.get(key)
        if value is None and null:
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(f"{where}.{key}", "must be an integer", value)
        if minimum is not None and value < minimum:
            raise self.fail(f"{where}.{key}", f"must be at least {minimum}", value)
        return value

    def str_(self, data: Mapping[str, Any], key: str, where: str, *,
             null: bool = False) -> Any:
        value = data.get(key)
        if value is None and null:
            return None
        if not isinstance(value, str):
            raise self.fail(f"{where}.{key}", "must be a string", value)
        return value

    def attrs(self, data: Mapping[str, Any], where: str) -> dict[str, AttrValue]:
        raw = self.obj(data.get("attrs", {}), f"{where}.attrs")
        for k, v in raw.items():
            if v is not None and not isinstance(v, str | int | bool):
                raise self.fail(f"{where}.attrs.{k}", "must be a string, integer, "
                                "boolean or null", v)
        return dict(raw)

    def item(self, data: object, where: str) -> Item:
        d = self.obj(data, where)
        return Item(kind=self.str_(d, "kind", where), name=self.str_(d, "name", where),
                    start=self.int_(d, "start", where, null=True),
                    size=self.int_(d, "size", where),
                    align=self.int_(d, "align", where, null=True, minimum=1),
                    source=self.str_(d, "source", where, null=True),
                    sha256=self.str_(d, "sha256", where, null=True),
                    attrs=self.attrs(d, where))

    def space(self, data: object, where: str) -> Space:
        d = self.obj(data, where)
        unit = self.str_(d, "unit", where)
        if unit not in UNITS:
            raise self.fail(f"{where}.unit", f"must be one of {', '.join(UNITS)}", unit)
        items = d.get("items")
        if not isinstance(items, list):
            raise self.fail(f"{where}.items", "must be a list", items)
        return Space(name=self.str_(d, "name", where), unit=unit,
                     start=self.int_(d, "start", where),
                     size=self.int_(d, "size", where, null=True),
                     items=tuple(self.item(x, f"{where}.items[{n}]")
                                 for n, x in enumerate(items)),
                     attrs=self.attrs(d, where))

    def layout(self, data: object) -> Layout:
        d = self.obj(data, "document")
        if d.get("format") != FORMAT:
            raise self.fail("format", f"is not {FORMAT!r} (not a bootproof layout)",
                            d.get("format"))
        version = d.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise self.fail("version", "must be a positive integer", version)
        if version > VERSION:
            raise self.fail("version", f"is newer than this bootproof reads (up to "
                            f"{VERSION}); upgrade bootproof", version)
        spaces = d.get("spaces")
        if not isinstance(spaces, list):
            raise self.fail("spaces", "must be a list", spaces)
        detail = d.get("detail")
        layout = Layout(target=self.str_(d, "target", "document"),
                        spaces=tuple(self.space(s, f"spaces[{n}]")
                                     for n, s in enumerate(spaces)),
                        detail=None if detail is None else self.obj(detail, "detail"),
                        attrs=self.attrs(d, "document"))
        try:
            layout.validate()
        except FormatError as exc:
            exc.path = exc.path or self.path
            raise
        return layout


def target_detail(data: object, target: str, *,
                  path: str | None = None) -> Mapping[str, Any] | None:
    """The target's own document inside a layout document (its ``detail``), for the readers
    of the documents earlier versions wrote; None when ``data`` is not a layout document
    (``format`` is not :data:`FORMAT`: an older document, read as before).

    Raises FormatError (naming ``path``) for a layout document this bootproof cannot read
    (a newer version names it), one of another target, or one without a detail."""
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        return None
    layout = Layout.from_json(data, path=path)
    if layout.target != target:
        raise FormatError(f"a {layout.target} layout, not a {target} one", path=path,
                          field="target", value=layout.target)
    if layout.detail is None:
        raise FormatError(f"the {target} layout has no detail (the {target} document)",
                          path=path, field="detail", value=None)
    return layout.detail

"""builder/layout: the layout model, its JSON and schema, the comparison and the --fail-on
rules, on small layouts whose answers are worked out by hand in each test."""

from __future__ import annotations

import json

import jsonschema
import pytest

from bootproof.builder.errors import FormatError
from bootproof.builder.layout.compare import Rule, compare, violations
from bootproof.builder.layout.model import Item, Layout, Space, schema_text

MIB = 1 << 20


def ram(*items: Item, size: int | None = 64 * MIB) -> Layout:
    return Layout("xen", (Space("ram", "byte", 0x40000000, size, items),))


def item(name: str, start: int | None, size: int, **kw: object) -> Item:
    return Item(kind=str(kw.pop("kind", "module")), name=name, start=start, size=size,
                **kw)  # type: ignore[arg-type]


def test_space_headroom_gaps_and_overlaps() -> None:
    space = ram(item("a", 0x40200000, 0x100000), item("b", 0x40280000, 0x100000),
                item("c", 0x40600000, 0x1000), item("f", None, 77)).spaces[0]
    # end of space 0x44000000, highest end 0x40601000
    assert space.headroom() == 0x44000000 - 0x40601000
    assert [(g.start, g.size) for g in space.gaps()] == [
        (0x40000000, 0x200000), (0x40380000, 0x280000), (0x40601000, 0x44000000 - 0x40601000)]
    assert [(a.name, b.name) for a, b in space.overlaps()] == [("a", "b")]
    assert Space("flash", "byte", 0, None, space.items).headroom() is None


def test_adjacent_and_empty_items_do_not_overlap() -> None:
    space = ram(item("a", 0x40000000, 0x1000), item("b", 0x40001000, 0x1000),
                item("z", 0x40000800, 0)).spaces[0]
    assert space.overlaps() == []


def test_json_round_trip_and_schema() -> None:
    layout = Layout("disk", (Space("disk", "sector", 0, 2048, (
        item("p1", 2048, 1024, kind="partition", align=2048, attrs={"fs": "vfat"}),
        item("boot/Image", None, 5, kind="file", source="Image", sha256="ab" * 32),
    )),), detail={"scheme": "dos"})
    doc = layout.to_json()
    jsonschema.validate(doc, json.loads(schema_text()))
    back = Layout.from_json(json.loads(json.dumps(doc)))
    assert back == layout


@pytest.mark.parametrize(("mutate", "field", "value"), [
    (lambda d: d.update(version=2), "version", 2),
    (lambda d: d.update(format="xous-args"), "format", "xous-args"),
    (lambda d: d["spaces"][0].update(unit="page"), "spaces[0].unit", "page"),
    (lambda d: d["spaces"][0]["items"][0].update(size=-1), "spaces[0].items[0].size", -1),
    (lambda d: d["spaces"][0]["items"][0].update(start="0x10"), "spaces[0].items[0].start",
     "0x10"),
])
def test_bad_documents_name_field_and_value(mutate: object, field: str, value: object) -> None:
    doc = ram(item("a", 0x40000000, 16)).to_json()
    mutate(doc)  # type: ignore[operator]
    with pytest.raises(FormatError) as info:
        Layout.from_json(doc, path="old.json")
    assert info.value.field == field
    assert info.value.value == value
    assert info.value.path == "old.json"
    # and the shipped schema refuses the same document
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, json.loads(schema_text()))


def test_repeated_item_name_is_refused() -> None:
    doc = ram(item("a", 0x40000000, 16), item("a", 0x40001000, 16)).to_json()
    with pytest.raises(FormatError, match="repeats"):
        Layout.from_json(doc)


def test_compare_moves_resizes_adds_removes() -> None:
    old = ram(item("k", 0x40200000, 0x1F0000), item("r", 0x40400000, 0x1000),
              item("gone", 0x40600000, 0x10))
    new = ram(item("k", 0x40200000, 0x210000), item("r", 0x40600000, 0x1000),
              item("new", 0x40800000, 0x10))
    diff = compare(old, new)
    assert [(c.what, c.name, c.delta) for c in diff.changes] == [
        ("removed", "gone", None), ("added", "new", None),
        ("moved", "r", 0x200000), ("resized", "k", 0x20000)]
    (space,) = diff.spaces
    # old highest end 0x40600010, new 0x40800010: 2 MiB less room
    assert space.headroom_delta == -0x200000
    assert not diff.new_overlaps
    assert compare(old, old).changes == ()
    assert not compare(old, old)


def test_compare_reports_only_new_overlaps() -> None:
    old = ram(item("a", 0x40000000, 0x2000), item("b", 0x40001000, 0x1000),
              item("c", 0x40004000, 0x1000))
    new = ram(item("a", 0x40000000, 0x2000), item("b", 0x40001000, 0x1000),
              item("c", 0x40003000, 0x2000), item("d", 0x40004000, 0x10))
    diff = compare(old, new)
    assert [(o.a.name, o.b.name, o.new) for o in diff.overlaps] == [
        ("a", "b", False), ("c", "d", True)]


def test_partial_compare_ignores_what_the_guest_does_not_report() -> None:
    built = ram(item("k", 0x40200000, 0x1000, align=0x200000, sha256="00" * 32),
                item("d", 0x40400000, 0x10))
    seen = ram(item("k", 0x40200000, 0x1000))
    assert not compare(built, seen, partial=True)
    moved = ram(item("k", 0x40201000, 0x1000))
    assert [c.what for c in compare(built, moved, partial=True).changes] == ["moved"]


def test_content_change_needs_both_hashes_and_same_size() -> None:
    old = ram(item("k", 0x40200000, 16, sha256="00" * 32))
    new = ram(item("k", 0x40200000, 16, sha256="11" * 32))
    assert [c.what for c in compare(old, new).changes] == ["content"]


def test_fail_on_rules() -> None:
    old = ram(item("k", 0x40200000, 0x100000), item("r", 0x40400000, 0x1000))
    new = ram(item("k", 0x40200000, 0x300000), item("r", 0x40400000, 0x1000))
    diff = compare(old, new)
    assert violations(diff, [Rule("move")]) == []
    assert violations(diff, [Rule("grow")]) == ["grow: k in ram by +0x200000"]
    assert violations(diff, [Rule("overlap")]) == ["overlap: k and r in ram"]
    # new highest end 0x40500000; space end 0x44000000: 0x3B00000 bytes free
    assert violations(diff, [Rule("headroom-below", 0x3B00000)]) == []
    assert len(violations(diff, [Rule("headroom-below", 0x3B00001)])) == 1
    assert violations(compare(old, old), [Rule("any")]) == []
    assert len(violations(diff, [Rule("any")])) == 1


def test_sector_headroom_counts_bytes() -> None:
    disk = Layout("disk", (Space("disk", "sector", 0, 4096,
                                 (item("p1", 2048, 1024, kind="partition"),)),))
    diff = compare(disk, disk)
    # 1024 sectors free = 512 KiB
    assert violations(diff, [Rule("headroom-below", 512 * 1024)]) == []
    assert violations(diff, [Rule("headroom-below", 512 * 1024 + 1)]) != []

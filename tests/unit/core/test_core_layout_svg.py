"""builder/layout/svg: the memory-map picture. The geometry is checked against positions
worked out by hand from the scale rules (columns.py's docstring); the pictures are
rasterised with a real renderer (rsvg-convert) and the colours read back from the PNG at
those positions; the SVG text is parsed as XML."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import require_tool
from pngread import Png, read_png

from bootproof.builder.layout.columns import BODY_HEIGHT, FOLD_HEIGHT, MIN_USED, column
from bootproof.builder.layout.model import Item, Layout, Space
from bootproof.builder.layout.svg import COL_W, PALETTE, escape, place, render
from bootproof.builder.layout.svg_diff import place_diff, render_diff

SVG = "{http://www.w3.org/2000/svg}"
KIB, MIB = 1 << 10, 1 << 20
WHITE = (255, 255, 255)
RED = (0xE0, 0, 0)
FOLD_GREY = (0xE4, 0xE4, 0xE4)
MOVED_BLUE = (0x1F, 0x5F, 0xBF)


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return (int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16))


def close(a: tuple[int, int, int], b: tuple[int, int, int], tol: int = 12) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def rasterise(svg: str, tmp_path: Path, name: str = "pic") -> Png:
    require_tool("rsvg-convert")
    src, png = tmp_path / f"{name}.svg", tmp_path / f"{name}.png"
    src.write_text(svg, encoding="utf-8")
    subprocess.run(["rsvg-convert", "-o", str(png), str(src)], check=True)
    return read_png(png)


BASE = 0x10000000


def linear() -> Layout:
    """1 MiB of RAM: kernel [0, 256K), free [256K, 384K), app [384K, 640K), dma
    [576K, 768K) overlapping app by 64 KiB, free [768K, 1M). Every used stretch is drawn
    taller than MIN_USED and nothing is folded (no gap passes 4 x 256 KiB), so the column is
    one linear scale: y = (addr - BASE) * BODY_HEIGHT / 1 MiB."""
    return Layout("xous", (Space("ram", "byte", BASE, MIB, (
        Item("kernel", "kernel", BASE, 256 * KIB),
        Item("program", "app", BASE + 384 * KIB, 256 * KIB),
        Item("program", "dma", BASE + 576 * KIB, 192 * KIB),
    )),))


def y_linear(addr: int) -> float:
    return (addr - BASE) * BODY_HEIGHT / MIB


def test_linear_geometry_is_to_scale() -> None:
    col = column(linear().spaces[0])
    assert [(s.start - BASE, s.end - BASE, s.kind) for s in col.segments] == [
        (0, 256 * KIB, "used"), (256 * KIB, 384 * KIB, "free"),
        (384 * KIB, 576 * KIB, "used"), (576 * KIB, 640 * KIB, "used"),
        (640 * KIB, 768 * KIB, "used"), (768 * KIB, MIB, "free")]
    for addr in (BASE, BASE + 100 * KIB, BASE + 600 * KIB, BASE + MIB):
        assert col.y(addr) == pytest.approx(y_linear(addr))
    assert col.height == pytest.approx(BODY_HEIGHT)


def test_folding_and_minimum_heights() -> None:
    # 256 MiB: a 1 MiB kernel at 0, a 4 KiB tag at 240 MiB. Both free stretches pass
    # 4 x 1 MiB: folded. The two used ones share BODY_HEIGHT by length, the tag then gets
    # MIN_USED pixels.
    space = Space("ram", "byte", 0, 256 * MIB, (Item("kernel", "k", 0, MIB),
                                                Item("tag", "t", 240 * MIB, 4 * KIB)))
    col = column(space)
    scale = BODY_HEIGHT / (MIB + 4 * KIB)
    k_h = MIB * scale
    assert [s.kind for s in col.segments] == ["used", "folded", "used", "folded"]
    edges = [k_h, k_h + FOLD_HEIGHT, k_h + FOLD_HEIGHT + MIN_USED,
             k_h + 2 * FOLD_HEIGHT + MIN_USED]
    assert [s.bottom for s in col.segments] == pytest.approx(edges)
    assert [s.top for s in col.segments] == pytest.approx([0.0, *edges[:3]])
    assert [s.length for s in col.folded()] == [239 * MIB, 16 * MIB - 4 * KIB]
    svg = render(Layout("xous", (space,)))
    assert "folded 0xef00000 (239 MiB)" in svg
    assert "t  0x0f000000-0x0f001000  4 KiB" in svg


def test_pixels_of_items_overlap_and_gaps(tmp_path: Path) -> None:
    pic = place(linear())
    png = rasterise(pic.svg, tmp_path)
    (ram,) = pic.columns
    x = ram.x + COL_W / 2
    colours = {"kernel": rgb(PALETTE[0]), "program": rgb(PALETTE[1])}  # kinds sorted
    expect = [
        (BASE + 128 * KIB, colours["kernel"]),
        (BASE + 320 * KIB, WHITE),                 # the free stretch
        (BASE + 480 * KIB, colours["program"]),    # app alone
        (BASE + 608 * KIB, RED),                   # app and dma
        (BASE + 704 * KIB, colours["program"]),    # dma alone
        (BASE + 896 * KIB, WHITE),                 # headroom
    ]
    for addr, want in expect:
        got = png.rgb(x, ram.top + y_linear(addr))
        assert close(got, want), (hex(addr), got, want)
    # and outside the column, left of it, nothing is drawn
    assert png.rgb(ram.x - 4, ram.top + y_linear(BASE + 608 * KIB)) == WHITE


def test_pixels_of_a_folded_stretch(tmp_path: Path) -> None:
    space = Space("ram", "byte", 0, 256 * MIB, (Item("kernel", "k", 0, MIB),
                                                Item("tag", "t", 240 * MIB, 4 * KIB)))
    pic = place(Layout("xous", (space,)))
    png = rasterise(pic.svg, tmp_path)
    (ram,) = pic.columns
    k_h = MIB * BODY_HEIGHT / (MIB + 4 * KIB)
    x = ram.x + COL_W / 2
    assert close(png.rgb(x, ram.top + k_h / 2), rgb(PALETTE[0]))            # kernel
    assert close(png.rgb(x, ram.top + k_h + FOLD_HEIGHT / 2), FOLD_GREY)    # the fold
    assert close(png.rgb(x, ram.top + k_h + FOLD_HEIGHT + MIN_USED / 2),
                 rgb(PALETTE[1]))                                           # the tag


def test_diff_joins_a_moved_item(tmp_path: Path) -> None:
    old = linear()
    ram = old.spaces[0]
    new = dataclasses.replace(old, spaces=(dataclasses.replace(ram, items=(
        ram.items[0], Item("program", "app", BASE + 384 * KIB, 256 * KIB),
        Item("program", "dma", BASE + 768 * KIB, 192 * KIB))),))
    pic = place_diff(old, new, old_title="a.json", new_title="b.json")
    png = rasterise(pic.svg, tmp_path)
    o, n = pic.columns
    # new layout: nothing overlaps, free [256K,384K) and [640K,768K), dma to 960K:
    # still linear (no item below MIN_USED, no fold)
    y_old = o.top + y_linear(BASE + 672 * KIB)            # dma's middle before
    y_new = n.top + y_linear(BASE + 864 * KIB)            # and after
    mid = ((o.x + COL_W + n.x) / 2, (y_old + y_new) / 2)
    assert close(png.rgb(*mid), MOVED_BLUE, tol=40), png.rgb(*mid)
    # the kernel stayed: its join is grey, not blue
    y_k = o.top + y_linear(BASE + 128 * KIB)
    grey = png.rgb((o.x + COL_W + n.x) / 2, y_k)
    assert grey != WHITE and not close(grey, MOVED_BLUE, tol=60), grey
    # the old column still shows the overlap, the new one does not
    assert close(png.rgb(o.x + COL_W / 2, o.top + y_linear(BASE + 608 * KIB)), RED)
    assert close(png.rgb(n.x + COL_W / 2, n.top + y_linear(BASE + 608 * KIB)),
                 rgb(PALETTE[1]))
    assert "dma  0x10000000" not in pic.svg  # labels are [start, end): dma starts later
    assert "[moved +0x30000]" in pic.svg


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg.encode("utf-8"))
    assert root.tag == f"{SVG}svg"
    w, h = int(root.attrib["width"]), int(root.attrib["height"])
    assert root.attrib["viewBox"] == f"0 0 {w} {h}"
    assert w > COL_W and h > BODY_HEIGHT
    return root


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


NASTY = "a<b>&\"c'\x01\x7f"


def nasty_layout() -> Layout:
    return Layout("disk", (
        Space("disk", "sector", 0, 4096, (
            Item("partition", NASTY, 2048, 1024),
            Item("partition", "p2", 3000, 2000),          # runs past the end: outside
            Item("file", "boot/Image", None, 5000),
            Item("file", "boot/<dtb>", None, 40),
        )),
        Space("empty", "byte", 0x1000, None, ()),
        Space("files", "byte", 0, None, (Item("file", "etc/motd", None, 10),)),
    ), detail={"scheme": "dos"})


def test_svg_is_well_formed_and_escaped() -> None:
    for svg in (render(nasty_layout()),
                render_diff(linear(), nasty_layout(), old_title="<old>", new_title="&new")):
        lines = texts(parse(svg))
        assert any(t.startswith("a<b>&\"c'\\x01\\x7f  ") for t in lines), lines
    # a space one side lacks is drawn as absent on that side
    diff_lines = texts(parse(render_diff(linear(), nasty_layout())))
    assert diff_lines[diff_lines.index("ram (new)"):][:2] == ["ram (new)", "absent"]
    assert diff_lines[diff_lines.index("disk (old)"):][:2] == ["disk (old)", "absent"]
    lines = texts(parse(render(nasty_layout())))
    # the files with no address are listed under the disk, with sizes in bytes too
    assert "boot/Image  0x1388 sectors, 2.4 MiB" in lines
    assert "boot/<dtb>  0x28 sectors, 20 KiB" in lines
    assert "2 with no address:" in lines
    assert any(t.startswith("p2  0x00000bb8-0x00001388") and t.endswith("outside the space")
               for t in lines)
    assert "(nothing placed)" in lines
    # a space of files only: no column, its files listed
    assert "no addresses" in lines and "etc/motd  10 B" in lines


def test_same_layout_same_bytes() -> None:
    layout = nasty_layout()
    again = Layout.from_json(json.loads(json.dumps(layout.to_json())))
    assert render(layout) == render(again)
    assert render_diff(linear(), layout) == render_diff(linear(), again)


def test_escape() -> None:
    assert escape("<a href='x'>&\"") == "&lt;a href=&#39;x&#39;&gt;&amp;&quot;"
    assert escape("\x00\ufffe") == "\\x00\\ufffe"

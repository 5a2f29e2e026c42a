"""``bootproof diff --svg``: the picture of the two layouts, written with the report or not
at all, never over an input."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bootproof.builder.layout.model import Item, Layout, Space
from bootproof.harness.cli import main

MIB = 1 << 20
BASE = 0x40000000
SVG = "{http://www.w3.org/2000/svg}"


def _write(path: Path, ramdisk_start: int) -> Path:
    items = (Item("module", "kernel", BASE + 0x200000, 0x180000),
             Item("module", "ramdisk", ramdisk_start, 0x100000))
    path.write_text(json.dumps(Layout("xen", (Space("ram", "byte", BASE, 64 * MIB,
                                                    items),)).to_json()))
    return path


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    """The ramdisk moves up by 2 MiB."""
    return (_write(tmp_path / "old.json", BASE + 0x400000),
            _write(tmp_path / "new.json", BASE + 0x600000))


def test_svg_shows_both_layouts(pair: tuple[Path, Path], tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    old, new = pair
    out = tmp_path / "diff.svg"
    assert main(["diff", str(old), str(new), "--svg", str(out)]) == 0
    assert "ramdisk" in capsys.readouterr().out  # the report still goes to stdout
    root = ET.fromstring(out.read_bytes())
    assert root.tag == f"{SVG}svg"
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    assert f"{old} -> {new}: 1 change(s), 0 new overlap(s)" in texts
    # new: 0x40600000 + 1 MiB, moved by +2 MiB
    assert "ramdisk  0x40600000-0x40700000  1 MiB  [moved +0x200000]" in texts
    assert "ram (old)" in texts and "ram (new)" in texts
    # one thick join for the moved item
    assert [ln.attrib["stroke-width"] for ln in root.iter(f"{SVG}line")
            if ln.attrib["stroke"] == "#1f5fbf"] == ["2.5"]


def test_svg_and_report_are_written_together_or_not_at_all(
        pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = pair
    report = tmp_path / "report.md"
    assert main(["diff", str(old), str(new), "-o", str(report),
                 "--svg", str(tmp_path / "missing" / "d.svg")]) == 2
    assert "missing" in capsys.readouterr().err
    assert not report.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.json", "old.json"]


@pytest.mark.parametrize("target", ["new", "report"])
def test_svg_never_overwrites_an_input_or_the_report(
        pair: tuple[Path, Path], tmp_path: Path, target: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    old, new = pair
    before = new.read_bytes()
    svg = new if target == "new" else tmp_path / "report.md"
    assert main(["diff", str(old), str(new), "-o", str(tmp_path / "report.md"),
                 "--svg", str(svg)]) == 2
    err = capsys.readouterr().err
    assert str(svg) in err
    assert new.read_bytes() == before
    assert not (tmp_path / "report.md").exists()

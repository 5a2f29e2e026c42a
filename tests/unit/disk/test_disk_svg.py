"""disk_image / ``bootproof xen disk --svg``: the disk's sectors drawn as an SVG memory map
(label, partitions; the boot partition's files listed), written with the image or not at
all, never over an input."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import require_tool
from disk_testutil import sfdisk_json, write_small_inputs

from bootproof.builder.disk.cli import main
from bootproof.harness.cli import main as bootproof_main

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    require_tool("dtc", "mkfs.vfat", "mcopy")
    d = tmp_path / "in"
    d.mkdir()
    write_small_inputs(d, image=b"\1" * 5000, xen=b"\2" * 3000)
    (d / "boot.scr").write_bytes(bytes(80))
    (d / "boot.source").write_text("booti\n")
    return d


def _texts(path: Path) -> list[str]:
    root = ET.fromstring(path.read_bytes())
    assert root.tag == f"{SVG}svg"
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def test_svg_shows_the_partitions_and_boot_files(inputs: Path) -> None:
    require_tool("sfdisk")
    img, svg = inputs / "disk.img", inputs / "disk.svg"
    assert main(["-c", str(inputs / "config"), "-d", str(inputs), "-o", str(img), "-q",
                 "--svg", str(svg)]) == 0
    texts = _texts(svg)
    (part,) = sfdisk_json(img)["partitions"]
    start, size = part["start"], part["size"]
    # the partition as sfdisk reads it from the label, in sectors, with its size in bytes
    assert any(f"  0x{start:08x}-0x{start + size:08x}  0x{size:x} sectors" in t
               for t in texts), texts
    # the files copied into the boot partition, listed with their sizes
    assert "Image  4.9 KiB" in texts and "xen  2.9 KiB" in texts, texts
    assert "boot.scr  80 B" in texts
    again = inputs / "again.svg"
    assert bootproof_main(["xen", "disk", "-c", str(inputs / "config"), "-d", str(inputs),
                           "-o", str(img), "-q", "--svg", str(again)]) == 0
    assert again.read_bytes() == svg.read_bytes()


def test_svg_is_written_with_the_image_or_not_at_all(
        inputs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img, js = inputs / "disk.img", inputs / "disk.json"
    before = sorted(p.name for p in inputs.iterdir())
    config = inputs / "config"
    text = config.read_bytes()
    for svg, message in ((inputs / "missing-dir" / "d.svg", "missing-dir"),
                         (config, "one of the inputs"), (js, "--svg names the same file as --json"),
                         (img, "--svg names the same file as -o")):
        assert main(["-c", str(config), "-d", str(inputs), "-o", str(img), "-q",
                     "--json", str(js), "--svg", str(svg)]) == 2
        assert message in capsys.readouterr().err
        assert sorted(p.name for p in inputs.iterdir()) == before
    assert config.read_bytes() == text

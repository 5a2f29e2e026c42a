"""uboot-script-gen / ``bootproof xen script --svg``: the planned RAM drawn as an SVG memory
map, written with the script or not at all, never over an input."""

from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from xen_testlib import DOM0, HEAD, host_dtb, work

from bootproof.builder.xen.cli import main
from bootproof.harness.cli import main as bootproof_main

__all__ = ["host_dtb", "work"]
SVG = "{http://www.w3.org/2000/svg}"


def _texts(path: Path) -> list[str]:
    root = ET.fromstring(path.read_bytes())
    assert root.tag == f"{SVG}svg"
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def _config(work: Path) -> Path:
    path = work / "config"
    path.write_text(HEAD + DOM0)
    return path


def test_svg_shows_what_the_script_loads(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(work)
    svg = work / "ram.svg"
    assert main(["-c", str(config), "-d", str(work), "-t", "tftp", "-o", "boot",
                 "--svg", str(svg)]) == 0
    loads = re.findall(r"^tftpb (0x[0-9a-fA-F]+) (\S+)$",
                       (work / "boot.source").read_text(), re.M)
    assert {name for _, name in loads} >= {"xen", "Image", "rootfs.cpio.gz", "virt.dtb"}
    texts = _texts(svg)
    assert texts[1] == "ram"                    # the one column: RAM from MEMORY_START
    assert texts[2].startswith("0x40000000-0x80000000 1 GiB")
    for addr, name in loads:
        start = int(addr, 16)
        if name == "virt.dtb":
            continue  # loaded as patched at boot: its slot is larger than the file
        data = (work / name).read_bytes()
        # an arm64 Image takes the image_size of its header (offset 16), the rest their bytes
        size = struct.unpack_from("<Q", data, 16)[0] if name == "Image" else len(data)
        assert any(f"  0x{start:08x}-0x{start + size:08x}  " in t for t in texts), (name, texts)
    # `bootproof xen script` draws the same picture
    again = work / "again.svg"
    assert bootproof_main(["xen", "script", "-c", str(config), "-d", str(work), "-t", "tftp",
                           "-o", "boot", "--svg", str(again)]) == 0
    assert again.read_bytes() == svg.read_bytes()


def test_svg_is_written_with_the_script_or_not_at_all(
        work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(work)
    before = config.read_bytes()
    missing = work / "missing-dir" / "ram.svg"
    assert main(["-c", str(config), "-d", str(work), "-o", "boot", "--map",
                 str(work / "m.json"), "--svg", str(missing)]) == 1
    assert "missing-dir" in capsys.readouterr().err
    assert not (work / "boot.scr").exists() and not (work / "m.json").exists()
    for target in (config, work / "m.json"):
        assert main(["-c", str(config), "-d", str(work), "-o", "boot", "--map",
                     str(work / "m.json"), "--svg", str(target)]) == 1
        assert "output" in capsys.readouterr().err
        assert not (work / "boot.scr").exists() and not (work / "m.json").exists()
    assert config.read_bytes() == before

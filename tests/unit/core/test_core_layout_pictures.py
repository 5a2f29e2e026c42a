"""The README's memory-map pictures (docs/images/*.svg) are ci/layout_pictures.py's output
for the bundled examples as they build today, the README shows each of them, and a real
renderer draws them."""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path
from types import ModuleType

import pytest
from conftest import require_tool

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "ci" / "layout_pictures.py"
IMAGES = ROOT / "docs" / "images"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("layout_pictures", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.cross
def test_committed_pictures_are_the_scripts_output(tmp_path: Path) -> None:
    # the Xous example's guests are cross-built; the Xen example's board DTB is dumped by QEMU
    require_tool("riscv64-unknown-elf-gcc", "qemu-system-aarch64")
    drawn = _script().pictures(tmp_path)
    assert sorted(drawn) == sorted(p.name for p in IMAGES.glob("*.svg"))
    for name, svg in drawn.items():
        assert (IMAGES / name).read_text(encoding="utf-8") == svg, (
            f"docs/images/{name} is stale: run python ci/layout_pictures.py")


def test_readme_shows_every_picture() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = set(re.findall(r"!\[[^\]]+\]\((docs/images/[^)]+\.svg)\)", readme))
    assert shown == {f"docs/images/{p.name}" for p in IMAGES.glob("*.svg")}
    assert shown, "the README shows no picture"


@pytest.mark.parametrize("name", sorted(p.name for p in IMAGES.glob("*.svg")))
def test_a_renderer_draws_the_committed_pictures(name: str, tmp_path: Path) -> None:
    require_tool("rsvg-convert")
    out = tmp_path / "p.png"
    subprocess.run(["rsvg-convert", "-o", str(out), str(IMAGES / name)], check=True)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

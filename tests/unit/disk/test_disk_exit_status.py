"""Exit status of the ImageBuilder-named commands, as the README's "Exit codes" says.

``uboot-script-gen`` keeps ImageBuilder's 1 for every error; ``disk_image`` and the
``bootproof xen`` commands use the project's codes: 2 bad input or usage, 3 a tool failed.
Each failing run leaves no output behind.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_paths import run_cli
from conftest import require_tool
from disk_testutil import SMALL_CONFIG, write_small_inputs


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    require_tool("dtc")
    d = tmp_path / "in"
    d.mkdir()
    write_small_inputs(d, image=b"\0" * 4096, xen=b"\0" * 4096)
    (d / "bad.config").write_text(SMALL_CONFIG + "DOM0_RAMDISK=missing.cpio.gz\n")
    return d


def _no_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An empty PATH: every external tool is missing."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))


@pytest.mark.parametrize(("command", "bad_input", "usage", "tool"), [
    (["uboot-script-gen"], 1, 1, 1),
    (["bootproof", "xen", "script"], 2, 2, 3),
])
def test_script_exit_status(inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            command: list[str], bad_input: int, usage: int, tool: int) -> None:
    before = sorted(p.name for p in inputs.iterdir())
    r = run_cli([*command, "-c", "bad.config", "-d", "."], inputs)
    assert r.returncode == bad_input, r.stderr
    assert "missing.cpio.gz" in r.stderr
    assert run_cli([*command, "-c", "config", "-d", ".", "--no-such-flag"],
                   inputs).returncode == usage
    _no_path(monkeypatch, tmp_path)
    r = run_cli([*command, "-c", "config", "-d", ".", "-f"], inputs)  # FIT needs mkimage
    assert r.returncode == tool, r.stderr
    assert "mkimage" in r.stderr
    assert sorted(p.name for p in inputs.iterdir()) == before


@pytest.mark.parametrize("command", [["disk_image"], ["bootproof", "xen", "disk"]])
def test_disk_image_exit_status(inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                command: list[str]) -> None:
    (inputs / "boot.scr").write_bytes(bytes(80))
    (inputs / "boot.source").write_text("booti\n")
    before = sorted(p.name for p in inputs.iterdir())
    r = run_cli([*command, "-c", "bad.config", "-d", ".", "-o", "disk.img"], inputs)
    assert r.returncode == 2, r.stderr
    assert "missing.cpio.gz" in r.stderr
    r = run_cli([*command, "-c", "config", "-d", ".", "-o", "disk.img", "--no-such-flag"],
                inputs)
    assert r.returncode == 2, r.stderr
    _no_path(monkeypatch, tmp_path)
    r = run_cli([*command, "-c", "config", "-d", ".", "-o", "disk.img"], inputs)
    assert r.returncode == 3, r.stderr
    assert "mkfs.vfat" in r.stderr
    assert sorted(p.name for p in inputs.iterdir()) == before

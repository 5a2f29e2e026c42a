"""``bootproof demo``: each example runs, a failed boot is reported and counted."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import require_tool

from bootproof.harness import demo
from bootproof.harness.cli import main
from bootproof.harness.core.errors import BadPattern


def test_a_failed_example_does_not_stop_the_next(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    ran: list[str] = []

    def broken_xous(workdir: Path) -> int:
        ran.append("xous")
        raise BadPattern("loader said no", pattern_name="loader error",
                         matched_line="LOADER ERROR: no kernel definition")

    def good_xen(workdir: Path, *, offline: bool = False) -> int:
        ran.append("xen")
        return 0

    monkeypatch.setattr(demo, "xous_example", broken_xous)
    monkeypatch.setattr(demo, "xen_example", good_xen)
    assert main(["demo", "--workdir", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert ran == ["xous", "xen"]
    assert "== Xous example: FAILED" in out and "== Xen dom0less example: PASSED" in out
    assert "Xous example: loader said no" in err


@pytest.mark.e2e
def test_xous_demo_boots_and_verifies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_tool("qemu-system-riscv32", "riscv64-unknown-elf-gcc")
    assert main(["demo", "--only", "xous", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "== Xous example: PASSED" in out
    assert "the loader's view equals the layout report" in out
    assert (tmp_path / "xous" / "args.bin").is_file()

"""``bootproof xen boot``: stages printed as they pass, the log path, and the exit status."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import require_tool

from bootproof.harness.cli import main
from bootproof.harness.xen.guests import GuestSet, prepare_guest_set
from bootproof.harness.xen.scenarios import DomUSpec, scenario_config, write_scenario

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def guests(tmp_path_factory: pytest.TempPathFactory) -> GuestSet:
    require_tool("qemu-system-aarch64", "mkimage", "dpkg-deb", "apt-get")
    return prepare_guest_set(tmp_path_factory.mktemp("cli-guests"), progress=None)


def _config(guests: GuestSet) -> Path:
    return write_scenario(guests, "cli", scenario_config(
        guests, dom0_marker=None, domus=[DomUSpec("CLIDOMU", mem_mb=128, vcpus=1)]))


def test_boot_passes_and_prints_stages(guests: GuestSet, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["xen", "boot", "-c", str(_config(guests)), "-d", str(guests.directory),
                 "--expect", "Freed", "--log-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    for stage in ("U-Boot prompt", "script loaded", "Xen banner", "LOADING DOMU d1",
                  "marker CLIDOMU", "expected text 'Freed'", "layout matches report"):
        assert f"ok  {stage}" in out
    assert f"serial log: {tmp_path / 'xen-boot.serial.log'}" in out
    assert (tmp_path / "xen-boot.serial.log").stat().st_size > 0


def test_unmet_expectation_exits_1_naming_it(guests: GuestSet, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["xen", "boot", "-c", str(_config(guests)), "-d", str(guests.directory),
                 "--expect", "THIS TEXT NEVER APPEARS", "--timeout", "40",
                 "--log-dir", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 1
    assert "ok  marker CLIDOMU" in captured.out  # the stages that did pass are shown
    assert "THIS TEXT NEVER APPEARS" in captured.err
    assert str(tmp_path / "xen-boot.serial.log") in captured.err

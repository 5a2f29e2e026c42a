"""Upstream ImageBuilder's 2024-2025 vocabulary, each proven by a boot (issue 11).

QEMU aarch64 + Debian's U-Boot 2023.01 + Xen 4.17 (Debian's, or built from its source),
through :func:`bootproof.harness.xen.flow.run_boot`: every stage, every domain's marker,
and the layout U-Boot and Xen report against the generator's (with ``-s``, against the
layout U-Boot computed and printed, itself checked against the rules first).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import require_tool

from bootproof.harness.xen.flow import run_boot
from bootproof.harness.xen.generated import generate
from bootproof.harness.xen.guests import GuestSet, prepare_guest_set
from bootproof.harness.xen.scenarios import DomUSpec, scenario_config, write_scenario

pytestmark = pytest.mark.e2e

TOOLS = ("qemu-system-aarch64", "mkimage", "dpkg-deb", "apt-get")


@pytest.fixture(scope="module")
def guests(tmp_path_factory: pytest.TempPathFactory) -> GuestSet:
    require_tool(*TOOLS)
    return prepare_guest_set(tmp_path_factory.mktemp("guests-upstream"), progress=None)


def _names(report: object) -> list[str]:
    return [s.name for s in report.stages]  # type: ignore[attr-defined]


def test_calc_mode_u_boot_computes_the_layout(guests: GuestSet, tmp_path: Path) -> None:
    """``-s``: no address in the script; U-Boot places every file at run time. The layout
    it printed keeps the rules (2 MiB aligned, in order, each right after the one before,
    sizes equal to the files), and TFTP and Xen report the files there."""
    cfg = write_scenario(guests, "calc", scenario_config(
        guests, domus=[DomUSpec("CALC1", mem_mb=192), DomUSpec("CALC2", mem_mb=128)]))
    gen = generate(cfg, guests.directory, calc=True)
    source = (guests.directory / "boot.source").read_text()
    assert not re.search(r"^tftpb 0x", source, re.MULTILINE)  # every load at ${memaddr}
    report = run_boot(gen, log_dir=tmp_path)
    names = _names(report)
    assert "run-time layout keeps the rules" in names and names[-1] == "layout matches report"
    assert set(report.markers) == {"dom0", "domU0", "domU1"}
    assert report.markers["domU0"].ram_bytes == 192 << 20

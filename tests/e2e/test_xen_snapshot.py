"""Boot once, test many: the bundled Xen example booted once per session (``xen_booted``),
and five tests resumed from that one snapshot, each running commands in dom0 and a domU.

Each test first checks that the file the tests write is absent in both domains, then
writes it: had a test started from the state a previous test left (rather than from the
snapshot), the file would be there.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool
from procread import read_until

from bootproof.harness.boot_fixtures import BootproofAssets, XenSnapshots
from bootproof.harness.xen.flow import run_boot
from bootproof.harness.xen.generated import generate
from bootproof.harness.xen.scenarios import (
    DomUSpec,
    example_config,
    scenario_config,
    write_scenario,
)
from bootproof.harness.xen.snapshot import XenSnapshot, snapshot_steps

pytestmark = pytest.mark.e2e

WRITTEN = "/tmp/written-by-a-test"
#: vCPUs of each domain in examples/xen/config: dom0_max_vcpus=1 in XEN_CMD; domU0 takes
#: the default, 1.
CPUS = {"dom0": 1, "domU0": 1}


@pytest.fixture(scope="module")
def example(bootproof_assets: BootproofAssets, xen_booted: XenSnapshots,
            tmp_path_factory: pytest.TempPathFactory) -> XenSnapshot:
    require_tool("qemu-system-aarch64", "mkimage")
    guests = bootproof_assets.xen_guests(tmp_path_factory.mktemp("snapshot-guests"))
    return xen_booted(example_config(guests), guests.directory)


@pytest.mark.parametrize("n", range(5))
def test_each_test_starts_from_the_snapshot(example: XenSnapshot, boot_log_dir: Path,
                                            n: int) -> None:
    domu = "domU0"  # domU1's second vCPU stalls after a resume: see the README
    with example.resume(boot_log_dir) as xen:
        for domain in ("dom0", domu):
            before = xen.run(domain, f"ls {WRITTEN}")
            assert before.status != 0, f"{domain}: an earlier test's file is there"
            assert "No such file" in before.output
            assert xen.run(domain, f"echo test{n} > {WRITTEN}").status == 0
            back = xen.run(domain, f"cat {WRITTEN}; grep -c ^processor /proc/cpuinfo")
            assert back.status == 0
            assert back.output.split() == [f"test{n}", str(CPUS[domain])]
        failing = xen.run(domu, "false")
        assert failing.status == 1


def test_a_resumed_boots_repro_script_runs_it_again(example: XenSnapshot,
                                                    boot_log_dir: Path) -> None:
    """The repro.sh of a resume loads the same state without QMP (the state was saved
    from a running guest, so it runs by itself once loaded) and types the same command:
    the shell's answer, computed in dom0, comes back."""
    with example.resume(boot_log_dir, name="resumed") as xen:
        assert xen.run("dom0", "echo repro-$((6*7))").output == "repro-42"
    script = boot_log_dir / "resumed.repro.sh"
    assert f"3<{example.state_path}" in script.read_text()
    multiplier = float(os.environ.get("BOOTPROOF_TIMEOUT_MULTIPLIER", "1"))
    proc = subprocess.Popen(["sh", str(script)], cwd="/", stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        out = read_until(proc, re.compile(rb"\nrepro-42\r?\r?\n"), 60 * multiplier)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the script's own process group: sh, QEMU, tee
        proc.wait(timeout=60)
    assert re.search(rb"\nrepro-42\r?\r?\n", out), out[-2000:]


def test_a_snapshot_without_dom0_resumes(bootproof_assets: BootproofAssets,
                                         tmp_path: Path) -> None:
    """True dom0less: no dom0 shell to wake after the resume, and none is waited for."""
    require_tool("qemu-system-aarch64", "mkimage")
    guests = bootproof_assets.xen_guests(tmp_path / "guests")
    cfg = write_scenario(guests, "nodom0", scenario_config(
        guests, dom0_marker=None, domus=[DomUSpec("SNAPDOMU", mem_mb=128)]))
    gen = generate(cfg, guests.directory)
    run_boot(gen, log_dir=tmp_path / "boot", at_end=snapshot_steps(gen, tmp_path / "snap"))
    snap = XenSnapshot.read(tmp_path / "snap")
    assert "dom0" not in snap.domids and "domU0" in snap.domids
    with snap.resume(tmp_path / "resume", timeout=20) as xen:
        assert [s.name for s in xen.stages] == ["resumed"]
        assert xen.machine.is_running()

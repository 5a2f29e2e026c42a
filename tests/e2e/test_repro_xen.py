"""A Xen boot's ``xen-boot.repro.sh`` re-runs it without Python (U-Boot typed at the same
points), and ``xen-boot.run.json`` names the versions of U-Boot, Xen and Linux it booted."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool
from procread import read_until

from bootproof.harness.xen.flow import run_boot
from bootproof.harness.xen.generated import generate
from bootproof.harness.xen.guests import GuestSet, prepare_guest_set
from bootproof.harness.xen.scenarios import DomUSpec, scenario_config, write_scenario

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def guests(tmp_path_factory: pytest.TempPathFactory) -> GuestSet:
    require_tool("qemu-system-aarch64", "mkimage", "dpkg-deb", "apt-get")
    return prepare_guest_set(tmp_path_factory.mktemp("repro-guests"), progress=None)


def test_repro_script_boots_xen_again(guests: GuestSet, tmp_path: Path) -> None:
    cfg = write_scenario(guests, "repro", scenario_config(
        guests, dom0_marker=None, domus=[DomUSpec("REPRODOMU", mem_mb=128)]))
    logs = tmp_path / "logs"
    result = run_boot(generate(cfg, guests.directory), log_dir=logs)
    record = json.loads((logs / "xen-boot.run.json").read_text())
    assert record["verdict"] == "passed"
    assert [s["name"] for s in record["stages"]] == [s.name for s in result.stages]
    # versions from three places the harness does not control: the Debian packages
    assert guests.xen_version in record["versions"]["xen"]
    assert f"Debian {guests.kernel_version}" in record["versions"]["linux"]
    uboot = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "u-boot-qemu"],
                           capture_output=True, text=True, check=True).stdout
    assert record["versions"]["u-boot"].startswith(uboot)
    roles = {f["role"] for f in record["inputs"]}
    assert {"ImageBuilder config", "boot script", "xen", "board DTB"} <= roles

    multiplier = float(os.environ.get("BOOTPROOF_TIMEOUT_MULTIPLIER", "1"))
    proc = subprocess.Popen(["sh", str(logs / "xen-boot.repro.sh")], cwd="/",
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out = read_until(proc, re.compile(rb"=== TESTMARKER REPRODOMU UP [^\n]*==="),
                          180 * multiplier)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the script's own process group: sh, QEMU, tee
        proc.wait(timeout=60)
    text = out.decode(errors="replace")
    assert "## Executing script at" in text, text[-3000:]
    assert "=== TESTMARKER REPRODOMU UP cpus=1" in text, text[-3000:]

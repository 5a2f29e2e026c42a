"""``--interactive`` on ``bootproof xen boot`` and ``bootproof xous boot``, run in a
pseudo-terminal as a person would: type a command at the dom0 shell, read its answer, leave
with Ctrl-]; QEMU is stopped afterwards (checked by PID)."""

from __future__ import annotations

import sys
from pathlib import Path

import pexpect
import pytest
from conftest import require_tool

from bootproof.harness.core.deadline import timeout_multiplier
from bootproof.harness.core.handover import ESCAPE
from bootproof.harness.core.processes import pid_alive
from bootproof.harness.xen.guests import GuestSet, prepare_guest_set
from bootproof.harness.xen.scenarios import (
    DOM0_CMD,
    DomUSpec,
    scenario_config,
    write_scenario,
)
from bootproof.harness.xous.example import build_example

pytestmark = pytest.mark.e2e

BOOTPROOF = str(Path(sys.executable).with_name("bootproof"))


def _spawn(args: list[str], seconds: float) -> pexpect.spawn:
    return pexpect.spawn(BOOTPROOF, args, encoding="utf-8", codec_errors="replace",
                         timeout=seconds * timeout_multiplier(), dimensions=(40, 200))


@pytest.fixture(scope="module")
def guests(tmp_path_factory: pytest.TempPathFactory) -> GuestSet:
    require_tool("qemu-system-aarch64", "mkimage", "dpkg-deb", "apt-get")
    return prepare_guest_set(tmp_path_factory.mktemp("interactive-guests"), progress=None)


def test_dom0_shell_answers_then_ctrl_bracket_leaves(guests: GuestSet, tmp_path: Path) -> None:
    values = scenario_config(guests, dom0_marker="DOM0", domus=[DomUSpec("DOMU1", mem_mb=128)])
    values["DOM0_CMD"] = f"{DOM0_CMD} marker=DOM0 shell=1"  # the test init's shell (initramfs.py)
    cfg = write_scenario(guests, "interactive", values)
    child = _spawn(["xen", "boot", "-c", str(cfg), "-d", str(guests.directory), "--interactive",
                    "--log-dir", str(tmp_path)], 240)
    try:
        child.expect(r"ok  layout matches report")  # the checks pass first
        child.expect(r"console of QEMU \(pid (\d+)\) is yours")
        pid = int(child.match.group(1))
        child.send("echo $((6 * 7)) $(uname -m)\r")
        child.expect(r"\r\n42 aarch64\r\n")  # dom0 computed it: not in what was typed
        child.send(ESCAPE)
        child.expect(rf"left with Ctrl-\]; stopping QEMU \(pid {pid}\)")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before
    assert not pid_alive(pid)
    assert "42 aarch64" in (tmp_path / "xen-boot.serial.log").read_text()


def test_xous_boot_says_when_qemu_has_already_exited(tmp_path: Path) -> None:
    """The test kernel powers the board off after its checks: nothing to hand over."""
    require_tool("riscv64-unknown-elf-gcc", "qemu-system-riscv32")
    example = build_example(tmp_path / "ex", count=1)
    child = _spawn(["xous", "boot", str(example.args_bin), "--interactive",
                    "--log-dir", str(tmp_path / "logs")], 60)
    try:
        child.expect(r"\[ok\] power-off")
        child.expect(r"interactive: QEMU has exited \(status 0\); there is no console")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0

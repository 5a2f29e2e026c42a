"""The pytest plugin, exercised by running pytest on small generated test files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tool
from harness_testlib import CC, QEMU, TEST_BOARD, build_guest, guest_dir

from bootproof.harness.core.processes import pid_alive

__all__ = ["guest_dir"]

INNER = '''
import os
from pathlib import Path

from bootproof.harness.core.boards import load_board
from bootproof.harness.core.deadline import Deadline

BOARD = load_board(os.environ["BP_BOARD"])
EXTRA = ["-kernel", os.environ["BP_ELF"]]


def test_multiplier_reaches_deadlines():
    assert os.environ["BOOTPROOF_TIMEOUT_MULTIPLIER"] == "2"
    assert Deadline(1).seconds == 2


def test_hang_fails_with_logs(qemu_machine_factory, boot_log_dir):
    m = qemu_machine_factory(BOARD, extra=EXTRA)
    Path(os.environ["BP_PIDS"], "failing").write_text(str(m.pid))
    m.console.expect("GUEST DONE", Deadline(0.5, multiplier=1.0))


def test_leak_is_detected(monkeypatch, qemu_machine_factory):
    # monkeypatch first: it is undone after the factory's teardown check
    from bootproof.harness.core.machine import QemuMachine
    m = qemu_machine_factory(BOARD, extra=EXTRA, name="leaky")
    Path(os.environ["BP_PIDS"], "leaky").write_text(str(m.pid))
    monkeypatch.setattr(QemuMachine, "shutdown", lambda self, timeout=0: None)
'''


def _run_inner(tmp_path: Path, env_extra: dict[str, str],
               *args: str) -> subprocess.CompletedProcess[str]:
    inner = tmp_path / "inner"
    inner.mkdir(exist_ok=True)
    (inner / "test_inner_boot.py").write_text(INNER)
    env = {**os.environ, **env_extra}
    env.pop("BOOTPROOF_TIMEOUT_MULTIPLIER", None)
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
         "-q", "--rootdir", str(inner), "--basetemp", str(tmp_path / "inner-tmp"), *args,
         str(inner)],
        cwd=inner, env=env, capture_output=True, text=True, timeout=300, check=False,
    )


@pytest.mark.e2e
def test_plugin_fixtures_and_failure_report(guest_dir: Path, tmp_path: Path) -> None:
    require_tool(QEMU, CC)
    pids = tmp_path / "pids"
    pids.mkdir()
    env = {"BP_BOARD": str(TEST_BOARD), "BP_ELF": str(build_guest("hang", guest_dir)),
           "BP_PIDS": str(pids)}
    proc = _run_inner(tmp_path, env, "--timeout-multiplier", "2")
    out = proc.stdout + proc.stderr
    leaky = int((pids / "leaky").read_text())
    try:
        assert proc.returncode == 1, out
        assert "1 failed, 2 passed, 1 error" in out, out
        # the failing boot: its log directory and serial-log tail are in the report
        assert "boot logs in" in out and "qemu.serial.log (last 25 lines)" in out
        assert "waiting forever" in out
        assert "timed out after 0.5 s waiting for 'GUEST DONE'" in out
        # ...and the script that re-runs that boot, and its run record
        assert "repro script: " in out and "/qemu.repro.sh" in out
        assert "run record: " in out and "/qemu.run.json" in out
        # the factory's PID check catches a machine that was not shut down
        assert f"QEMU process(es) still alive after the test: [{leaky}]" in out
    finally:
        if pid_alive(leaky):
            os.kill(leaky, signal.SIGKILL)
    assert not pid_alive(int((pids / "failing").read_text()))


def test_bad_multiplier_is_a_usage_error(tmp_path: Path) -> None:
    proc = _run_inner(tmp_path, {"BP_BOARD": "x", "BP_ELF": "x", "BP_PIDS": "x"},
                      "--timeout-multiplier", "0")
    assert proc.returncode == 4
    assert "--timeout-multiplier='0'" in proc.stderr and "> 0" in proc.stderr

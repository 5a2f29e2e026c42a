"""QemuMachine + Console against real tiny RV32 guests under qemu-system-riscv32.

The guests (guests/*.S) are assembled at test time; what each prints is fixed in its source,
so expectations below come from those sources, not from the harness.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import require_tool
from harness_testlib import CC, QEMU, TEST_BOARD, build_guest, guest_dir

from bootproof.builder.cliutil import run_main
from bootproof.harness.core.boards import load_board
from bootproof.harness.core.deadline import Deadline
from bootproof.harness.core.errors import (
    BadPattern,
    BootTimeout,
    InfrastructureError,
    LayoutMismatch,
    UnexpectedExit,
    check_layout,
)
from bootproof.harness.core.machine import QemuMachine
from bootproof.harness.core.machinestate import save_state
from bootproof.harness.core.processes import pid_alive
from bootproof.harness.pytest_plugin import MachineFactory

__all__ = ["guest_dir"]  # the fixture, imported for pytest

pytestmark = pytest.mark.e2e


def _machine(guest: str, guest_dir: Path, log_dir: Path, *, qmp: bool = True,
             name: str = "qemu") -> QemuMachine:
    require_tool(QEMU, CC)
    elf = build_guest(guest, guest_dir)
    board = load_board(TEST_BOARD)
    return QemuMachine.from_board(board, extra=["-kernel", str(elf)], log_dir=log_dir,
                                  name=name, qmp=qmp)


def test_pass_guest_prints_and_exits_zero(guest_dir: Path, tmp_path: Path) -> None:
    with _machine("pass", guest_dir, tmp_path) as m:
        ms = m.console.expect_ordered(
            ["GUEST BOOT", r"layout: ram_start=(0x[0-9a-f]+) ram_size=(0x[0-9a-f]+)$",
             "GUEST DONE"], Deadline(30))
        assert (int(ms[1].group(1), 16), int(ms[1].group(2), 16)) == (0x80000000, 0x8000000)
        assert m.wait(30) == 0
        assert m.exitcode == 0
    log = (tmp_path / "qemu.serial.log").read_bytes()
    assert log.startswith(b"GUEST BOOT\r\nhello from rv32\r\n")
    assert (tmp_path / "qemu.cmdline").read_text().startswith("/")


def test_every_boot_leaves_a_repro_script_and_a_run_record(guest_dir: Path,
                                                          tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    with _machine("pass", guest_dir, logs) as m:
        m.console.expect("GUEST DONE", Deadline(30))
        assert m.wait(30) == 0
    record = json.loads((logs / "qemu.run.json").read_text())
    assert record["verdict"] == "ended"  # a machine used directly: nobody judged the boot
    assert record["qemu"]["exit_status"] == 0
    assert record["qemu"]["argv"][0] == shutil.which(QEMU)
    elf = guest_dir / "pass.elf"
    assert record["inputs"] == [{"role": "-kernel", "path": str(elf),
                                 "sha256": hashlib.sha256(elf.read_bytes()).hexdigest(),
                                 "size": elf.stat().st_size}]
    version = subprocess.run([QEMU, "--version"], capture_output=True, text=True,
                             check=True).stdout.split("\n")[0]
    assert version.endswith(record["versions"]["qemu"])
    # the script re-runs the boot without Python, from another directory: same console output
    r = subprocess.run(["sh", str(logs / "qemu.repro.sh")], cwd="/", stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout == (logs / "qemu.serial.log").read_bytes()


def test_guest_exit_status_is_reported(guest_dir: Path, tmp_path: Path) -> None:
    with _machine("fail_exit", guest_dir, tmp_path) as m, pytest.raises(UnexpectedExit) as info:
        m.console.expect("a line the guest never prints", Deadline(30))
    assert info.value.exitcode == 3
    assert "exiting with status 3" in info.value.log_tail
    assert m.exitcode == 3


def test_hanging_guest_times_out_with_log_tail(guest_dir: Path, tmp_path: Path) -> None:
    with _machine("hang", guest_dir, tmp_path) as m:
        t0 = time.monotonic()
        with pytest.raises(BootTimeout) as info:
            m.console.expect("GUEST DONE", Deadline(1.5, multiplier=1.0))
        assert time.monotonic() - t0 >= 1.5
        pid = m.pid
    err = info.value
    assert err.log_tail.splitlines()[-1] == "waiting forever"
    assert err.log_path == str(tmp_path / "qemu.serial.log")
    assert "waiting forever" in str(err) and str(tmp_path / "qemu.serial.log") in str(err)
    assert not pid_alive(pid)


def test_bad_pattern_is_reported_at_once(guest_dir: Path, tmp_path: Path) -> None:
    with _machine("bad", guest_dir, tmp_path) as m, pytest.raises(BadPattern) as info:
        m.console.expect("GUEST DONE", Deadline(30))
    # the guest hangs after the FAIL line: only the bad-pattern check can end this wait
    assert info.value.pattern_name == "fail"
    assert info.value.matched_line == "self-check 7: FAIL (expected 0x2a)"


def test_ordered_expectations_name_missing_lines(guest_dir: Path, tmp_path: Path) -> None:
    with _machine("ordered", guest_dir, tmp_path) as m, pytest.raises(BootTimeout) as info:
        m.console.expect_ordered(
            [r"^=== MARKER one ===$", r"^=== MARKER two ===$", r"^=== MARKER three ===$"],
            Deadline(2, multiplier=1.0))
    assert info.value.missing == ["^=== MARKER three ===$ (seen, but out of order)"]


def test_any_order_markers_with_xen_line_ends(guest_dir: Path, tmp_path: Path) -> None:
    with _machine("ordered", guest_dir, tmp_path) as m:
        ms = m.console.expect_all_any_order(
            [r"^=== MARKER (two) ===$", r"^=== MARKER (three) ===$", r"^=== MARKER (one) ===$"],
            Deadline(30))
    assert [x.group(1) for x in ms] == ["two", "three", "one"]


def test_typing_with_echo_check(guest_dir: Path, tmp_path: Path) -> None:
    with _machine("echo", guest_dir, tmp_path) as m:
        m.console.expect("^=> ", Deadline(30))
        line = "setenv ipaddr 10.0.2.15; setenv serverip 10.0.2.2; tftpb 0x40f00000 boot.scr"
        m.console.send_line(line, chunk=12)
        m.console.expect("^=> ", Deadline(30))
        m.console.send_line("second", eol="\r")
        m.console.expect("^=> ", Deadline(30))
    log = (tmp_path / "qemu.serial.log").read_bytes()
    assert f"=> {line}\r\n=> second\r\n=> ".encode() in log


def test_typing_into_a_guest_that_does_not_echo(guest_dir: Path, tmp_path: Path) -> None:
    with _machine("hang", guest_dir, tmp_path) as m:
        m.console.expect("waiting forever", Deadline(30))
        with pytest.raises(BootTimeout) as info:
            m.console.send_line("help", deadline=Deadline(1, multiplier=1.0))
    assert "echo of 'help'" in str(info.value)


def test_no_qemu_left_after_failing_body(guest_dir: Path, tmp_path: Path) -> None:
    m = _machine("hang", guest_dir, tmp_path)
    with pytest.raises(RuntimeError, match="test body failed"), m:
        pid = m.pid
        assert pid_alive(pid)
        raise RuntimeError("test body failed")
    assert not pid_alive(pid)
    assert m.exitcode is not None


def test_no_qemu_left_after_keyboard_interrupt(guest_dir: Path, tmp_path: Path) -> None:
    m = _machine("hang", guest_dir, tmp_path)
    with pytest.raises(KeyboardInterrupt), m:
        pid = m.pid
        raise KeyboardInterrupt
    assert not pid_alive(pid)


def test_shutdown_escalates_when_qmp_is_off(guest_dir: Path, tmp_path: Path) -> None:
    m = _machine("hang", guest_dir, tmp_path, qmp=False)
    with m:
        m.console.expect("waiting forever", Deadline(30))
        pid = m.pid
        m.shutdown()
    # no QMP: SIGTERM by PID ends it (QEMU says so on stderr and exits cleanly)
    assert "terminating on signal 15" in m.stderr_text()
    assert not pid_alive(pid)


def test_shutdown_uses_qmp_quit(guest_dir: Path, tmp_path: Path) -> None:
    with _machine("hang", guest_dir, tmp_path) as m:
        m.console.expect("waiting forever", Deadline(30))
        assert m.qmp_command("query-status")["status"] == "running"
        assert m.shutdown() == 0
        assert m.shutdown() == 0  # idempotent
    assert "terminating on signal" not in m.stderr_text()  # it was QMP quit, not a signal


def test_qemu_missing_is_infrastructure_error(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    m = QemuMachine(load_board(TEST_BOARD).argv(), log_dir=tmp_path)
    with pytest.raises(InfrastructureError) as info:
        m.launch()
    text = str(info.value)
    assert "qemu-system-riscv32" in text and "qemu-system-misc" in text
    assert info.value.exit_code == 3


def test_qemu_start_failure_carries_command_and_output(tmp_path: Path) -> None:
    require_tool(QEMU)
    argv = [QEMU, "-machine", "no-such-board"]
    m = QemuMachine(argv, log_dir=tmp_path)
    with pytest.raises(InfrastructureError) as info:
        m.launch()
    err = info.value
    assert err.argv[1:3] == ["-machine", "no-such-board"]
    assert "unsupported machine type" in err.output
    assert err.returncode == 1
    assert "no-such-board" in str(err) and "unsupported machine type" in str(err)
    assert m.exitcode == 1  # reaped


def test_infrastructure_error_exits_3_and_boot_failure_1(guest_dir: Path,
                                                          tmp_path: Path) -> None:
    def missing(argv: object) -> int:
        QemuMachine(["qemu-system-does-not-exist"], log_dir=tmp_path).launch()
        return 0

    def hangs(argv: object) -> int:
        with _machine("hang", guest_dir, tmp_path / "h") as m:
            m.console.expect("GUEST DONE", Deadline(0.5, multiplier=1.0))
        return 0

    assert run_main("t", missing, []) == 3
    assert run_main("t", hangs, []) == 1


def test_pid_alive_sees_running_and_reaped(guest_dir: Path, tmp_path: Path) -> None:
    with _machine("hang", guest_dir, tmp_path) as m:
        assert pid_alive(m.pid)
        os.kill(m.pid, signal.SIGKILL)
        with pytest.raises(UnexpectedExit) as info:
            m.console.expect("never", Deadline(30))
        assert info.value.exitcode == -signal.SIGKILL
        assert not pid_alive(m.pid)


def test_shutdown_of_a_wedged_qemu_escalates_to_kill(guest_dir: Path, tmp_path: Path) -> None:
    m = _machine("hang", guest_dir, tmp_path)
    with m:
        m.console.expect("waiting forever", Deadline(30))
        pid = m.pid
        os.kill(pid, signal.SIGSTOP)  # answers neither QMP nor SIGTERM now
        t0 = time.monotonic()
        status = m.shutdown(timeout=1.0)
        elapsed = time.monotonic() - t0
    assert status == -signal.SIGKILL
    assert not pid_alive(pid)
    assert elapsed < 10  # QMP negotiation and SIGTERM each gave up after about 1 s


def test_factory_fixture_boot_and_layout_check(guest_dir: Path,
                                               qemu_machine_factory: MachineFactory) -> None:
    """The shape of a boot test: build, boot, expect lines, compare the printed layout."""
    require_tool(QEMU, CC)
    elf = build_guest("pass", guest_dir)
    board = load_board(TEST_BOARD)
    machine = qemu_machine_factory(board, extra=["-kernel", str(elf)])
    m = machine.console.expect(r"^layout: ram_start=(0x[0-9a-f]+) ram_size=(0x[0-9a-f]+)$",
                               Deadline(30))
    printed = {"ram_start": int(m.group(1), 16), "ram_size": int(m.group(2), 16)}
    ram = board.region("ram")  # the board file plays the builder's layout report here
    check_layout({"ram_start": ram.start, "ram_size": ram.size}, printed,
                 log_path=machine.log_path, log_tail=machine.console.tail())
    with pytest.raises(LayoutMismatch) as info:
        check_layout({"ram_start": ram.start, "ram_size": 0x4000000}, printed)
    assert info.value.differences == [
        "ram_size: expected 0x4000000 (67108864), guest reported 0x8000000 (134217728)"]
    assert machine.wait(30) == 0
    assert machine.log_path.parent == qemu_machine_factory.log_dir


def test_saved_state_resumes_running_from_a_descriptor(guest_dir: Path, tmp_path: Path) -> None:
    """A state saved from a running guest starts running when loaded: no QMP ``cont``
    needed, so a repro script (which has no QMP) runs it too. QEMU reads it from the
    descriptor the harness opened (``-incoming fd:N``)."""
    state = tmp_path / "saved" / "echo.state"
    with _machine("echo", guest_dir, tmp_path / "a", name="first") as m:
        m.console.expect("^=> ", Deadline(30))
        m.console.send_line("before")
        m.console.expect("^=> ", Deadline(30))
        save_state(m, state, Deadline(60))
        argv = m.full_argv[:m.full_argv.index("-nographic")]
    resumed = QemuMachine(argv, log_dir=tmp_path / "b", name="resumed", incoming=state)
    with resumed:
        assert "-incoming" in resumed.full_argv
        fd = resumed.full_argv[resumed.full_argv.index("-incoming") + 1]
        assert fd.startswith("fd:")
        deadline = Deadline(30)
        status = "inmigrate"
        while status == "inmigrate" and not deadline.expired:
            status = resumed.qmp_command("query-status")["status"]
        assert status == "running"
        resumed.console.send_line("after")  # waits for the echo: the guest runs
        resumed.console.expect("^=> ", Deadline(30))
        log = resumed.console.log_text()
        assert "after" in log and "before" not in log  # nothing of the first one's output
    record = json.loads((tmp_path / "b" / "resumed.run.json").read_text())
    assert record["qemu"]["incoming"] == str(state)


def test_a_missing_state_file_is_named_before_qemu_starts(tmp_path: Path) -> None:
    m = QemuMachine([QEMU, "-machine", "virt"], log_dir=tmp_path,
                    incoming=tmp_path / "gone.state")
    with pytest.raises(InfrastructureError, match=r"gone\.state"):
        m.launch()
    assert m.exitcode is None  # never started

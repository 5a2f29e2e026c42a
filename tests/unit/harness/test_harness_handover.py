"""Handing the console to a person (harness/core/handover.py), against the tiny echo guest.

The person is a pseudo-terminal driven by pexpect: the program under test runs on its slave
side exactly as it would in a terminal (raw mode, the escape key, the terminal restored).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect
import pytest
from conftest import require_tool
from harness_testlib import CC, QEMU, TEST_BOARD, build_guest, guest_dir

from bootproof.harness.core.handover import ESCAPE, gdb_command, log_context
from bootproof.harness.core.processes import pid_alive

__all__ = ["guest_dir"]

DRIVER = '''
import sys
from pathlib import Path

from bootproof.harness.core.boards import load_board
from bootproof.harness.core.deadline import Deadline
from bootproof.harness.core.handover import Handover
from bootproof.harness.core.machine import QemuMachine

board, elf, logs = sys.argv[1:4]
machine = QemuMachine.from_board(load_board(board), extra=["-kernel", elf], log_dir=Path(logs))
with machine, Handover(interactive=True).at_end(machine):
    machine.console.expect("echo ready", Deadline(30))
print(f"DRIVER DONE qemu-exit={machine.exitcode} pid={machine.pid}", flush=True)
'''


@pytest.mark.e2e
def test_console_is_handed_over_and_left_with_the_escape_key(guest_dir: Path,
                                                             tmp_path: Path) -> None:
    require_tool(QEMU, CC)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    logs = tmp_path / "logs"
    child = pexpect.spawn(sys.executable, [str(driver), str(TEST_BOARD),
                                           str(build_guest("echo", guest_dir)), str(logs)],
                          encoding="utf-8", timeout=60)
    try:
        child.expect(r"console of QEMU \(pid (\d+)\) is yours; Ctrl-\] leaves")
        pid = int(child.match.group(1))
        child.expect("=> ")  # the log's last lines are shown first
        child.send("typed by hand\r")  # raw mode: Enter is a carriage return
        child.expect("typed by hand\r\n=> ")  # the guest's echo, then its prompt again
        child.send(ESCAPE)
        child.expect(rf"left with Ctrl-\]; stopping QEMU \(pid {pid}\)")
        child.expect(r"DRIVER DONE qemu-exit=(-?\d+)")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    assert not pid_alive(pid)
    assert "typed by hand" in (logs / "qemu.serial.log").read_text()  # still logged
    # nothing a person typed goes into the replay script
    assert "typed by hand" not in (logs / "qemu.repro.sh").read_text()


@pytest.mark.e2e
def test_interact_over_pipes_ends_at_end_of_input(guest_dir: Path, tmp_path: Path) -> None:
    """Without a terminal (input from a pipe) the hand-over still works, and ends when the
    input does."""
    require_tool(QEMU, CC)
    from bootproof.harness.core.boards import load_board
    from bootproof.harness.core.deadline import Deadline
    from bootproof.harness.core.handover import interact
    from bootproof.harness.core.machine import QemuMachine

    elf = build_guest("echo", guest_dir)
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    with QemuMachine.from_board(load_board(TEST_BOARD), extra=["-kernel", str(elf)],
                                log_dir=tmp_path) as m:
        m.console.expect("echo ready", Deadline(30))
        os.write(in_w, b"abc\r")
        os.close(in_w)
        why = interact(m.console, in_fd=in_r, out_fd=out_w)
        os.close(out_w)
        m.console.expect("abc", Deadline(10))  # typed before the input ended
    shown = os.read(out_r, 65536).decode()
    os.close(in_r)
    os.close(out_r)
    assert why == "input closed"
    assert "\r" not in shown  # a pipe gets the text as the log has it, no CR added


def test_gdb_command_line() -> None:
    argv = gdb_command(4321, [Path("/c/loader.elf"), Path("/c/kernel.elf")], "riscv:rv32")
    assert argv == ["gdb-multiarch", "-q", "/c/loader.elf", "-ex", "set confirm off",
                    "-ex", "add-symbol-file /c/kernel.elf", "-ex", "target remote 127.0.0.1:4321"]
    bare = gdb_command(1234, [], "aarch64")
    assert bare == ["gdb-multiarch", "-q", "-ex", "set confirm off", "-ex",
                    "set architecture aarch64", "-ex", "target remote 127.0.0.1:1234"]


@pytest.mark.parametrize(("log", "lines", "shown"), [
    # seen in CI: the tail was taken when only "=" of U-Boot's "=> " prompt had come; a
    # line end added after it split the prompt the person then saw ("=" and "> ")
    ("GUEST BOOT\necho ready\n=", 2, "echo ready\n="),
    ("a\nb\nc\n", 2, "b\nc\n"),  # a complete last line keeps its end
    ("prompt> ", 10, "prompt> "),
    ("", 10, ""),
])
def test_console_context_is_the_logs_tail_as_it_is(log: str, lines: int, shown: str) -> None:
    assert log_context(log, lines) == shown

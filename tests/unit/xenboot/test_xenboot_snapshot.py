"""Snapshots without QEMU: the snapshot record, the changed-input check, the shell line
protocol over Xen's console, and the ``--snapshot``/``--from-snapshot`` argument checks."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from types import MappingProxyType

import pytest

from bootproof.builder.errors import InputError
from bootproof.harness.core.deadline import Deadline
from bootproof.harness.core.errors import BootTimeout
from bootproof.harness.core.inputfiles import InputFile, sha256_of
from bootproof.harness.core.machinestate import exec_uri
from bootproof.harness.xen.parsers import SERIAL_INPUT_RE
from bootproof.harness.xen.shells import (
    FIRST_KICK_AFTER,
    KICK_AFTER,
    DomainShells,
    command_line,
    marks,
    output_between,
    strip_prefix,
    unbroken,
)
from bootproof.harness.xen.snapshot import MANIFEST, STATE_FILE, XenSnapshot


def _snapshot(tmp_path: Path) -> tuple[XenSnapshot, Path]:
    kernel = tmp_path / "Image"
    kernel.write_bytes(b"kernel bytes")
    snapdir = tmp_path / "snap"
    snapdir.mkdir()
    (snapdir / STATE_FILE).write_bytes(b"QEVM state")
    snap = XenSnapshot(directory=snapdir, argv=("qemu-system-aarch64", "-machine", "virt"),
                       inputs=(InputFile.of("dom0-kernel", kernel),),
                       domids=MappingProxyType({"dom0": 0, "domU0": 1}), serial_input="DOM0",
                       qemu_version="7.2.22", state_bytes=10, save_seconds=0.5)
    snap.write()
    return snap, kernel


def test_record_round_trips(tmp_path: Path) -> None:
    snap, kernel = _snapshot(tmp_path)
    back = XenSnapshot.read(snap.directory)
    assert back.argv == ("qemu-system-aarch64", "-machine", "virt")
    assert dict(back.domids) == {"dom0": 0, "domU0": 1}
    assert back.inputs[0].path == kernel.absolute()
    assert back.inputs[0].sha256 == sha256_of(kernel)
    back.check_inputs()  # nothing changed


def test_changed_input_refuses_to_resume(tmp_path: Path) -> None:
    snap, kernel = _snapshot(tmp_path)
    kernel.write_bytes(b"another kernel")
    with pytest.raises(InputError) as err:
        XenSnapshot.read(snap.directory).check_inputs()
    assert err.value.field == "inputs"
    assert err.value.value == str(kernel.absolute())
    assert err.value.path == str(snap.directory / MANIFEST)


def test_removed_input_is_named(tmp_path: Path) -> None:
    snap, kernel = _snapshot(tmp_path)
    kernel.unlink()
    assert "missing" in XenSnapshot.read(snap.directory).changed_inputs()[0]


def test_missing_state_file_and_foreign_record(tmp_path: Path) -> None:
    snap, _ = _snapshot(tmp_path)
    (snap.directory / STATE_FILE).unlink()
    with pytest.raises(InputError, match="machine state is missing"):
        XenSnapshot.read(snap.directory)
    (snap.directory / MANIFEST).write_text(json.dumps({"format": "something/9"}))
    with pytest.raises(InputError) as err:
        XenSnapshot.read(snap.directory)
    assert err.value.field == "format" and err.value.value == "something/9"
    with pytest.raises(InputError, match="no snapshot here"):
        XenSnapshot.read(tmp_path / "nowhere")


def test_incomplete_record(tmp_path: Path) -> None:
    snap, _ = _snapshot(tmp_path)
    data = json.loads((snap.directory / MANIFEST).read_text())
    del data["domids"]
    (snap.directory / MANIFEST).write_text(json.dumps(data))
    with pytest.raises(InputError, match="incomplete"):
        XenSnapshot.read(snap.directory)


def test_exec_uri_quotes_the_path_for_the_shell(tmp_path: Path) -> None:
    odd = tmp_path / "a dir; rm -rf x" / "state '1'"
    odd.parent.mkdir()
    uri = exec_uri("cat >", odd)
    assert uri.startswith("exec:cat > ")
    # what /bin/sh makes of it: the exact path, one word
    subprocess.run(["sh", "-c", uri.removeprefix("exec:")], input=b"x", check=True)
    assert odd.read_bytes() == b"x"


def test_typed_line_marks_are_not_in_the_echo() -> None:
    line = command_line("ls /tmp", 7001)
    first, second = marks(7001)
    assert not first.search(line) and not second.search(line)
    # what a shell prints for it: the typed line is run by sh itself
    out = subprocess.run(["sh", "-c", line.replace("ls /tmp", "echo hi; false")],
                         capture_output=True, text=True, check=True).stdout
    assert first.search(out)
    m = second.search(out)
    assert m is not None and m.group(1) == "1"
    assert output_between(out, 7001) == "hi\n"


@pytest.mark.parametrize("command", ["", "   ", "a\nb", "x\x01"])
def test_bad_commands(command: str) -> None:
    with pytest.raises(InputError):
        command_line(command, 1)


def test_domu_output_loses_xens_prefixes() -> None:
    # as Xen 4.17 prints a domU's lines: "(XEN) " alone while it has the input, else
    # "(XEN) DOM1: "; the first mark's line is the one before the output
    log = ("(XEN) / # echo B$((7001+1));uname -m;echo E$?_$((7001+1))\n(XEN) B7002\n"
           "(XEN) aarch64\n(XEN) DOM1: late line\n(XEN) E0_7002\n")
    text = strip_prefix(output_between(log, 7001), 1)
    assert text == "aarch64\nlate line"
    # dom0 lines have no prefix and keep what looks like one
    assert strip_prefix("(XEN) x\n", 0) == "(XEN) x"


def test_last_first_mark_wins() -> None:
    log = "B7002\nold\nE0_7002\nB7002\nnew\nE0_7002\n"
    assert output_between(log, 7001) == "new\n"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bootproof.harness.cli", "xen", "boot", *args],
                          capture_output=True, text=True, cwd=cwd, check=False)


def test_cli_refuses_bad_snapshot_arguments(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    cfg = tmp_path / "cfg"
    cfg.write_text("")
    run = _cli("-c", str(cfg), "-d", "d", "--run", "dom0:true", cwd=tmp_path)
    assert run.returncode == 2 and "--run needs --from-snapshot" in run.stderr
    run = _cli("-c", str(cfg), "-d", "d", "--from-snapshot", "nowhere", cwd=tmp_path)
    assert run.returncode == 2 and "no snapshot here" in run.stderr
    run = _cli("-c", str(cfg), "-d", "d", "--from-snapshot", "s", "--run", "nocolon",
               cwd=tmp_path)
    assert run.returncode == 2 and "DOMAIN:COMMAND" in run.stderr
    snap, _ = _snapshot(tmp_path)
    run = _cli("-c", str(cfg), "-d", "d", "--from-snapshot", str(snap.directory), cwd=tmp_path)
    assert run.returncode == 2 and "not saved from this config" in run.stderr
    run = _cli("-c", str(cfg), "-d", "d", "--from-snapshot", str(snap.directory), "--run",
               "domU7:true", cwd=tmp_path)
    assert run.returncode == 2 and re.search(r"domU7.*no such domain|no such domain.*domU7",
                                             run.stderr)


def test_a_domus_echo_is_compared_without_xens_line_breaks() -> None:
    # seen in a boot: Xen broke the echo of "...E$?_$((7003+1))" after "700"
    echo = "/ # \x1b[6n \r\n(XEN) echo B$((7003+1));ls /x;echo E$?_$((700\r\n(XEN) 3+1))"
    assert " echo B$((7003+1));ls /x;echo E$?_$((7003+1))" in unbroken(echo)
    assert "E$?_$((7004" not in unbroken(echo)


def test_a_domus_echo_is_compared_without_xens_prefix_inside_a_line() -> None:
    # seen in CI: busybox redrew the line (after its cursor query) and Xen put its prefix in
    # the middle of the redrawn line, with no line break before it
    echo = ("(XEN)  echo B$((7005+1/ #  echo B$((7005+1));ec(XEN) ho test2 > ")
    assert " echo B$((7005+1));echo test2 > " in unbroken(echo)


class _StalledConsole:
    """A console whose guest answers only once a key (Enter) arrives after the command:
    the stall seen after resumes, in dom0 too (CI: README's snapshot block)."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, text: str) -> None:
        self.sent.append(text)

    def expect(self, pattern: re.Pattern[str], deadline: Deadline, *,
               name: str = "") -> re.Match[str]:
        if self.sent[-1:] != ["\r"] or len(self.sent) < 2:
            raise BootTimeout(f"timed out waiting for {name}", waiting_for=name,
                              seconds=deadline.seconds)
        m = pattern.search("B7001")
        assert m is not None
        return m


def test_a_stalled_domain_gets_an_enter_until_it_answers() -> None:
    console = _StalledConsole()
    console.sent.append("typed command")
    shells = DomainShells(console, {"dom0": 0, "domU0": 1})  # type: ignore[arg-type]
    m = shells._expect(re.compile(r"B(7001)"), Deadline(5), "start of a command in dom0")
    assert m.group(1) == "7001"
    assert console.sent[1:] == ["\r"]  # one Enter, then the answer


def test_serial_input_switch_is_read_when_dom0_writes_into_xens_line() -> None:
    # seen after a resume: dom0's prompt (and busybox's cursor query) came in the middle of
    # Xen's line; read as "DOM1/", the harness went round every domain once more
    line = "(XEN) *** Serial input to DOM1/ # \x1b[6n (type 'CTRL-a' three times to switch input)"
    m = SERIAL_INPUT_RE.search(line)
    assert m is not None and m.group(1) == "DOM1"
    m = SERIAL_INPUT_RE.search("(XEN) *** Serial input to Xen (type 'CTRL-a' three times")
    assert m is not None and m.group(1) == "Xen"


class _WakingConsole:
    """A console whose guest answers the second Enter: after a resume, dom0 takes a typed
    key only once the next one's interrupt comes."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.waits: list[float] = []
        self.log_path = Path("console.log")

    def tail(self) -> str:
        return ""

    def send(self, text: str) -> None:
        self.sent.append(text)

    def read_now(self, timeout: float = 0.0) -> str | None:
        self.waits.append(timeout)
        return "\n/ # \n/ # " if len(self.sent) >= 2 else ""


def test_wake_presses_enter_until_the_domain_answers() -> None:
    console = _WakingConsole()
    DomainShells(console, {"dom0": 0}).wake(Deadline(5, multiplier=1.0))  # type: ignore[arg-type]
    assert console.sent == ["\r", "\r"]
    assert all(0 < w <= 0.1 for w in console.waits)


def test_wake_gives_up_when_nothing_answers() -> None:
    console = _WakingConsole()
    console.read_now = lambda timeout=0.0: None  # type: ignore[method-assign]
    with pytest.raises(BootTimeout, match="does not answer Enter"):
        DomainShells(console, {"dom0": 0}).wake(Deadline(5))  # type: ignore[arg-type]


def test_the_start_of_a_command_gets_its_first_enter_sooner() -> None:
    # a shell that runs prints the first mark at once; after a resume dom0 always needs
    # one more key, which should not cost the full KICK_AFTER
    console = _StalledConsole()
    console.sent.append("typed command")
    waits: list[float] = []
    expect = console.expect

    def timed(pattern: re.Pattern[str], deadline: Deadline, *, name: str = "") -> re.Match[str]:
        waits.append(deadline.seconds)
        return expect(pattern, deadline, name=name)

    console.expect = timed  # type: ignore[method-assign]
    shells = DomainShells(console, {"dom0": 0})  # type: ignore[arg-type]
    shells._expect(re.compile(r"B(7001)"), Deadline(5, multiplier=1.0), "start",
                   kick_after=FIRST_KICK_AFTER)
    assert waits == [pytest.approx(FIRST_KICK_AFTER), pytest.approx(KICK_AFTER)]
    assert console.sent[1:] == ["\r"]


def test_a_domus_echo_is_compared_without_another_domains_line() -> None:
    # seen in CI after a resume: domU1's (DOM2) late prompt and a kernel line came in the
    # middle of domU0's (DOM1) echo
    echo = ("(XEN) / #  echo B$((7006+1));cat /tmp/written-(XEN) by-a-test; grep -c ^proc"
            "DOM2: / # \x1b[6n[   23.311953] hrtimer: interrupt took 25121488 ns\r\r\n"
            "esso")
    assert "cat /tmp/written-by-a-test; grep -c ^processo" in unbroken(echo, domid=1)
    # Xen 4.19's prefix for the other domain's line, and a line of the domain's own
    later = "(XEN) grep -c ^proc(d2) late line\nessor\n(d1) own\n"
    assert "grep -c ^processor" in unbroken(later, domid=1)
    assert "own" in unbroken(later, domid=1)


def test_a_domus_output_leaves_out_another_domains_lines() -> None:
    out = "(XEN) test3\n(XEN) DOM2: / # \x1b[6n\n(XEN) 1\n"
    assert strip_prefix(out, 1) == "test3\n1"
    assert strip_prefix("(XEN) DOM1: mine\n", 1) == "mine"

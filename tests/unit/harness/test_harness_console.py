"""Console behaviour over a socket pair: the test plays the guest by writing to the other end.

No QEMU here; the same behaviours are checked against real guests in
test_harness_machine_e2e.py.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bootproof.harness.core.console import Console
from bootproof.harness.core.deadline import Deadline
from bootproof.harness.core.errors import BadPattern, BootTimeout, UnexpectedExit
from bootproof.harness.core.patterns import DEFAULT_BAD_PATTERNS, BadPatterns


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Console, socket.socket]]:
    ours, guest = socket.socketpair()
    console = Console.attach(ours.detach(), tmp_path / "serial.log", exit_status=lambda: 7)
    yield console, guest
    console.close()
    guest.close()


def test_expect_returns_match_and_logs_raw_bytes(pair: tuple[Console, socket.socket]) -> None:
    console, guest = pair
    guest.sendall(b"boot\r\r\nvalue=0x1234\r\r\n")
    m = console.expect(r"value=(0x[0-9a-f]+)$", Deadline(5))
    assert m.group(1) == "0x1234"
    # the log keeps the carriage returns; the matched text has none
    assert console.log_path.read_bytes() == b"boot\r\r\nvalue=0x1234\r\r\n"
    assert "\r" not in console.tail()


def test_dot_does_not_cross_line_end(pair: tuple[Console, socket.socket]) -> None:
    console, guest = pair
    guest.sendall(b"alpha\r\r\nbeta\r\r\n")
    with pytest.raises(BootTimeout):
        console.expect(r"alpha.beta", Deadline(0.3))


def test_bad_pattern_fails_at_once_not_by_timeout(pair: tuple[Console, socket.socket]) -> None:
    console, guest = pair
    guest.sendall(b"starting\r\npanicked at src/main.rs:12:5\r\n")
    with pytest.raises(BadPattern) as info:  # not BootTimeout: caught during the wait
        console.expect("never printed", Deadline(30))
    assert info.value.pattern_name == "rust-panic"
    assert info.value.matched_line == "panicked at src/main.rs:12:5"
    assert "rust-panic" in str(info.value)
    assert str(console.log_path) in str(info.value)


def test_bad_pattern_line_is_completed(pair: tuple[Console, socket.socket]) -> None:
    console, guest = pair
    guest.sendall(b"x\nresult: FAIL")

    def finish() -> None:
        time.sleep(0.1)
        guest.sendall(b" (code 3)\n")

    threading.Thread(target=finish).start()
    with pytest.raises(BadPattern) as info:
        console.expect("done", Deadline(5))
    assert info.value.pattern_name == "fail"
    assert info.value.matched_line == "result: FAIL (code 3)"


def test_bad_pattern_after_the_awaited_line_is_caught_by_next_wait(
    pair: tuple[Console, socket.socket],
) -> None:
    console, guest = pair
    guest.sendall(b"ready\nKernel panic - not syncing: VFS\n")
    console.expect("ready", Deadline(5))
    with pytest.raises(BadPattern) as info:
        console.drain(0.2)
    assert info.value.pattern_name == "kernel-panic"


def test_allow_disables_one_pattern_for_a_block(pair: tuple[Console, socket.socket]) -> None:
    console, guest = pair
    guest.sendall(b"CRC: FAIL (calc: 1234)\nnext\n")
    with console.allow("fail"):
        console.expect("next", Deadline(5))
    guest.sendall(b"again FAIL\n")
    with pytest.raises(BadPattern):
        console.expect("never", Deadline(5))


def test_bad_patterns_table_is_per_console(tmp_path: Path) -> None:
    a, b = BadPatterns(), BadPatterns()
    a.add("oops", r"OOPS")
    assert "oops" in a
    assert "oops" not in b
    assert [n for n, _ in DEFAULT_BAD_PATTERNS] == b.names()


def test_bad_patterns_reject_duplicates_and_unknown_names() -> None:
    table = BadPatterns([])
    table.add("x", "X")
    with pytest.raises(ValueError, match="already defined"):
        table.add("x", "Y")
    table.add("x", "Y", replace=True)
    with pytest.raises(KeyError, match="no bad pattern named 'nope'"), table.disabled("nope"):
        pass
    with pytest.raises(ValueError, match="invalid regex"):
        table.add("broken", "(")


def test_custom_bad_pattern(pair: tuple[Console, socket.socket]) -> None:
    console, guest = pair
    console.bad_patterns.add("stack-canary", r"STACK SMASH")
    guest.sendall(b"hello\n*** STACK SMASH at 0x80001000\n")
    with pytest.raises(BadPattern) as info:
        console.expect("goodbye", Deadline(5))
    assert info.value.pattern_name == "stack-canary"


def test_timeout_carries_log_tail(pair: tuple[Console, socket.socket]) -> None:
    console, guest = pair
    guest.sendall(b"".join(b"line %d\r\n" % i for i in range(40)))
    with pytest.raises(BootTimeout) as info:
        console.expect("login:", Deadline(0.5))
    err = info.value
    assert err.log_tail.splitlines()[-1] == "line 39"
    assert "line 39" in str(err)
    assert err.log_path == str(console.log_path)
    assert err.exit_code == 1


def test_ordered_reports_missing_and_out_of_order(pair: tuple[Console, socket.socket]) -> None:
    console, guest = pair
    guest.sendall(b"=== one ===\r\r\n=== three ===\r\r\n=== two ===\r\r\n")
    with pytest.raises(BootTimeout) as info:
        console.expect_ordered(["=== one", "=== two", "=== three", "=== four"], Deadline(0.5))
    assert info.value.missing == ["=== three (seen, but out of order)", "=== four"]
    assert "2 of 4 expected line(s) not seen in order" in str(info.value)


def test_any_order_accepts_every_order(pair: tuple[Console, socket.socket]) -> None:
    console, guest = pair
    guest.sendall(b"(XEN) DOM2: UP 2\r\r\n(XEN) DOM1: UP 1\r\r\nDOM0 UP 0\r\r\n")
    ms = console.expect_all_any_order([r"DOM1: UP (\d)", r"DOM0 UP (\d)", r"DOM2: UP (\d)"],
                                      Deadline(5))
    assert [m.group(1) for m in ms] == ["1", "0", "2"]


def test_any_order_reports_only_the_missing(pair: tuple[Console, socket.socket]) -> None:
    console, guest = pair
    guest.sendall(b"B\nA\n")
    with pytest.raises(BootTimeout) as info:
        console.expect_all_any_order(["^A$", "^C$", "^B$"], Deadline(0.5))
    assert info.value.missing == ["^C$"]


def test_eof_is_unexpected_exit_with_status(pair: tuple[Console, socket.socket]) -> None:
    console, guest = pair
    guest.sendall(b"bye\n")
    guest.close()
    with pytest.raises(UnexpectedExit) as info:
        console.expect_ordered(["bye", "never"], Deadline(5))
    assert info.value.exitcode == 7
    assert info.value.missing == ["never"]


def _echo_guest(sock: socket.socket, drop: str = "") -> threading.Thread:
    """Echo every byte back (except those in ``drop``), like a shell with a slow UART."""

    def run() -> None:
        while True:
            try:
                data = sock.recv(64)
                if not data:
                    return
                sock.sendall(bytes(b for b in data if chr(b) not in drop))
            except OSError:
                return

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_send_line_waits_for_echo_in_chunks(pair: tuple[Console, socket.socket]) -> None:
    console, guest = pair
    received: list[bytes] = []
    got_eol = threading.Event()

    def run() -> None:
        while True:
            try:
                data = guest.recv(64)
                if not data:
                    return
                received.append(data)
                guest.sendall(data)
                if data.endswith(b"\n"):
                    got_eol.set()
            except OSError:
                return

    threading.Thread(target=run, daemon=True).start()
    text = "setenv bootargs console=ttyAMA0 rdinit=/init"
    console.send_line(text, chunk=8)
    # the end of line is not echo-checked: let the guest thread take it before comparing
    got_eol.wait(10)
    # each chunk was sent on its own, after the previous one was echoed
    assert received[: len(text) // 8] == [text[i:i + 8].encode() for i in range(0, 40, 8)]
    assert b"".join(received) == (text + "\n").encode()


def test_send_line_reports_missing_echo(pair: tuple[Console, socket.socket]) -> None:
    console, guest = pair
    _echo_guest(guest, drop="z")
    with pytest.raises(BootTimeout) as info:
        console.send_line("abcdefghijklmnopqrstuvwxyz", chunk=10, deadline=Deadline(0.5))
    assert "echo of 'uvwxyz'" in str(info.value)


def test_compiled_pattern_used_as_given(pair: tuple[Console, socket.socket]) -> None:
    console, guest = pair
    guest.sendall(b"Hello World\n")
    m = console.expect(re.compile("hello world", re.IGNORECASE), Deadline(5))
    assert m.group(0) == "Hello World"


def _stream(guest: socket.socket, payload: bytes, piece: int) -> threading.Thread:
    def run() -> None:
        with contextlib.suppress(OSError):  # the console may close first
            for i in range(0, len(payload), piece):
                guest.sendall(payload[i:i + piece])

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_marker_late_in_a_long_stream(pair: tuple[Console, socket.socket]) -> None:
    console, guest = pair
    noise = b"".join(b"[%8d] probe ok\r\n" % i for i in range(20000))  # ~400 KB
    _stream(guest, noise + b"=== TESTMARKER DOM0 UP ===\r\n", 7)
    m = console.expect(r"TESTMARKER (\w+) UP", Deadline(60))
    assert m.group(1) == "DOM0"


def test_bad_pattern_in_the_middle_of_a_long_stream(pair: tuple[Console, socket.socket]) -> None:
    console, guest = pair
    noise = b"".join(b"[%8d] probe ok\r\n" % i for i in range(5000))
    _stream(guest, noise + b"(XEN) Panic on CPU 0:\r\n" + noise + b"done\r\n", 4096 + 5)
    with pytest.raises(BadPattern) as info:
        console.expect("done", Deadline(60))
    assert info.value.matched_line == "(XEN) Panic on CPU 0:"


def test_match_spanning_reads(pair: tuple[Console, socket.socket]) -> None:
    console, guest = pair
    line = b"layout: " + b"x" * 3000 + b" end\r\n"
    _stream(guest, b"a" * 4000 + b"\r\n" + line, 1000)
    m = console.expect(r"^layout: (x+) end$", Deadline(30))
    assert len(m.group(1)) == 3000


def test_drain_after_exit_checks_leftovers(pair: tuple[Console, socket.socket]) -> None:
    console, guest = pair
    guest.sendall(b"PASS\nlate: TRAP mcause=2\n")
    guest.close()
    console.expect("PASS", Deadline(5))
    with pytest.raises(BadPattern) as info:
        console.drain(1)
    assert info.value.pattern_name == "trap"
    assert info.value.matched_line == "late: TRAP mcause=2"


def test_drain_forgets_what_it_checked(pair: tuple[Console, socket.socket]) -> None:
    console, guest = pair
    guest.sendall(b"ready\nmarker\n")
    console.expect("ready", Deadline(5))
    console.drain(0.2)
    with pytest.raises(BootTimeout):
        console.expect("marker", Deadline(0.2))


def test_line_end_anchor_waits_for_the_line_end(pair: tuple[Console, socket.socket]) -> None:
    console, guest = pair
    guest.sendall(b"size=0x8")

    def finish() -> None:
        time.sleep(0.2)
        guest.sendall(b"000000\r\n")

    threading.Thread(target=finish).start()
    m = console.expect(r"size=(0x[0-9a-f]+)$", Deadline(5))
    assert m.group(1) == "0x8000000"


def test_prompt_without_line_end_is_seen(pair: tuple[Console, socket.socket]) -> None:
    console, guest = pair
    guest.sendall(b"U-Boot 2023.01\r\n=> ")
    m = console.expect("^=> ", Deadline(5))
    assert m.group(0) == "=> "


def test_greedy_match_waits_for_the_whole_line(pair: tuple[Console, socket.socket]) -> None:
    console, guest = pair
    guest.sendall(b"(XEN) Xen version 4.17")

    def finish() -> None:
        time.sleep(0.2)
        guest.sendall(b".7 (Debian)\r\r\n")

    threading.Thread(target=finish).start()
    m = console.expect(r"Xen version (.*)", Deadline(5))
    assert m.group(1) == "4.17.7 (Debian)"


def test_match_after_earlier_match_on_same_line(pair: tuple[Console, socket.socket]) -> None:
    console, guest = pair
    guest.sendall(b"=> abc abc\n")
    console.expect("abc", Deadline(5))
    console.expect("abc", Deadline(5))
    with pytest.raises(BootTimeout):
        console.expect("abc", Deadline(0.2))
    with pytest.raises(BootTimeout):  # ^ only at a real line start, not after a match
        console.expect("^ abc", Deadline(0.2))


def test_last_line_without_newline_counts_at_exit(pair: tuple[Console, socket.socket]) -> None:
    console, guest = pair
    guest.sendall(b"first\nresult=42")
    guest.close()
    m = console.expect(r"result=(\d+)$", Deadline(5))
    assert m.group(1) == "42"

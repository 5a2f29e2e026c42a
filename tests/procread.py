"""Reading a child process's output until a pattern shows, for e2e tests that run commands
which do not end by themselves (repro.sh with QEMU behind it, a boot waiting for gdb)."""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import time


def read_until(proc: subprocess.Popen[bytes], pattern: re.Pattern[bytes],
               seconds: float) -> bytes:
    """Read ``proc``'s stdout until ``pattern`` matches or ``seconds`` pass; all that was
    read."""
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    out = b""
    end = time.monotonic() + seconds
    while not pattern.search(out) and time.monotonic() < end:
        if sel.select(timeout=1.0):
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            out += chunk
    return out


def read_line(proc: subprocess.Popen[bytes], pattern: str, seconds: float) -> str:
    """Read ``proc``'s output until a whole line (ended by a newline) matches ``pattern``
    (searched in the line; ``^`` is its start) and return that line. Raises
    AssertionError with what was printed when none does within ``seconds``."""
    line = re.compile(rb"(?m)^(?=[^\n]*?(?:" + pattern.encode() + rb"))[^\n]*\n")
    out = read_until(proc, line, seconds)
    m = line.search(out)
    if m is None:
        text = out.decode(errors="replace")
        raise AssertionError(f"never printed {pattern!r}; printed:\n{text[-4000:]}")
    return m.group(0).decode(errors="replace")

"""Reading a child process's output until a pattern shows, for e2e tests that run scripts
which do not end by themselves (repro.sh with QEMU behind it)."""

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

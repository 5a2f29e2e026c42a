"""Process helpers for QEMU's life cycle: dying with the harness, waiting for an exit, liveness.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when its parent dies (Linux; a no-op elsewhere).

    Meant as a ``preexec_fn``: it runs in the child between fork and exec.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def wait_exit(proc: subprocess.Popen[bytes], timeout: float) -> int | None:
    """Reap ``proc`` if it exits within ``timeout`` seconds; return its status or None.

    Waits on a pidfd where the kernel has them: ``Popen.wait(timeout)`` polls with sleeps
    that grow to 50 ms, which would add that much to every boot that ends by itself.
    """
    status = proc.poll()
    if status is not None:
        return status
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # no pidfd support: fall back to polling
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
    try:
        ready, _, _ = select.select([pidfd], [], [], None if math.isinf(timeout) else timeout)
    finally:
        os.close(pidfd)
    return proc.wait() if ready else proc.poll()


def pid_alive(pid: int) -> bool:
    """True while a process with this PID exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    # the state is the first field after the parenthesised command name
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


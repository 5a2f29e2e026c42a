"""A running QEMU's whole state to a file, and a new QEMU started from that file.

QEMU 7.2 (Debian 12) has no ``file:`` migration URI, so the state goes through its
migration stream with an ``exec:`` URI: :func:`save_state` lifts the migration bandwidth
limit (32 MiB/s by default), runs ``migrate`` with ``exec:cat > FILE`` and polls
``query-migrate`` until it completes; the file appears under its final name only then.
The guest runs on while its memory is sent (QEMU sends again what it writes meanwhile, and
pauses it for the last pages): a state saved from a running guest makes the QEMU that
loads it start the guest by itself, so a ``repro.sh`` of a resumed boot, which has no QMP
to say ``cont``, runs too. (Saved after ``stop``, the state would load paused.)

A new QEMU reads it back when started with ``QemuMachine(..., incoming=FILE)``
(``-incoming fd:N``, see :mod:`~bootproof.harness.core.machine`), and
:func:`await_resumed` waits until that QEMU has loaded it (status ``inmigrate`` until
then, ``running`` after; a state saved from a paused guest loads ``paused``, and gets a
``cont``).

The new QEMU must be started with the same machine and devices (the same command line
apart from the harness's console and QMP channels); firmware and any file a device reads
must be the same too. A device without migration support makes ``migrate`` fail with
QEMU's reason (a "migration blocker"), which :class:`SaveFailed` carries.
"""

from __future__ import annotations

import os
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from bootproof.harness.core.deadline import Deadline
from bootproof.harness.core.errors import InfrastructureError
from bootproof.harness.core.machine import QemuMachine

#: Bytes per second for ``max-bandwidth``: no limit that matters for a local file.
UNLIMITED_BANDWIDTH = 1 << 40
_POLL = 0.02


class SaveFailed(InfrastructureError):
    """QEMU could not save the machine's state; the message holds QEMU's own reason."""


class ResumeFailed(InfrastructureError):
    """QEMU could not load a saved state (it exits; its stderr says why)."""


@dataclass(frozen=True)
class SavedState:
    """A state file written by :func:`save_state`: its path, size and how long it took."""

    path: Path
    size: int
    seconds: float


def exec_uri(command: str, path: Path) -> str:
    """An ``exec:`` migration URI running ``command`` with ``path`` shell-quoted (QEMU runs
    the rest of the URI with ``/bin/sh -c``)."""
    return f"exec:{command} {shlex.quote(str(path))}"


def save_state(machine: QemuMachine, dest: Path, deadline: Deadline) -> SavedState:
    """Write QEMU's whole state to ``dest`` (replaced only once the state is complete).
    The guest is paused afterwards.

    Raises :class:`SaveFailed` with QEMU's reason when the migration fails (e.g. a device
    that cannot be migrated) or does not complete before ``deadline``.
    """
    start = time.monotonic()
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    machine.qmp_command("migrate-set-parameters", **{"max-bandwidth": UNLIMITED_BANDWIDTH})
    try:
        try:
            machine.qmp_command("migrate", uri=exec_uri("cat >", partial))
        except InfrastructureError as exc:
            raise SaveFailed(f"QEMU refused to save the machine state: {exc}",
                             program=machine.name, output=machine.stderr_text()) from exc
        while True:
            info = machine.qmp_command("query-migrate")
            status = info.get("status", "")
            if status == "completed":
                break
            if status in ("failed", "cancelled"):
                raise SaveFailed(
                    f"saving the machine state {status}: {info.get('error-desc', '?')}",
                    program=machine.name, output=machine.stderr_text())
            if deadline.expired:
                raise SaveFailed(
                    f"saving the machine state took longer than {deadline.seconds:.0f} s "
                    f"(status {status!r})", program=machine.name)
            time.sleep(_POLL)
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)
    return SavedState(dest, dest.stat().st_size, time.monotonic() - start)


def await_resumed(machine: QemuMachine, deadline: Deadline) -> float:
    """Wait until a QEMU started with ``incoming=FILE`` has loaded its state and
    runs the guest; returns the seconds waited.

    Raises :class:`ResumeFailed` with QEMU's output when it cannot load the state (QEMU
    exits) or is still loading at ``deadline``.
    """
    start = time.monotonic()
    while True:
        if not machine.is_running():
            raise ResumeFailed("QEMU could not load the saved machine state",
                               program=machine.name, output=machine.stderr_text(),
                               returncode=machine.exitcode)
        try:
            status = machine.qmp_command("query-status").get("status", "")
        except InfrastructureError as exc:
            if not machine.is_running():
                continue  # reported with QEMU's own output above
            raise ResumeFailed(f"QEMU stopped answering while loading the state: {exc}",
                               program=machine.name, output=machine.stderr_text()) from exc
        if status == "running":
            return time.monotonic() - start
        if status == "paused":  # loaded, saved from a paused guest (see above)
            machine.qmp_command("cont")
            return time.monotonic() - start
        if status not in ("inmigrate", "prelaunch"):
            raise ResumeFailed(f"QEMU is {status!r} after loading the machine state",
                               program=machine.name, output=machine.stderr_text())
        if deadline.expired:
            raise ResumeFailed(
                f"QEMU still loading the machine state after {deadline.seconds:.0f} s",
                program=machine.name, output=machine.stderr_text())
        time.sleep(_POLL)

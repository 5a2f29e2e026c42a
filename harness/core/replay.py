"""QEMU's record/replay of a boot (``--record FILE`` / ``--replay FILE``).

With ``-icount shift=auto,rr=record,rrfile=FILE`` QEMU runs the guest on a deterministic
instruction counter and writes every non-deterministic event it feeds the guest (console
input, clock reads, interrupts' timing) to FILE; ``rr=replay`` feeds the same events back,
so the guest takes the same path and prints the same console output, whatever the host's
load. The file is only meaningful with the same QEMU, board and inputs: the run record
(:mod:`bootproof.harness.core.runrecord`) keeps those beside the log.

A recording is written to ``FILE.part`` and renamed to FILE only when the boot passed, so
a failed or interrupted boot leaves no half-written recording under the name asked for.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bootproof.builder.errors import InputError

Mode = Literal["record", "replay"]


@dataclass(frozen=True)
class RecordReplay:
    """Record a boot into ``path``, or replay it from ``path``."""

    mode: Mode
    path: Path

    @property
    def work_path(self) -> Path:
        """The file QEMU writes (record: ``FILE.part``) or reads (replay: FILE)."""
        if self.mode == "record":
            return self.path.with_name(self.path.name + ".part")
        return self.path

    def check(self) -> None:
        """Raise InputError (naming the option) for a recording that cannot be read or a
        folder a recording cannot go to."""
        option = f"--{self.mode}"
        if self.mode == "replay":
            if not self.path.is_file() or self.path.stat().st_size == 0:
                raise InputError("no recording here (a file written by --record)",
                                 path=self.path, field=option)
            if not os.access(self.path, os.R_OK):
                raise InputError("the recording cannot be read", path=self.path,
                                 field=option)
        elif not self.path.parent.is_dir():
            raise InputError("the folder of the recording does not exist", path=self.path,
                             field=option)

    def qemu_options(self) -> list[str]:
        """The ``-icount`` option (commas in the path doubled, as QEMU options escape them)."""
        rrfile = str(self.work_path.absolute()).replace(",", ",,")
        return ["-icount", f"shift=auto,rr={self.mode},rrfile={rrfile}"]

    @contextlib.contextmanager
    def session(self) -> Iterator[None]:
        """Around the boot: a recording becomes FILE when the block ends without an error;
        otherwise its partial file is removed."""
        if self.mode == "replay":
            yield
            return
        self.work_path.unlink(missing_ok=True)
        try:
            yield
        except BaseException:
            self.work_path.unlink(missing_ok=True)
            raise
        os.replace(self.work_path, self.path)


def from_options(record: str | None, replay: str | None) -> RecordReplay | None:
    """The command line's ``--record``/``--replay`` (at most one; argparse enforces it)."""
    if record:
        return RecordReplay("record", Path(record))
    if replay:
        return RecordReplay("replay", Path(replay))
    return None

"""pexpect glue for a serial console: the reader, the writer and the log file.

pexpect does the reading (poll, decode, log); :class:`~bootproof.harness.core.console.Console`
does the matching. :func:`open_serial` sets the two up over file descriptors (pipes, a
socket, a pty master) the way the console needs them.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pexpect.fdpexpect

#: The most a single read takes from the descriptor.
READ_CHUNK = 65536


class SerialSpawn(pexpect.fdpexpect.fdspawn):  # type: ignore[misc]
    """fdspawn whose reads come back with every carriage return removed (the log keeps
    them), and which can write to a second descriptor (the other pipe of a pipe pair)."""

    def __init__(self, fd: int, *, write_fd: int | None = None, **kwargs: object) -> None:
        super().__init__(fd, **kwargs)
        self.write_fd = fd if write_fd is None else write_fd

    def read_nonblocking(self, size: int = 1, timeout: float | None = -1) -> str:
        text: str = super().read_nonblocking(size, timeout)
        return text.replace("\r", "")

    def send(self, s: str) -> int:
        data: bytes = self._encoder.encode(s, final=False)
        self._log(s, "send")
        written = 0
        while written < len(data):
            written += os.write(self.write_fd, data[written:])
        return written

    def close(self) -> None:
        if self.write_fd != self.child_fd:
            with contextlib.suppress(OSError):
                os.close(self.write_fd)
            self.write_fd = self.child_fd
        super().close()


class LazyLog:
    """The serial log file. pexpect flushes its log after every read; on a chatty console
    that is one write system call per few bytes, so :meth:`flush` is a no-op here and
    :meth:`sync` (called before the log is read and at close) does the real flush."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "w", encoding="utf-8", newline="")  # noqa: SIM115

    def write(self, text: str) -> int:
        return self._file.write(text)

    def flush(self) -> None:
        pass

    def sync(self) -> None:
        if not self._file.closed:
            self._file.flush()

    def close(self) -> None:
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._file.closed


def open_serial(fd: int, log_path: Path, *,
                write_fd: int | None = None) -> tuple[SerialSpawn, LazyLog]:
    """A reader of ``fd`` (decoded as UTF-8, undecodable bytes replaced) writing to
    ``write_fd`` (default ``fd``), which logs everything it reads, carriage returns kept, to
    ``log_path`` (created or truncated, its folder too). Both descriptors belong to the
    reader from now on."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = LazyLog(log_path)
    child = SerialSpawn(fd, write_fd=write_fd, encoding="utf-8", codec_errors="replace",
                        maxread=READ_CHUNK, use_poll=True)
    child.delayafterread = None
    child.logfile_read = log_file
    return child, log_file

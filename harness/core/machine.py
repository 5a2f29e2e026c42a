"""One QEMU process, from launch to a guaranteed end.

:class:`QemuMachine` runs QEMU from an argument list (never a shell string), gives the guest's
first serial port to a :class:`~bootproof.harness.core.console.Console`, talks QMP over a socket the
harness owns, keeps QEMU's stderr in a file, and stops QEMU politely (QMP ``quit``), then by PID
with SIGTERM, then SIGKILL. Used as a context manager it never leaves the process behind, also when
the body raises or is interrupted; and QEMU is started with a parent-death signal, so even a
harness killed outright takes its QEMU with it (Linux).

Console channel: QEMU's ``stdio`` chardev on two pipes the harness creates before starting
QEMU (QEMU's stdin and stdout; its stderr goes to a file). Chosen over a pseudo-terminal
(``-serial pty``, or ``stdio`` on a pty of ours) because nothing sits between the guest and
the console: no line discipline rewriting ``\n`` into ``\r\n`` or echoing what we type
(every echo the console sees comes from the guest), and because it is faster: QEMU writes
the serial output one byte at a time, and a 256 KB guest log reaches a pipe reader about
1.5x faster than a pty reader (benchmarks/harness_overhead.py --guest chatty). The pipes
exist before QEMU starts, so no early output is lost, and QEMU's exit closes the read end,
which the console reports as end-of-file. A socket chardev was measured slower still.

QMP channel: a connected ``socketpair``; QEMU gets one end as ``-chardev socket,fd=N``. No
path, no race for a listening socket, nothing left on disk. The QMP greeting tells us start-up
is over: if QEMU exits before greeting, launch fails with the command line and QEMU's output.
The capabilities negotiation waits until QMP is first used (a command, or shutdown of a
running QEMU), so a boot that never needs QMP does not pay for it.

Parent-death signal: QEMU is started through util-linux ``setpriv --pdeathsig KILL`` (it
execs QEMU, so the PID is QEMU's), or with a ``prctl`` in a pre-exec hook when ``setpriv``
is missing. If the harness process dies without running its clean-up (SIGKILL, os._exit),
the kernel kills QEMU too.

Saved state: ``incoming=FILE`` loads a :mod:`~bootproof.harness.core.machinestate` file from a
descriptor the harness opens (``-incoming fd:N``): twice as fast as ``exec:cat FILE``'s pipe.
"""

from __future__ import annotations

import contextlib
import os
import select
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from bootproof.harness.core.boards import Board
from bootproof.harness.core.console import BadPatterns, Console
from bootproof.harness.core.deadline import Deadline
from bootproof.harness.core.errors import BootTimeout, HarnessError, InfrastructureError
from bootproof.harness.core.processes import die_with_parent, wait_exit
from bootproof.harness.core.qmpsession import QMP_FAILURES, QmpSession
from bootproof.harness.core.runrecord import RunRecord
from bootproof.harness.core.toolchain import find_tool

#: Seconds (scaled by the timeout multiplier) QEMU may take to greet on QMP.
STARTUP_TIMEOUT = 30.0
#: Seconds a QMP command may take.
QMP_TIMEOUT = 30.0
DEFAULT_SHUTDOWN_TIMEOUT = 5.0


class QemuMachine:
    """A QEMU process whose first serial port is a :class:`Console`.

    ``argv`` is QEMU's command line without console, monitor, QMP or display options (e.g.
    from :meth:`bootproof.harness.core.boards.Board.argv`); ``argv[0]`` is looked up on PATH. Files
    go into ``log_dir``: ``<name>.serial.log`` (the console), ``<name>.stderr.log`` (QEMU's own
    output), ``<name>.cmdline`` (the full command line, shell-quoted), and the run record's
    ``<name>.repro.sh`` and ``<name>.run.json`` (:mod:`bootproof.harness.core.runrecord`).
    ``record`` is the flow's run record; without one the machine keeps its own and writes it
    at shutdown (verdict ``ended``: nobody judged the boot).
    """

    def __init__(
        self,
        argv: Sequence[str | Path],
        *,
        log_dir: Path,
        name: str = "qemu",
        qmp: bool = True,
        bad_patterns: BadPatterns | None = None,
        record: RunRecord | None = None,
        incoming: Path | None = None,
    ) -> None:
        if not argv:
            raise ValueError("QemuMachine needs a command line")
        self._argv = [str(a) for a in argv]
        self.log_dir = Path(log_dir)
        self.name = name
        self._use_qmp = qmp
        self._bad_patterns = bad_patterns
        self._incoming = incoming  # a state file to load (module docstring)
        self.log_path = self.log_dir / f"{name}.serial.log"
        self.stderr_path = self.log_dir / f"{name}.stderr.log"
        self.cmdline_path = self.log_dir / f"{name}.cmdline"
        self._proc: subprocess.Popen[bytes] | None = None
        self._console: Console | None = None
        self._qmp: QmpSession | None = None
        self._qmp_sock: socket.socket | None = None
        self._stderr_file: IO[bytes] | None = None
        self.full_argv: list[str] = []
        self._own_record = record is None
        self.record = record if record is not None else RunRecord(self.log_dir, name)

    @classmethod
    def from_board(cls, board: Board, *, extra: Sequence[str] = (), log_dir: Path,
                   name: str = "qemu", qmp: bool = True) -> QemuMachine:
        """A machine for ``board`` with per-boot options ``extra`` (e.g. ``-kernel``)."""
        return cls(board.argv(extra=extra), log_dir=log_dir, name=name, qmp=qmp)

    # -- context manager -------------------------------------------------------------------

    def __enter__(self) -> QemuMachine:
        self.launch()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.shutdown()

    # -- launch ----------------------------------------------------------------------------

    def launch(self) -> None:
        """Start QEMU and connect the console and (unless ``qmp=False``) QMP.

        Raises :class:`~bootproof.harness.core.errors.InfrastructureError` naming the binary (and
        its apt package) when it is missing, and carrying the command line and QEMU's output when
        QEMU exits or does not greet during start-up. On any failure nothing is left running.
        """
        if self._proc is not None:
            raise HarnessError(f"machine {self.name!r} was already launched")
        binary = find_tool(self._argv[0])
        self.log_dir.mkdir(parents=True, exist_ok=True)
        state_fd = self._open_incoming()
        out_r, out_w = os.pipe()  # QEMU's stdout: the guest's serial output
        in_r, in_w = os.pipe()  # QEMU's stdin: what we type
        ours: socket.socket | None = None
        theirs: socket.socket | None = None
        argv = [str(binary), *self._argv[1:],
                "-nographic", "-monitor", "none",
                "-chardev", "stdio,id=bpcon,signal=off", "-serial", "chardev:bpcon"]
        pass_fds: tuple[int, ...] = ()
        if self._use_qmp:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            argv += ["-chardev", f"socket,id=bpqmp,fd={theirs.fileno()}",
                     "-mon", "chardev=bpqmp,mode=control"]
            pass_fds = (theirs.fileno(),)
        if state_fd is not None:
            argv += ["-incoming", f"fd:{state_fd}"]
            pass_fds += (state_fd,)
        self.full_argv = argv
        for old in (self.cmdline_path, self.stderr_path, self.log_path):  # unlink, not truncate:
            old.unlink(missing_ok=True)  # ext4 flushes a truncated file on close
        self.cmdline_path.write_text(shlex.join(argv) + "\n")
        self._stderr_file = open(self.stderr_path, "wb")  # noqa: SIM115 - closed in shutdown
        setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
        try:
            if setpriv is not None:
                # setpriv sets the parent-death signal and execs QEMU (same PID); cheaper
                # than a preexec_fn, which forces a full fork of this process.
                self._proc = subprocess.Popen(
                    [setpriv, "--pdeathsig", "KILL", "--", *argv], stdin=in_r, stdout=out_w,
                    stderr=self._stderr_file, pass_fds=pass_fds, start_new_session=True,
                )
            else:
                self._proc = subprocess.Popen(
                    argv, stdin=in_r, stdout=out_w, stderr=self._stderr_file,
                    pass_fds=pass_fds, start_new_session=True, preexec_fn=die_with_parent,
                )
        except OSError as exc:
            for fd in (out_r, out_w, in_r, in_w, *([] if state_fd is None else [state_fd])):
                os.close(fd)
            for s in (ours, theirs):
                if s is not None:
                    s.close()
            self._close_stderr()
            raise InfrastructureError(f"cannot start QEMU: {exc.strerror}", program=argv[0],
                                      argv=argv) from exc
        os.close(out_w)
        os.close(in_r)
        if state_fd is not None:
            os.close(state_fd)
        if theirs is not None:
            theirs.close()
        self.record.launched(argv, self._proc.pid, incoming=self._incoming)
        self._console = Console.attach(out_r, self.log_path, write_fd=in_w,
                                       bad_patterns=self._bad_patterns,
                                       exit_status=self._exit_status_soon)
        if ours is not None:
            try:
                self._await_greeting(ours)
            except BaseException:
                ours.close()
                self.shutdown()
                raise
            self._qmp_sock = ours

    def _open_incoming(self) -> int | None:
        try:
            return None if self._incoming is None else os.open(self._incoming, os.O_RDONLY)
        except OSError as exc:
            raise InfrastructureError(f"cannot read the machine state {self._incoming}: "
                                      f"{exc.strerror}", program=self._argv[0]) from exc

    def _await_greeting(self, sock: socket.socket) -> None:
        """Wait until QEMU's QMP greeting is there to read: start-up is over then. The
        capabilities negotiation itself waits until QMP is first needed (:meth:`_client`)."""
        deadline = Deadline(STARTUP_TIMEOUT)
        readable, _, _ = select.select([sock], [], [], deadline.remaining())
        if not readable:
            raise InfrastructureError(
                f"QEMU did not greet on QMP within {deadline.seconds:.0f} s",
                program=self._argv[0], argv=self.full_argv, output=self._stderr_text(),
            )
        try:
            greeted = sock.recv(1, socket.MSG_PEEK) != b""
        except OSError:
            greeted = False
        if not greeted:  # closed before the greeting: QEMU did not get through start-up
            raise InfrastructureError(
                "QEMU exited during start-up", program=self._argv[0], argv=self.full_argv,
                output=self._stderr_text(), returncode=self._exit_status_soon(),
            )

    def _client(self, timeout: float | None = None) -> QmpSession | None:
        """The negotiated QMP session; None when QMP is off or QEMU has already exited.

        Raises :class:`~bootproof.harness.core.errors.InfrastructureError` when QEMU is running but
        the negotiation fails or takes longer than ``timeout`` (default QMP_TIMEOUT, scaled).
        """
        if self._qmp is not None or self._qmp_sock is None:
            return self._qmp
        sock, self._qmp_sock = self._qmp_sock, None
        try:
            qmp = QmpSession(sock, timeout if timeout is not None
                              else Deadline(QMP_TIMEOUT).seconds)
        except QMP_FAILURES as exc:
            sock.close()
            if self._proc is not None and self._proc.poll() is not None:
                return None  # the guest stopped QEMU already (e.g. a test finisher)
            raise InfrastructureError(
                f"QMP negotiation failed: {exc!r}", program=self._argv[0],
                argv=self.full_argv, output=self._stderr_text(),
            ) from None
        self._qmp = qmp
        return qmp

    # -- while running ---------------------------------------------------------------------

    @property
    def argv(self) -> list[str]:
        """The command line the machine was made with (without the harness's console, QMP
        and display options): what a second QEMU of the same machine is started with."""
        return list(self._argv)

    @property
    def pid(self) -> int:
        """QEMU's process id (raises HarnessError before launch)."""
        return self._running_proc().pid

    @property
    def console(self) -> Console:
        """The guest's first serial port (raises HarnessError before launch)."""
        if self._console is None:
            raise HarnessError(f"machine {self.name!r} has not been launched")
        return self._console

    @property
    def exitcode(self) -> int | None:
        """QEMU's exit status once it has exited (negative: killed by that signal)."""
        if self._proc is None:
            return None
        return self._proc.poll()

    def is_running(self) -> bool:
        """True while the QEMU process exists."""
        return self._proc is not None and self._proc.poll() is None

    def qmp_command(self, cmd: str, **args: Any) -> Any:
        """Run one QMP command and return its ``return`` value.

        Raises :class:`~bootproof.harness.core.errors.InfrastructureError` when QMP is off, the
        command fails or the connection is gone.
        """
        client = self._client()
        if client is None:
            why = "QMP is off" if not self._use_qmp else "QEMU has exited"
            raise InfrastructureError(f"machine {self.name!r}: no QMP connection ({why})",
                                      program=self._argv[0])
        try:
            return client.cmd(cmd, **args)
        except QMP_FAILURES as exc:
            raise InfrastructureError(f"QMP command {cmd!r} failed: {exc}",
                                      program=self._argv[0]) from exc

    def wait(self, timeout: float | Deadline = 60.0) -> int:
        """Wait for a guest that stops QEMU itself; return QEMU's exit status.

        The console is read (and logged, and checked for bad patterns) meanwhile. ``timeout``
        is a :class:`Deadline` or seconds (scaled by the multiplier). Raises
        :class:`~bootproof.harness.core.errors.BootTimeout` if QEMU is still running at the deadline
        (QEMU is left running: :meth:`shutdown` or the context manager stops it), and
        :class:`~bootproof.harness.core.errors.BadPattern` if one appears.
        """
        deadline = timeout if isinstance(timeout, Deadline) else Deadline(timeout)
        proc = self._running_proc()
        self.console.wait_for_exit(deadline)
        status = wait_exit(proc, max(deadline.remaining(), 1.0))
        if status is not None:
            return status
        raise BootTimeout(
            f"QEMU closed its console but did not exit within {deadline.seconds:.1f} s",
            waiting_for="QEMU to exit", log_path=self.log_path, log_tail=self.console.tail(),
        )

    # -- shutdown --------------------------------------------------------------------------

    def shutdown(self, timeout: float = DEFAULT_SHUTDOWN_TIMEOUT) -> int | None:
        """Stop QEMU: QMP ``quit``, then SIGTERM, then SIGKILL, each given ``timeout`` seconds,
        always by PID. Idempotent; safe after QEMU exited by itself. Closes the console, QMP
        and log files, and returns QEMU's exit status (None if it was never started)."""
        proc = self._proc
        try:
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(InfrastructureError):
                    client = self._client(timeout)
                    if client is not None:
                        with contextlib.suppress(*QMP_FAILURES):
                            client.timeout = timeout
                            client.cmd("quit")
                        self._reap(proc, timeout)
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.terminate()
                    self._reap(proc, timeout)
                if proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    proc.wait()
        finally:
            if proc is not None and proc.poll() is None:  # interrupted above: never leave it
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait()
            typed = self._console.typed if self._console is not None else []
            self._close_channels()
            if proc is not None and self.record.ended is None:
                self.record.stopped(proc.returncode, typed)
                if self._own_record:
                    self.record.write()
        return None if proc is None else proc.returncode

    def _reap(self, proc: subprocess.Popen[bytes], timeout: float) -> None:
        wait_exit(proc, timeout)

    def _close_channels(self) -> None:
        if self._qmp is not None:
            with contextlib.suppress(*QMP_FAILURES):
                self._qmp.close()
            self._qmp = None
        if self._qmp_sock is not None:
            self._qmp_sock.close()
            self._qmp_sock = None
        if self._console is not None:
            self._console.read_pending()
            self._console.close()
        self._close_stderr()

    def _close_stderr(self) -> None:
        if self._stderr_file is not None and not self._stderr_file.closed:
            self._stderr_file.close()

    # -- helpers ---------------------------------------------------------------------------

    def _running_proc(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            raise HarnessError(f"machine {self.name!r} has not been launched")
        return self._proc

    def _exit_status_soon(self) -> int | None:
        """QEMU's exit status, waiting up to 2 s for it: called when its console closed."""
        if self._proc is None:
            return None
        return wait_exit(self._proc, 2.0)

    def _stderr_text(self) -> str:
        if self._stderr_file is not None and not self._stderr_file.closed:
            self._stderr_file.flush()
        try:
            return self.stderr_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def stderr_text(self) -> str:
        """What QEMU itself printed on stderr so far."""
        return self._stderr_text()

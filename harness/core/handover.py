"""Hands on a boot: the console handed to a person, and QEMU's gdbstub.

Both boot flows take a :class:`Handover` (the command lines' ``--interactive`` and
``--gdb[=PORT]``):

* **interactive**: after the checks, or at the first boot failure while QEMU still runs,
  :func:`interact` connects the person's terminal to the guest's serial console over the
  harness's own pipes: the last lines of the log first, then everything the guest prints,
  and every key typed (the terminal is put in raw mode, so Ctrl-C goes to the guest).
  :data:`ESCAPE` (Ctrl-]) ends it; the flow then stops QEMU as always (QMP ``quit``, then
  signals, by PID). The serial log keeps recording meanwhile.
* **gdb**: QEMU starts with its gdbstub on ``127.0.0.1:PORT`` (PORT 0: a free port QEMU
  picks, read back over QMP) and paused at reset (``-S``); the flow prints the
  ``gdb-multiarch`` command line with the symbol files it knows (:func:`gdb_command`) and
  waits with no time limit, since a person at a debugger decides how long a boot takes.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import os
import re
import selectors
import shlex
import termios
import tty
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from bootproof.builder.errors import InputError
from bootproof.harness.core.console import Console
from bootproof.harness.core.errors import BootFailure, InfrastructureError
from bootproof.harness.core.machine import QemuMachine

ESCAPE = "\x1d"
ESCAPE_NAME = "Ctrl-]"
GDB_HOST = "127.0.0.1"
DEFAULT_GDB_PORT = 1234
_CONTEXT_LINES = 10


def _print(text: str) -> None:
    print(text, flush=True)


@dataclass(frozen=True)
class Handover:
    """What the person running the boot asked for.

    ``interactive``: hand the console over (see the module docstring) through ``in_fd`` and
    ``out_fd`` (the terminal). ``gdb_port``: start QEMU with its gdbstub, paused (0: any
    free port). ``say`` prints the harness's own messages (default: stdout).
    """

    interactive: bool = False
    gdb_port: int | None = None
    in_fd: int = 0
    out_fd: int = 1
    escape: str = ESCAPE
    say: Callable[[str], None] = field(default=_print, compare=False)

    @property
    def gdb(self) -> bool:
        return self.gdb_port is not None

    def qemu_options(self) -> list[str]:
        """Options to add to QEMU's command line (the gdbstub, paused at reset)."""
        if self.gdb_port is None:
            return []
        return ["-gdb", f"tcp:{GDB_HOST}:{self.gdb_port}", "-S"]

    def timeout(self, seconds: float) -> float:
        """A boot's time budget: ``seconds``, or no limit under a debugger."""
        return float("inf") if self.gdb else seconds

    def announce_gdb(self, machine: QemuMachine, symbols: Sequence[Path],
                     architecture: str) -> list[str]:
        """Tell the person how to attach (after launch); returns the gdb command line.

        Raises InfrastructureError when the gdbstub's port cannot be read over QMP.
        """
        port = gdb_port(machine) if self.gdb_port == 0 else (self.gdb_port or 0)
        argv = gdb_command(port, symbols, architecture)
        self.say(f"gdb: QEMU (pid {machine.pid}) is paused at reset, its gdbstub on "
                 f"{GDB_HOST}:{port}. Attach with:")
        self.say("  " + shlex.join(argv))
        self.say("gdb: waiting for the guest to run (no time limit; Ctrl-C stops)")
        return argv

    @contextlib.contextmanager
    def at_end(self, machine: QemuMachine) -> Iterator[None]:
        """``with handover.at_end(machine):`` around a boot's checks: when interactive, the
        console is handed over when the block ends, passed or failed (the failure is shown
        first and raised after)."""
        if not self.interactive:
            yield
            return
        try:
            yield
        except BootFailure as exc:
            self.say(f"boot failed: {str(exc).splitlines()[0]}")
            self._hand_over(machine)
            raise
        self._hand_over(machine)

    def _hand_over(self, machine: QemuMachine) -> None:
        if not machine.is_running():
            self.say(f"interactive: QEMU has exited (status {machine.exitcode}); there is no "
                     "console to hand over")
            return
        self.say(f"--- console of QEMU (pid {machine.pid}) is yours; {ESCAPE_NAME} leaves "
                 "and stops QEMU ---")
        context = log_context(machine.console.log_text(), _CONTEXT_LINES)
        why = interact(machine.console, in_fd=self.in_fd, out_fd=self.out_fd,
                       escape=self.escape, context=context)
        self.say(f"\r\n--- {why}; stopping QEMU (pid {machine.pid}) ---")


def log_context(log: str, lines: int) -> str:
    """The last ``lines`` lines of ``log`` as they are: a last line still being written (a
    prompt) stays open, so that what the guest prints next continues it."""
    return "".join(log.splitlines(keepends=True)[-lines:])


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def interact(console: Console, *, in_fd: int, out_fd: int, escape: str = ESCAPE,
             context: str = "") -> str:
    """Connect ``in_fd``/``out_fd`` (a terminal, or pipes) to ``console`` until the
    ``escape`` key, the end of the input or QEMU's exit; return which, as words.

    A terminal on ``in_fd`` is put in raw mode and restored afterwards; output to a terminal
    gets ``\\r\\n`` line ends. ``context`` (e.g. the log's last lines, see
    :func:`log_context`) is shown first, as it is. What the
    person types is not kept in the run record's typed input.
    """
    out_tty = os.isatty(out_fd)

    def show(text: str) -> None:
        if text:
            _write_all(out_fd, (text.replace("\n", "\r\n") if out_tty else text).encode())

    saved = termios.tcgetattr(in_fd) if os.isatty(in_fd) else None
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    esc = escape.encode()
    sel = selectors.DefaultSelector()
    try:
        if saved is not None:
            tty.setraw(in_fd)
        show(context)
        sel.register(console.fileno(), selectors.EVENT_READ, "guest")
        sel.register(in_fd, selectors.EVENT_READ, "person")
        while True:
            for key, _ in sel.select():
                if key.data == "guest":
                    text = console.read_now(0)
                    if text is None:
                        return "QEMU exited"
                    show(text)
                    continue
                data = os.read(in_fd, 1024)
                if not data:
                    return "input closed"
                head, found, _ = data.partition(esc)
                if head:
                    console.send(decoder.decode(head), record=False)
                if found:
                    return f"left with {ESCAPE_NAME}" if escape == ESCAPE else "left"
    finally:
        sel.close()
        if saved is not None:
            termios.tcsetattr(in_fd, termios.TCSADRAIN, saved)


# -- gdb ---------------------------------------------------------------------------------------

_GDB_CHARDEV_RE = re.compile(r"tcp:[^:,]*:(\d+)")


def gdb_port(machine: QemuMachine) -> int:
    """The TCP port of ``machine``'s gdbstub (QEMU's ``gdb`` chardev), read over QMP.

    Raises InfrastructureError when QEMU has no such chardev.
    """
    for dev in machine.qmp_command("query-chardev"):
        if dev.get("label") == "gdb":
            m = _GDB_CHARDEV_RE.search(str(dev.get("filename", "")))
            if m:
                return int(m.group(1))
    raise InfrastructureError("QEMU reports no gdbstub port (query-chardev has no 'gdb')",
                              program=machine.full_argv[0] if machine.full_argv else None)


def gdb_command(port: int, symbols: Sequence[Path], architecture: str) -> list[str]:
    """``gdb-multiarch`` attaching to ``GDB_HOST:port`` with ``symbols`` (the first as the
    program, the others added with ``add-symbol-file`` at their ELF addresses) and
    ``architecture`` set when there is no symbol file to tell it."""
    argv = ["gdb-multiarch", "-q"]
    if symbols:
        argv.append(str(symbols[0]))
    argv += ["-ex", "set confirm off"]
    if not symbols:
        argv += ["-ex", f"set architecture {architecture}"]
    for extra in symbols[1:]:
        argv += ["-ex", f"add-symbol-file {extra}"]
    argv += ["-ex", f"target remote {GDB_HOST}:{port}"]
    return argv


# -- command lines -----------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--interactive`` and ``--gdb[=PORT]`` to a boot command's parser."""
    parser.add_argument(
        "--interactive", action="store_true",
        help=f"after the checks (or at the first failure) hand the serial console over to "
             f"you; {ESCAPE_NAME} leaves it and stops QEMU")
    parser.add_argument(
        "--gdb", nargs="?", type=int, const=DEFAULT_GDB_PORT, default=None, metavar="PORT",
        help=f"start QEMU paused at reset with its gdbstub on {GDB_HOST}:PORT (default "
             f"{DEFAULT_GDB_PORT}; 0: any free port), print the gdb-multiarch command line "
             "and wait for the guest to run (no time limit)")


def from_arguments(args: argparse.Namespace, out: TextIO) -> Handover:
    """The :class:`Handover` asked for on the command line; messages go to ``out``."""
    if args.gdb is not None and not 0 <= args.gdb <= 65535:
        raise InputError("must be a TCP port, 0 to 65535", field="--gdb", value=args.gdb)

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    return Handover(interactive=args.interactive, gdb_port=args.gdb, say=say)

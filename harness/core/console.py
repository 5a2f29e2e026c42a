"""The serial console of a booted guest, watched with pexpect.

Every wait (:meth:`Console.expect`, the ordered and any-order forms, the echo checks of
:meth:`Console.send_line`) also watches the console's *bad patterns* (a panic, a trap,
``FAIL``...): the first one seen fails the wait at once with
:class:`~bootproof.harness.core.errors.BadPattern` naming the entry, instead of letting the wait run
into its timeout. The table belongs to the console (never module state):
``console.bad_patterns.add(name, regex)``, and ``with console.allow(name):`` switches one entry off
for a block.

Lines: patterns are matched one line at a time, against the text with every carriage return
removed, so ``\r\n`` (U-Boot) and ``\r\r\n`` (Xen) both end a line at ``\n``. ``^`` and
``$`` match at the line's start and end, and no match ever crosses a line end (a pattern
containing ``\n`` never matches; use :meth:`Console.expect_ordered` for several lines). The
line being printed is matched too, before its end arrives, so a prompt such as ``=> `` is
seen at once. Each character is examined about once per wait, so the cost of a wait grows with
what the guest prints, not with how long it has been printing.

pexpect does the reading (poll, decode, log: :mod:`~bootproof.harness.core.spawn`); the
matching is ours (:mod:`~bootproof.harness.core.lines`), and the table of bad patterns lives
in :mod:`~bootproof.harness.core.patterns`. The serial log on disk keeps the raw text (decoded
as UTF-8, undecodable bytes replaced, carriage returns kept).
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pexpect

from bootproof.harness.core.deadline import Deadline
from bootproof.harness.core.errors import BadPattern, BootTimeout, UnexpectedExit
from bootproof.harness.core.lines import Hit, LineBuffer

# BadPatterns is part of this API (the ``bad_patterns`` argument and attribute): importable
# from here too, so callers of the console need one import.
from bootproof.harness.core.patterns import BadPatterns as BadPatterns
from bootproof.harness.core.patterns import Pattern, compile_pattern, describe
from bootproof.harness.core.spawn import READ_CHUNK, LazyLog, open_serial

DEFAULT_TAIL_LINES = 25
#: How long a bad-pattern report waits for the rest of the offending line.
_LINE_GRACE = 0.5
_ECHO_DEADLINE = 10.0


@dataclass(frozen=True)
class TypedInput:
    """Text written to the guest, and what it answered: ``after`` is the text of the last
    match before it was typed (empty when nothing was awaited yet), ``seen`` the number of log
    lines holding ``after`` at that moment. A replay that waits for ``after`` to be on
    ``seen`` lines before typing types at the same point of the boot."""

    text: str
    after: str
    seen: int


class Console:
    """The serial console of one boot: expectations with deadlines, bad patterns, typing.

    Build it with :meth:`attach` over file descriptors (pipes, a socket, a pty master);
    :class:`bootproof.harness.core.machine.QemuMachine` does that for you. ``exit_status`` is called
    when the console reaches end-of-file, to put QEMU's exit status into
    :class:`~bootproof.harness.core.errors.UnexpectedExit`.
    """

    def __init__(
        self,
        child: pexpect.spawnbase.SpawnBase,
        *,
        log_path: Path,
        log_file: LazyLog | None = None,
        bad_patterns: BadPatterns | None = None,
        exit_status: Callable[[], int | None] | None = None,
    ) -> None:
        self._child = child
        self._log_file = log_file
        self.log_path = log_path
        self.bad_patterns = bad_patterns if bad_patterns is not None else BadPatterns()
        self._exit_status = exit_status
        self._lines = LineBuffer()
        #: Everything written to the guest through :meth:`send` and :meth:`send_line`, in
        #: order, each with the console text it followed (the run record's typed input).
        self.typed: list[TypedInput] = []
        self._last_match = ""

    @classmethod
    def attach(
        cls,
        fd: int,
        log_path: Path,
        *,
        write_fd: int | None = None,
        bad_patterns: BadPatterns | None = None,
        exit_status: Callable[[], int | None] | None = None,
    ) -> Console:
        """A console reading ``fd`` and writing ``write_fd`` (default: ``fd`` too; the
        console owns both from now on), logging everything it reads to ``log_path``
        (created or truncated)."""
        child, log_file = open_serial(fd, log_path, write_fd=write_fd)
        return cls(child, log_path=log_path, log_file=log_file, bad_patterns=bad_patterns,
                   exit_status=exit_status)

    # -- reading -------------------------------------------------------------------------

    def allow(self, *names: str) -> contextlib.AbstractContextManager[None]:
        """``with console.allow("fail"):`` lets the named bad patterns appear in the block."""
        return self.bad_patterns.disabled(*names)

    def expect(self, pattern: Pattern, deadline: Deadline, *,
               name: str | None = None) -> re.Match[str]:
        """Wait until ``pattern`` appears on the console; return its match.

        Raises :class:`~bootproof.harness.core.errors.BadPattern` as soon as an active bad pattern
        appears first, :class:`~bootproof.harness.core.errors.BootTimeout` when ``deadline`` passes
        (with the log tail) and :class:`~bootproof.harness.core.errors.UnexpectedExit` when QEMU
        exits first. ``name`` is how messages call the pattern (default: its text).
        """
        label = name or describe(pattern)
        _, match = self._wait([(label, compile_pattern(pattern))], deadline, label)
        assert match is not None
        return match

    def expect_ordered(self, patterns: Sequence[Pattern],
                       deadline: Deadline) -> list[re.Match[str]]:
        """Wait for ``patterns`` one after the other, in this order; return their matches.

        On timeout or exit the error's ``missing`` lists every pattern not seen in order, and
        the message says which of those did appear, but out of order.
        """
        matches: list[re.Match[str]] = []
        for i, pat in enumerate(patterns):
            try:
                matches.append(self.expect(pat, deadline))
            except (BootTimeout, UnexpectedExit) as exc:
                self._report_missing(exc, list(patterns[i:]), len(patterns), "in order")
        return matches

    def expect_all_any_order(self, patterns: Sequence[Pattern],
                             deadline: Deadline) -> list[re.Match[str]]:
        """Wait until every one of ``patterns`` has appeared, in any order; return the matches
        in the order of ``patterns``. Errors list the patterns never seen in ``missing``."""
        pending = {i: compile_pattern(p) for i, p in enumerate(patterns)}
        found: dict[int, re.Match[str]] = {}
        while pending:
            keys = list(pending)
            try:
                idx, match = self._wait([(describe(patterns[k]), pending[k]) for k in keys],
                                        deadline, f"{len(keys)} pattern(s) in any order")
            except (BootTimeout, UnexpectedExit) as exc:
                self._report_missing(exc, [patterns[k] for k in keys], len(patterns),
                                     "in any order")
            assert match is not None
            found[keys[idx]] = match
            del pending[keys[idx]]
        return [found[i] for i in range(len(patterns))]

    def wait_for_exit(self, deadline: Deadline) -> None:
        """Read (and log) the console until the other end closes, watching the bad patterns.

        Raises :class:`~bootproof.harness.core.errors.BootTimeout` if it stays open past
        ``deadline``.
        """
        if not self._lines.eof:
            self._wait([], deadline, "QEMU to exit", eof_ok=True)

    def drain(self, seconds: float) -> None:
        """Read whatever arrives during ``seconds`` (scaled), checking it, and whatever was
        already read but not matched, for bad patterns; then forget it all.

        Use after the last expectation to catch a late panic. End-of-file is not an error
        here. Raises :class:`~bootproof.harness.core.errors.BadPattern`.
        """
        with contextlib.suppress(BootTimeout):
            self._wait([], Deadline(seconds), "a quiet console", eof_ok=True)
        self._lines.consume_all()

    def tail(self, n: int = DEFAULT_TAIL_LINES) -> str:
        """The last ``n`` lines of the serial log (carriage returns removed)."""
        self._sync_log()
        try:
            data = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        lines = data.replace("\r", "").splitlines()
        return "\n".join(lines[-n:])

    def log_text(self) -> str:
        """Everything logged so far (carriage returns removed)."""
        self._sync_log()
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace").replace("\r", "")
        except OSError:
            return ""

    # -- writing -------------------------------------------------------------------------

    def send(self, text: str, *, record: bool = True) -> None:
        """Write ``text`` to the guest as it is (no echo check, no line end). ``record``:
        keep it in :attr:`typed` (a person's keys during a hand-over are not kept)."""
        if record:
            self._note_typed(text)
        self._child.send(text)

    def send_line(self, text: str, *, echo_check: bool = True, chunk: int = 16,
                  deadline: Deadline | None = None, eol: str = "\n") -> None:
        """Type ``text`` then ``eol``, ``chunk`` characters at a time.

        With ``echo_check`` each chunk must be echoed back before the next is sent (slow
        guest UARTs drop characters typed too fast); a missing echo raises
        :class:`~bootproof.harness.core.errors.BootTimeout` naming the chunk. ``deadline`` bounds
        all the echo waits (default 10 s, scaled).
        """
        if chunk < 1:
            raise ValueError("chunk must be at least 1")
        dl = deadline if deadline is not None else Deadline(_ECHO_DEADLINE)
        self._note_typed(text + eol)
        for start in range(0, len(text), chunk):
            piece = text[start:start + chunk]
            self._child.send(piece)
            if echo_check:
                echo = re.compile(re.escape(piece.replace("\r", "")))
                self._wait([(f"echo of {piece!r}", echo)], dl, f"echo of {piece!r}")
        self._child.send(eol)

    def _note_typed(self, text: str) -> None:
        after = self._last_match.split("\n")[-1].strip() if self._last_match else ""
        seen = sum(1 for line in self.log_text().split("\n") if after in line) if after else 0
        self.typed.append(TypedInput(text, after, seen))

    def fileno(self) -> int:
        """The descriptor the guest's output is read from (for ``select``)."""
        fd: int = self._child.child_fd
        return fd

    def read_now(self, timeout: float = 0.0) -> str | None:
        """Whatever the guest printed within ``timeout`` seconds ("" for nothing), logged
        but not kept for later waits; None once the console has closed (QEMU exited).
        Carriage returns are removed, as everywhere."""
        if self._lines.eof:
            return None
        try:
            text: str = self._child.read_nonblocking(READ_CHUNK, timeout)
        except pexpect.TIMEOUT:
            return ""
        except (pexpect.EOF, OSError, ValueError):
            self._lines.eof = True
            return None
        return text

    # -- life cycle ----------------------------------------------------------------------

    def read_pending(self) -> None:
        """Move whatever the guest already wrote into the buffer and the log, without
        waiting (used before closing so the log is complete)."""
        with contextlib.suppress(pexpect.TIMEOUT, pexpect.EOF, OSError, ValueError):
            while not self._lines.eof:
                self._read(0)

    def close(self) -> None:
        """Close the descriptor and the log file (idempotent)."""
        with contextlib.suppress(OSError):
            self._child.close()
        if self._log_file is not None and not self._log_file.closed:
            self._log_file.sync()
            self._log_file.close()

    @property
    def closed(self) -> bool:
        return self._log_file is None or self._log_file.closed

    # -- internals -----------------------------------------------------------------------

    def _report_missing(self, exc: BootTimeout | UnexpectedExit, missing: list[Pattern],
                        total: int, how: str) -> NoReturn:
        """Re-raise ``exc`` with the list of expected patterns never seen (``how``: "in
        order" or "in any order"), marking those that did appear but out of order."""
        seen_lines = self.log_text().split("\n")
        labels = []
        for pat in missing:
            label = describe(pat)
            regex = compile_pattern(pat)
            if how == "in order" and any(regex.search(line) for line in seen_lines):
                label += " (seen, but out of order)"
            labels.append(label)
        listing = "; ".join(repr(x) for x in labels)
        message = f"{len(missing)} of {total} expected line(s) not seen {how}: {listing}"
        if isinstance(exc, BootTimeout):
            raise BootTimeout(
                f"timed out after {exc.seconds or 0:.1f} s: {message}",
                waiting_for=exc.waiting_for, missing=labels, seconds=exc.seconds,
                log_path=exc.log_path, log_tail=exc.log_tail,
            ) from None
        raise UnexpectedExit(
            f"QEMU exited (status {exc.exitcode}): {message}", exitcode=exc.exitcode,
            missing=labels, log_path=exc.log_path, log_tail=exc.log_tail,
        ) from None

    def _sync_log(self) -> None:
        """Bring the log file on disk up to date (once per finished wait, not per read)."""
        if self._log_file is not None:
            self._log_file.sync()

    def _read(self, timeout: float | None) -> None:
        """Append one read to the buffer. Raises pexpect.TIMEOUT; marks the buffer's end of
        file at the end."""
        try:
            text: str = self._child.read_nonblocking(READ_CHUNK, timeout)
        except pexpect.EOF:
            self._lines.eof = True
            return
        self._lines.feed(text)

    def _wait(
        self,
        wanted: list[tuple[str, re.Pattern[str]]],
        deadline: Deadline,
        waiting_for: str,
        *,
        eof_ok: bool = False,
    ) -> tuple[int, re.Match[str] | None]:
        """Wait for the first of ``wanted`` (or, with ``eof_ok``, end-of-file: index -1 and
        no match), failing on bad patterns, timeout and (without ``eof_ok``) end-of-file."""
        bad = self.bad_patterns.active()
        regexes = [r for _, r in wanted]
        self._lines.unhold()
        pos = 0
        while True:
            hit = self._lines.scan(regexes, pos, bad)
            if isinstance(hit, Hit):
                if hit.index >= len(wanted):
                    self._raise_bad(bad[hit.index - len(wanted)][0], hit, waiting_for)
                self._lines.consume(hit.end)
                self._sync_log()
                self._last_match = hit.match.group(0)
                return hit.index, hit.match
            pos = self._lines.searched(pos, hit)
            if self._lines.eof:
                if eof_ok:
                    self._sync_log()
                    return -1, None
                status = self._exit_status() if self._exit_status is not None else None
                raise UnexpectedExit(
                    f"QEMU exited (status {status}) while waiting for {waiting_for!r}",
                    exitcode=status, missing=[waiting_for], log_path=self.log_path,
                    log_tail=self.tail(),
                )
            remaining = deadline.remaining()
            try:
                if remaining <= 0:
                    raise pexpect.TIMEOUT("deadline passed")
                self._read(None if remaining == math.inf else remaining)
            except pexpect.TIMEOUT:
                raise BootTimeout(
                    f"timed out after {deadline.seconds:.1f} s waiting for {waiting_for!r}",
                    waiting_for=waiting_for, missing=[waiting_for], seconds=deadline.seconds,
                    log_path=self.log_path, log_tail=self.tail(),
                ) from None

    def _raise_bad(self, name: str, hit: Hit, waiting_for: str) -> NoReturn:
        """Raise BadPattern for ``match``, with its whole line (waiting briefly for the rest
        of the line when it is still being printed)."""
        grace = Deadline(_LINE_GRACE, multiplier=1.0)
        with contextlib.suppress(pexpect.TIMEOUT, OSError, ValueError):
            while not (self._lines.line_finished(hit) or self._lines.eof or grace.expired):
                self._read(grace.remaining())
        line = self._lines.line_of(hit)
        self._lines.consume_all()
        raise BadPattern(
            f"bad pattern {name!r} seen while waiting for {waiting_for!r}: {line.strip()!r}",
            pattern_name=name, matched_line=line, log_path=self.log_path,
            log_tail=self.tail(),
        )

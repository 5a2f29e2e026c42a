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

pexpect does the reading (poll, decode, log); the matching is ours. The serial log on disk
keeps the raw text (decoded as UTF-8, undecodable bytes replaced, carriage returns kept).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NoReturn

import pexpect
import pexpect.fdpexpect

from bootproof.harness.core.deadline import Deadline
from bootproof.harness.core.errors import BadPattern, BootTimeout, UnexpectedExit

Pattern = str | re.Pattern[str]

#: The bad patterns every new console starts with: (name, regex). A tuple, so no test can
#: change it for the others; change a console's own table instead.
DEFAULT_BAD_PATTERNS: Final[tuple[tuple[str, str], ...]] = (
    ("rust-panic", r"panicked at"),
    ("loader-panic", r"\bLOADER PANIC\b|\bloader panic\b"),
    ("kernel-panic", r"Kernel panic - not syncing"),
    ("xen-panic", r"Panic on CPU \d+"),
    ("trap", r"\bTRAP\b|[Uu]nhandled (?:trap|exception)"),
    ("uboot-abort", r"\"(?:Synchronous Abort|SError|Error)\" handler"),
    ("uboot-unknown-command", r"Unknown command '[^'\n]*' - try 'help'"),
    ("uboot-reset", r"^resetting \.\.\.$"),
    ("fail", r"\bFAIL\b"),
)

DEFAULT_TAIL_LINES = 25
READ_CHUNK = 65536
_HOLD_AT = 4096
#: How long a bad-pattern report waits for the rest of the offending line.
_LINE_GRACE = 0.5
_ECHO_DEADLINE = 10.0


def compile_pattern(pattern: Pattern) -> re.Pattern[str]:
    """A pattern as the console matches it: strings are compiled with ``re.MULTILINE``;
    compiled patterns are used as they are."""
    if isinstance(pattern, re.Pattern):
        return pattern
    return re.compile(pattern, re.MULTILINE)


def describe(pattern: Pattern) -> str:
    """The text of a pattern, for messages."""
    return pattern.pattern if isinstance(pattern, re.Pattern) else pattern


class BadPatterns:
    """A console's table of named patterns that fail any wait at once.

    Names are unique: :meth:`add` refuses a duplicate unless ``replace=True``.
    """

    def __init__(self, entries: Iterable[tuple[str, Pattern]] = DEFAULT_BAD_PATTERNS) -> None:
        self._table: dict[str, re.Pattern[str]] = {}
        self._disabled: dict[str, int] = {}
        for name, regex in entries:
            self.add(name, regex)

    def add(self, name: str, regex: Pattern, *, replace: bool = False) -> None:
        """Watch for ``regex`` under ``name``. Raises ValueError if the name is taken (and
        ``replace`` is false) or the regex does not compile."""
        if not name:
            raise ValueError("a bad pattern needs a name")
        if name in self._table and not replace:
            raise ValueError(f"bad pattern {name!r} is already defined")
        try:
            self._table[name] = compile_pattern(regex)
        except re.error as exc:
            raise ValueError(f"bad pattern {name!r}: invalid regex {regex!r}: {exc}") from None

    def remove(self, name: str) -> None:
        """Stop watching ``name`` for good. Raises KeyError naming the known entries."""
        self._check(name)
        del self._table[name]
        self._disabled.pop(name, None)

    def names(self) -> list[str]:
        """Every entry, in the order they were added."""
        return list(self._table)

    def active(self) -> list[tuple[str, re.Pattern[str]]]:
        """The entries that are currently watched (not disabled by :meth:`disabled`)."""
        return [(n, p) for n, p in self._table.items() if not self._disabled.get(n)]

    def __contains__(self, name: object) -> bool:
        return name in self._table

    def __len__(self) -> int:
        return len(self._table)

    def _check(self, name: str) -> None:
        if name not in self._table:
            known = ", ".join(self._table) or "none"
            raise KeyError(f"no bad pattern named {name!r} (known: {known})")

    @contextlib.contextmanager
    def disabled(self, *names: str) -> Iterator[None]:
        """Switch the named entries off for the ``with`` block (nesting is fine)."""
        for n in names:
            self._check(n)
        for n in names:
            self._disabled[n] = self._disabled.get(n, 0) + 1
        try:
            yield
        finally:
            for n in names:
                if n in self._disabled:
                    self._disabled[n] -= 1
                    if self._disabled[n] <= 0:
                        del self._disabled[n]


class _Spawn(pexpect.fdpexpect.fdspawn):  # type: ignore[misc]
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


class _LazyLog:
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


@dataclass(frozen=True)
class TypedInput:
    """Text written to the guest, and what it answered: ``after`` is the text of the last
    match before it was typed (empty when nothing was awaited yet), ``seen`` the number of log
    lines holding ``after`` at that moment. A replay that waits for ``after`` to be on
    ``seen`` lines before typing types at the same point of the boot."""

    text: str
    after: str
    seen: int


@dataclass(frozen=True)
class _Hit:
    """A match found by Console._scan: which pattern, where in the buffer, which line."""

    index: int
    match: re.Match[str]
    start: int
    end: int
    line_start: int


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
        log_file: _LazyLog | None = None,
        bad_patterns: BadPatterns | None = None,
        exit_status: Callable[[], int | None] | None = None,
    ) -> None:
        self._child = child
        self._log_file = log_file
        self.log_path = log_path
        self.bad_patterns = bad_patterns if bad_patterns is not None else BadPatterns()
        self._exit_status = exit_status
        self._line_head = ""  # the part of the current line consumed by earlier matches
        self._buf = ""  # text read but not consumed by a match yet
        self._bad_pos = 0  # self._buf[:_bad_pos] has been checked for bad patterns
        # Whole lines a wait has already searched, set aside so the buffer stays short (no
        # quadratic copying on chatty consoles); put back if the wait ends without a match.
        self._held: list[str] = []
        self._held_head = ""  # _line_head as it was for the first held line
        self._eof = False
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
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = _LazyLog(log_path)
        child = _Spawn(fd, write_fd=write_fd, encoding="utf-8", codec_errors="replace",
                       maxread=READ_CHUNK, use_poll=True)
        child.delayafterread = None
        child.logfile_read = log_file
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
        if not self._eof:
            self._wait([], deadline, "QEMU to exit", eof_ok=True)

    def drain(self, seconds: float) -> None:
        """Read whatever arrives during ``seconds`` (scaled), checking it, and whatever was
        already read but not matched, for bad patterns; then forget it all.

        Use after the last expectation to catch a late panic. End-of-file is not an error
        here. Raises :class:`~bootproof.harness.core.errors.BadPattern`.
        """
        with contextlib.suppress(BootTimeout):
            self._wait([], Deadline(seconds), "a quiet console", eof_ok=True)
        self._consume(len(self._buf))

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
        if self._eof:
            return None
        try:
            text: str = self._child.read_nonblocking(READ_CHUNK, timeout)
        except pexpect.TIMEOUT:
            return ""
        except (pexpect.EOF, OSError, ValueError):
            self._eof = True
            return None
        return text

    # -- life cycle ----------------------------------------------------------------------

    def read_pending(self) -> None:
        """Move whatever the guest already wrote into the buffer and the log, without
        waiting (used before closing so the log is complete)."""
        with contextlib.suppress(pexpect.TIMEOUT, pexpect.EOF, OSError, ValueError):
            while not self._eof:
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
        """Append one read to the buffer. Raises pexpect.TIMEOUT; sets ``_eof`` at the end."""
        try:
            text: str = self._child.read_nonblocking(READ_CHUNK, timeout)
        except pexpect.EOF:
            self._eof = True
            return
        self._buf += text

    def _consume(self, end: int) -> None:
        """Drop the held lines and ``self._buf[:end]``: they were matched (or drained)."""
        done = self._buf[:end]
        cut = done.rfind("\n")
        self._line_head = done[cut + 1:] if cut >= 0 else self._line_head + done
        self._buf = self._buf[end:]
        self._bad_pos = max(0, self._bad_pos - end)
        self._held.clear()

    def _hold(self, end: int) -> None:
        """Set ``self._buf[:end]`` (whole lines, already searched) aside."""
        if not self._held:
            self._held_head = self._line_head
        self._line_head = ""
        self._held.append(self._buf[:end])
        self._buf = self._buf[end:]
        self._bad_pos -= end

    def _unhold(self) -> None:
        """Put held lines back in front of the buffer (a new wait searches them again)."""
        if self._held:
            text = "".join(self._held)
            self._held.clear()
            self._buf = text + self._buf
            self._bad_pos += len(text)
            self._line_head = self._held_head

    def _scan(self, wanted: Sequence[re.Pattern[str]], pos: int,
              bad: Sequence[tuple[str, re.Pattern[str]]]) -> _Hit | int:
        """Look for the earliest match, line by line: ``wanted`` from ``pos``, ``bad`` from
        ``self._bad_pos``. Returns the hit (index < len(wanted) for a wanted pattern,
        len(wanted) + j for bad pattern j), or the position a later scan must resume from
        (the start of the unfinished last line).

        The unfinished last line is searched with a NUL appended, and a match that reaches
        the NUL does not count: such a match depends on where the line ends (``$``, a
        greedy ``.*``), so it must wait for the line end."""
        buf = self._buf
        bad_pos = self._bad_pos
        line = buf.rfind("\n", 0, min(pos, bad_pos)) + 1
        end_of_buf = len(buf)
        while line < end_of_buf:
            nl = buf.find("\n", line)
            if nl >= 0:
                text, base, stop = buf, 0, nl
            elif self._eof:  # the last line will never be finished: take it as it is
                text, base, stop = buf, 0, end_of_buf
            else:  # unfinished line
                text, base = buf[line:] + "\0", line
                stop = len(text) - 1
            best: _Hit | None = None
            jobs: list[tuple[int, int, Sequence[re.Pattern[str]]]] = []
            line_end = nl if nl >= 0 else end_of_buf
            if line_end >= pos:
                jobs.append((0, max(line, pos), wanted))
            if line_end >= bad_pos:
                jobs.append((len(wanted), max(line, bad_pos), [r for _, r in bad]))
            for first, frm, regexes in jobs:
                for k, regex in enumerate(regexes):
                    m = regex.search(text, frm - base, stop if nl >= 0 else len(text))
                    if m is None or m.end() > stop:
                        continue
                    if best is None or m.start() + base < best.start:
                        best = _Hit(first + k, m, m.start() + base, m.end() + base, line)
            if best is not None:
                return best
            if nl < 0:
                break
            line = nl + 1
        return line

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
        self._unhold()
        pos = 0
        while True:
            hit = self._scan(regexes, pos, bad)
            if isinstance(hit, _Hit):
                if hit.index >= len(wanted):
                    self._raise_bad(bad[hit.index - len(wanted)][0], hit, waiting_for)
                self._consume(hit.end)
                self._sync_log()
                self._last_match = hit.match.group(0)
                return hit.index, hit.match
            resume = hit
            pos = max(pos, resume)
            self._bad_pos = max(self._bad_pos, resume)
            if resume >= _HOLD_AT:
                self._hold(resume)
                pos -= resume
            if self._eof:
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

    def _raise_bad(self, name: str, hit: _Hit, waiting_for: str) -> NoReturn:
        """Raise BadPattern for ``match``, with its whole line (waiting briefly for the rest
        of the line when it is still being printed)."""
        grace = Deadline(_LINE_GRACE, multiplier=1.0)
        with contextlib.suppress(pexpect.TIMEOUT, OSError, ValueError):
            while "\n" not in self._buf[hit.end:] and not self._eof and not grace.expired:
                self._read(grace.remaining())
        head = self._line_head if hit.line_start == 0 else ""
        line = head + self._buf[hit.line_start:].split("\n", 1)[0]
        self._consume(len(self._buf))
        raise BadPattern(
            f"bad pattern {name!r} seen while waiting for {waiting_for!r}: {line.strip()!r}",
            pattern_name=name, matched_line=line, log_path=self.log_path,
            log_tail=self.tail(),
        )

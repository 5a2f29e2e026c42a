"""The serial console of a booted guest, watched with pexpect.

Every wait (:meth:`Console.expect`, the ordered and any-order forms, the echo checks of
:meth:`Console.send_line`) also watches the console's *bad patterns* (a panic, a trap,
``FAIL``...): the first one seen fails the wait at once with :class:`~harness.errors.BadPattern`
naming the entry, instead of letting the wait run into its timeout. The table belongs to the
console (never module state): ``console.bad_patterns.add(name, regex)``, and
``with console.allow(name):`` switches one entry off for a block.

Line ends: what the patterns see has every carriage return removed, so ``\\r\\n`` (U-Boot) and
``\\r\\r\\n`` (Xen) both end a line at ``\\n``; patterns are compiled with ``re.MULTILINE``
so ``^``/``$`` work per line and ``.`` never crosses a line end. The serial log on disk keeps
the raw bytes (decoded as UTF-8, undecodable bytes replaced).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Final, NoReturn

import pexpect
import pexpect.fdpexpect

from harness.deadline import Deadline
from harness.errors import BadPattern, BootTimeout, UnexpectedExit

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
#: Matching looks at the newest SEARCH_WINDOW characters after each read, and a read brings at
#: most READ_CHUNK; so every character is searched at least once with READ_CHUNK characters
#: of context, and one match can span up to SEARCH_WINDOW - READ_CHUNK characters. This keeps
#: the cost of a read independent of how long the guest has been printing.
SEARCH_WINDOW = 8192
READ_CHUNK = 4096
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
    """fdspawn whose matched text has every carriage return removed (the log keeps them)."""

    def read_nonblocking(self, size: int = 1, timeout: float | None = -1) -> str:
        text: str = super().read_nonblocking(size, timeout)
        return text.replace("\r", "")

    def discard(self) -> None:
        """Forget everything read but not matched yet (pexpect keeps it in two buffers)."""
        self._buffer = self.buffer_type()
        self._before = self.buffer_type()


class Console:
    """The serial console of one boot: expectations with deadlines, bad patterns, typing.

    Build it with :meth:`attach` over a file descriptor (a pty master or a socket);
    :class:`harness.machine.QemuMachine` does that for you. ``exit_status`` is called when the
    console reaches end-of-file, to put QEMU's exit status into
    :class:`~harness.errors.UnexpectedExit`.
    """

    def __init__(
        self,
        child: pexpect.spawnbase.SpawnBase,
        *,
        log_path: Path,
        log_file: IO[str] | None = None,
        bad_patterns: BadPatterns | None = None,
        exit_status: Callable[[], int | None] | None = None,
    ) -> None:
        self._child = child
        self._log_file = log_file
        self.log_path = log_path
        self.bad_patterns = bad_patterns if bad_patterns is not None else BadPatterns()
        self._exit_status = exit_status
        self._line_prefix = ""  # text of the current line consumed so far
        self._eof = False

    @classmethod
    def attach(
        cls,
        fd: int,
        log_path: Path,
        *,
        bad_patterns: BadPatterns | None = None,
        exit_status: Callable[[], int | None] | None = None,
    ) -> Console:
        """A console reading and writing ``fd`` (the console owns it from now on), logging
        everything it reads to ``log_path`` (created or truncated)."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = open(log_path, "w", encoding="utf-8", newline="")  # noqa: SIM115
        child = _Spawn(fd, encoding="utf-8", codec_errors="replace", maxread=READ_CHUNK,
                       searchwindowsize=SEARCH_WINDOW, use_poll=True)
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

        Raises :class:`~harness.errors.BadPattern` as soon as an active bad pattern appears
        first, :class:`~harness.errors.BootTimeout` when ``deadline`` passes (with the log
        tail) and :class:`~harness.errors.UnexpectedExit` when QEMU exits first. ``name`` is
        how messages call the pattern (default: its text).
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

        Raises :class:`~harness.errors.BootTimeout` if it stays open past ``deadline``.
        """
        if not self._eof:
            self._wait([], deadline, "QEMU to exit", eof_ok=True)

    def drain(self, seconds: float) -> None:
        """Read whatever arrives during ``seconds`` (scaled), checking it, and whatever was
        already read but not matched, for bad patterns; then forget it all.

        Use after the last expectation to catch a late panic. End-of-file is not an error
        here. Raises :class:`~harness.errors.BadPattern`.
        """
        if not self._eof:
            with contextlib.suppress(BootTimeout):
                self._wait([], Deadline(seconds), "a quiet console", eof_ok=True)
        pending: str = self._child.buffer  # left over after end-of-file
        for name, regex in self.bad_patterns.active():
            found = regex.search(pending)
            if found:
                start = pending.rfind("\n", 0, found.start()) + 1
                line = (self._line_prefix if start == 0 else "") + pending[start:]
                line = line.split("\n", 1)[0]
                raise BadPattern(
                    f"bad pattern {name!r} seen after the last expectation: {line.strip()!r}",
                    pattern_name=name, matched_line=line, log_path=self.log_path,
                    log_tail=self.tail(),
                )
        self._discard()

    def tail(self, n: int = DEFAULT_TAIL_LINES) -> str:
        """The last ``n`` lines of the serial log (carriage returns removed)."""
        if self._log_file is not None and not self._log_file.closed:
            self._log_file.flush()
        try:
            data = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        lines = data.replace("\r", "").splitlines()
        return "\n".join(lines[-n:])

    def log_text(self) -> str:
        """Everything logged so far (carriage returns removed)."""
        if self._log_file is not None and not self._log_file.closed:
            self._log_file.flush()
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace").replace("\r", "")
        except OSError:
            return ""

    # -- writing -------------------------------------------------------------------------

    def send(self, text: str) -> None:
        """Write ``text`` to the guest as it is (no echo check, no line end)."""
        self._child.send(text)

    def send_line(self, text: str, *, echo_check: bool = True, chunk: int = 16,
                  deadline: Deadline | None = None, eol: str = "\n") -> None:
        """Type ``text`` then ``eol``, ``chunk`` characters at a time.

        With ``echo_check`` each chunk must be echoed back before the next is sent (slow
        guest UARTs drop characters typed too fast); a missing echo raises
        :class:`~harness.errors.BootTimeout` naming the chunk. ``deadline`` bounds all the
        echo waits (default 10 s, scaled).
        """
        if chunk < 1:
            raise ValueError("chunk must be at least 1")
        dl = deadline if deadline is not None else Deadline(_ECHO_DEADLINE)
        for start in range(0, len(text), chunk):
            piece = text[start:start + chunk]
            self._child.send(piece)
            if echo_check:
                echo = re.compile(re.escape(piece.replace("\r", "")))
                self._wait([(f"echo of {piece!r}", echo)], dl, f"echo of {piece!r}")
        self._child.send(eol)

    # -- life cycle ----------------------------------------------------------------------

    def read_pending(self) -> None:
        """Move whatever the guest already wrote into the buffer and the log, without
        waiting (used before closing so the log is complete)."""
        if self._eof:
            return
        with contextlib.suppress(pexpect.TIMEOUT, pexpect.EOF, OSError, ValueError):
            while True:
                self._child.read_nonblocking(self._child.maxread, 0)

    def close(self) -> None:
        """Close the descriptor and the log file (idempotent)."""
        with contextlib.suppress(OSError):
            self._child.close()
        if self._log_file is not None and not self._log_file.closed:
            self._log_file.close()

    @property
    def closed(self) -> bool:
        return self._log_file is None or self._log_file.closed

    # -- internals -----------------------------------------------------------------------

    def _report_missing(self, exc: BootTimeout | UnexpectedExit, missing: list[Pattern],
                        total: int, how: str) -> NoReturn:
        """Re-raise ``exc`` with the list of expected patterns never seen (``how``: "in
        order" or "in any order"), marking those that did appear but out of order."""
        seen_text = self.log_text()
        labels = []
        for pat in missing:
            label = describe(pat)
            if how == "in order" and compile_pattern(pat).search(seen_text):
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

    def _discard(self) -> None:
        pending: str = self._child.buffer
        self._advance(pending)
        self._child.discard()

    def _advance(self, consumed: str) -> None:
        if "\n" in consumed:
            self._line_prefix = consumed.rsplit("\n", 1)[1]
        else:
            self._line_prefix += consumed

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
        patterns: list[Any] = [p for _, p in wanted] + [p for _, p in bad]
        if eof_ok:
            patterns.append(pexpect.EOF)
        remaining = deadline.remaining()
        try:
            idx = self._child.expect_list(
                patterns, timeout=None if remaining == float("inf") else remaining)
        except pexpect.TIMEOUT:
            raise BootTimeout(
                f"timed out after {deadline.seconds:.1f} s waiting for {waiting_for!r}",
                waiting_for=waiting_for, missing=[waiting_for], seconds=deadline.seconds,
                log_path=self.log_path, log_tail=self.tail(),
            ) from None
        except pexpect.EOF:
            self._eof = True
            status = self._exit_status() if self._exit_status is not None else None
            raise UnexpectedExit(
                f"QEMU exited (status {status}) while waiting for {waiting_for!r}",
                exitcode=status, missing=[waiting_for], log_path=self.log_path,
                log_tail=self.tail(),
            ) from None
        before: str = self._child.before or ""
        if eof_ok and idx == len(patterns) - 1:
            self._eof = True
            self._advance(before)
            return -1, None
        match: re.Match[str] = self._child.match
        after: str = self._child.after or ""
        line_start = self._line_prefix + before
        self._advance(before + after)
        if idx >= len(wanted):
            name = bad[idx - len(wanted)][0]
            line = self._complete_line(line_start.rsplit("\n", 1)[-1] + after)
            raise BadPattern(
                f"bad pattern {name!r} seen while waiting for {waiting_for!r}: {line.strip()!r}",
                pattern_name=name, matched_line=line, log_path=self.log_path,
                log_tail=self.tail(),
            )
        return idx, match

    def _complete_line(self, start: str) -> str:
        """The rest of the line a bad pattern matched in, waiting briefly for it."""
        if "\n" in start:
            return start.split("\n", 1)[0]
        with contextlib.suppress(pexpect.TIMEOUT, pexpect.EOF, OSError):
            self._child.expect_list([re.compile("\n")], timeout=0.5)
            rest = self._child.before or ""
            self._advance(rest + "\n")
            return start + rest
        pending: str = self._child.buffer
        return start + pending.split("\n", 1)[0]

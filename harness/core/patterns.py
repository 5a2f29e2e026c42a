"""What a console waits for and what fails a wait: patterns and the table of bad patterns.

A pattern is a string (compiled with ``re.MULTILINE``) or a compiled regex, matched one
line at a time (see :mod:`bootproof.harness.core.console`). :class:`BadPatterns` is one
console's table of named patterns that fail any wait at once (a panic, a trap, ``FAIL``...);
every console starts from :data:`DEFAULT_BAD_PATTERNS` and owns its copy, so no module state
changes when a test adds or switches off an entry.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator
from typing import Final

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

"""A safe reader for the bash subset that ImageBuilder configs are written in.

ImageBuilder *sources* its config as bash. We never execute it: this module reads the
assignments real configs use and refuses everything else with a :class:`ConfigError` that
names the file, the line and the construct.

Accepted:

* ``NAME=value`` and ``NAME[INDEX]=value`` (INDEX: a number, ``$(( ))`` arithmetic, a
  variable, or ``N,M`` for the two-level keys some variables use; the key of an
  associative array is its expanded text, taken literally), several per line separated by
  blanks or ``;``, optionally after ``export`` or ``readonly``;
* values made of unquoted text, ``'single'`` and ``"double"`` quotes (which may span lines),
  backslash escapes, ``$NAME``, ``${NAME}``, ``${NAME[INDEX]}``, ``${NAME:-default}``,
  ``${NAME-default}`` and ``$(( ))`` integer arithmetic;
* comments (``#`` at the start of a word) and blank lines, ``\\``-newline continuations.

Refused: command substitution (``$( )``, backticks), pipes, redirections, ``&&``/``||``,
background jobs, sub-shells, functions, ``source``/``.`` and every other command.

Variables are looked up first among earlier assignments, then in the environment given;
an unset variable expands to the empty string, as in bash.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bootproof.builder.errors import ConfigError
from bootproof.builder.xen.shellwords import NAME_RE, SPECIAL_CHARS, WordScanner

MAX_FILE_BYTES = 4 << 20
MAX_LINE_CHARS = 64 << 10

_ASSIGN_HEAD_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(\[([^\]=]*)\])?\+?=")
_KEYWORDS = frozenset([
    "if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac",
    "function", "select", "time", "source", ".", "eval", "exec", "declare", "typeset", "local",
    "alias", "unset", "set", "shift", "trap", "return", "exit", "{", "}", "[[", "]]",
])


@dataclass(frozen=True)
class Assignment:
    """One ``NAME[KEY]=value`` as read: the key is ``"0"`` for a plain ``NAME=value``."""

    name: str
    key: str
    value: str
    line: int


@dataclass
class ShellVars:
    """The variables a config file assigned, in order, with the line of each assignment.

    ``values[NAME][KEY]`` is the text assigned; a scalar is key ``"0"`` (as in bash, where
    ``$NAME`` of an array is its element 0).
    """

    path: str
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    lines: dict[str, dict[str, int]] = field(default_factory=dict)
    assignments: list[Assignment] = field(default_factory=list)

    def set(self, name: str, key: str, value: str, line: int) -> None:
        self.values.setdefault(name, {})[key] = value
        self.lines.setdefault(name, {})[key] = line
        self.assignments.append(Assignment(name, key, value, line))


class _Reader(WordScanner):
    """Reads statements: assignments are kept, everything else is refused."""

    def __init__(self, text: str, path: str, env: Mapping[str, str], out: ShellVars,
                 associative: frozenset[str]) -> None:
        super().__init__(text, path, env, out.values, associative)
        self.out = out

    def run(self) -> None:
        while self.pos < len(self.text):
            c = self.peek()
            if c in " \t\r;" or c == "\n":
                self.advance()
            elif c == "\\" and self.peek(1) == "\n":
                self.advance(2)
            elif c == "#":
                end = self.text.find("\n", self.pos)
                self.advance((len(self.text) if end < 0 else end) - self.pos)
            else:
                self.statement()

    def statement(self) -> None:
        word = self.bare_word()
        if word in ("export", "readonly"):
            self.skip_blanks()
            if self.peek() in ("", "\n", ";", "#"):
                return
            word = self.bare_word()
        m = _ASSIGN_HEAD_RE.match(self.text, self.pos - len(word)) if word else None
        start_line = self.line
        if m is None or m.start() != self.pos - len(word):
            self.refuse_command(word)
            return
        # Rewind to the assignment head and read it properly.
        self.pos = m.end()
        name = m.group(1)
        key = "0"
        if m.group(2) is not None:
            key = self.index_key(m.group(3), start_line, name)
        if "+=" in m.group(0):
            self.error("'+=' appending is not supported", f"{name}+=", start_line)
        value = self.value_word()
        self.out.set(name, key, value, start_line)
        c = self.peek()
        if c not in ("", " ", "\t", "\r", "\n", ";"):
            self.error(f"unexpected {c!r} after the value of {name}", c)

    def bare_word(self) -> str:
        """Read the run of characters up to a blank/separator (for keywords and heads)."""
        start = self.pos
        while self.pos < len(self.text):
            c = self.text[self.pos]
            if c in " \t\r\n;":
                break
            if c in "=[" and NAME_RE.fullmatch(self.text[start : self.pos]):
                # An assignment head: hand back only the name, the caller re-matches it.
                return self.text[start : self.pos]
            self.pos += 1
        return self.text[start : self.pos]

    def refuse_command(self, word: str) -> None:
        shown = word[:40]
        for bad, what in (("$(", "command substitution"), ("`", "command substitution")):
            if bad in word:
                self.error(f"{what} is not supported (nothing is executed)", bad)
        for ch in SPECIAL_CHARS:
            if ch in word:
                self.error("pipes, redirections, sub-shells and job control are not supported", ch)
        if word in ("source", "."):
            self.error("'source' is not supported: put the variables in this file", word)
        if word in _KEYWORDS or word.endswith("()"):
            self.error("shell control structures and functions are not supported", shown)
        self.error("only NAME=value assignments are supported (commands are never run)", shown)

    def skip_blanks(self) -> None:
        while self.peek() in (" ", "\t"):
            self.advance()


def read_shell_vars(path: Path, *, env: Mapping[str, str],
                    associative: frozenset[str] = frozenset()) -> ShellVars:
    """Read the assignments of the bash-subset file ``path``; execute nothing.

    ``associative`` names the arrays whose keys are text, not arithmetic (bash's
    ``declare -A``, which ImageBuilder runs before it sources a config).

    Raises :class:`ConfigError` (with the file and line) for an unreadable, binary or huge
    file, for unterminated quotes, for bad arithmetic and for every construct other than
    an assignment (the construct is named in the message).
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror}", path=path) from exc
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"config is larger than {MAX_FILE_BYTES} bytes", path=path)
    return parse_shell_vars(data, path=str(path), env=env, associative=associative)


def parse_shell_vars(data: bytes, *, path: str, env: Mapping[str, str],
                     associative: frozenset[str] = frozenset()) -> ShellVars:
    """Like :func:`read_shell_vars` for bytes already read (``path`` is for messages)."""
    nul = data.find(b"\0")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise ConfigError("binary data (NUL byte): not a text config", path=path, line=line)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError("not UTF-8 text: not a config file", path=path, line=line) from exc
    for number, chunk in enumerate(text.split("\n"), 1):
        if len(chunk) > MAX_LINE_CHARS:
            raise ConfigError(
                f"line longer than {MAX_LINE_CHARS} characters", path=path, line=number
            )
    out = ShellVars(path=path)
    _Reader(text, path, env, out, associative).run()
    return out

"""A safe reader for the bash subset that ImageBuilder configs are written in.

ImageBuilder *sources* its config as bash. We never execute it: this module reads the
assignments real configs use and refuses everything else with a :class:`ConfigError` that
names the file, the line and the construct.

Accepted:

* ``NAME=value`` and ``NAME[INDEX]=value`` (INDEX: a number, ``$(( ))`` arithmetic, a
  variable, or ``N,M`` for the two-level keys some variables use), several per line
  separated by blanks or ``;``, optionally after ``export`` or ``readonly``;
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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bootproof.builder.errors import ConfigError

MAX_FILE_BYTES = 4 << 20
MAX_LINE_CHARS = 64 << 10

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGN_HEAD_RE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(\[([^\]=]*)\])?\+?=")
_SPECIAL_CHARS = "|&<>()"
_KEYWORDS = frozenset(
    [
        "if",
        "then",
        "else",
        "elif",
        "fi",
        "for",
        "while",
        "until",
        "do",
        "done",
        "case",
        "esac",
        "function",
        "select",
        "time",
        "source",
        ".",
        "eval",
        "exec",
        "declare",
        "typeset",
        "local",
        "alias",
        "unset",
        "set",
        "shift",
        "trap",
        "return",
        "exit",
        "{",
        "}",
        "[[",
        "]]",
    ]
)


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


class _Reader:
    """Character-level scanner over the whole text, tracking the line number."""

    def __init__(self, text: str, path: str, env: Mapping[str, str], out: ShellVars) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.path = path
        self.env = env
        self.out = out

    # -- helpers ---------------------------------------------------------------------------
    def error(self, message: str, construct: str | None = None, line: int | None = None) -> None:
        raise ConfigError(
            message,
            path=self.path,
            line=self.line if line is None else line,
            field=None if construct is None else "construct",
            value=construct if construct is not None else ConfigError._NO_VALUE,
        )

    def peek(self, n: int = 0) -> str:
        i = self.pos + n
        return self.text[i] if i < len(self.text) else ""

    def advance(self, n: int = 1) -> None:
        chunk = self.text[self.pos : self.pos + n]
        self.line += chunk.count("\n")
        self.pos += n

    def lookup(self, name: str, key: str = "0") -> str:
        if name in self.out.values:
            return self.out.values[name].get(key, "")
        if key == "0":
            return self.env.get(name, "")
        return ""

    # -- statements ------------------------------------------------------------------------
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
            key = self.index_key(m.group(3), start_line)
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
            if c in "=[" and _NAME_RE.fullmatch(self.text[start : self.pos]):
                # An assignment head: hand back only the name, the caller re-matches it.
                return self.text[start : self.pos]
            self.pos += 1
        return self.text[start : self.pos]

    def refuse_command(self, word: str) -> None:
        shown = word[:40]
        for bad, what in (("$(", "command substitution"), ("`", "command substitution")):
            if bad in word:
                self.error(f"{what} is not supported (nothing is executed)", bad)
        for ch in _SPECIAL_CHARS:
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

    def index_key(self, raw: str, line: int) -> str:
        parts = [p.strip() for p in raw.split(",")]
        keys = []
        for part in parts:
            if not part:
                self.error("empty array index", f"[{raw}]", line)
            value = self.arith(self.expand_text(part, line), line)
            if value < 0:  # bash counts from the end of the array: never what a config means
                self.error("negative array index is not supported", f"[{raw}]", line)
            keys.append(str(value))
        return ",".join(keys)

    # -- words -----------------------------------------------------------------------------
    def value_word(self) -> str:
        """Read one assignment value (no word splitting, as bash does for assignments)."""
        out: list[str] = []
        while self.pos < len(self.text):
            c = self.peek()
            if c in " \t\r\n;":
                break
            if c == "\\":
                nxt = self.peek(1)
                if nxt == "\n":
                    self.advance(2)
                    continue
                if nxt == "":
                    self.error("backslash at end of file", "\\")
                out.append(nxt)
                self.advance(2)
            elif c == "'":
                out.append(self.single_quoted())
            elif c == '"':
                out.append(self.double_quoted())
            elif c == "$":
                out.append(self.dollar())
            elif c == "`":
                self.error("command substitution is not supported (nothing is executed)", "`")
            elif c in _SPECIAL_CHARS:
                self.error("pipes, redirections, sub-shells and job control are not supported", c)
            else:
                out.append(c)
                self.advance()
        return "".join(out)

    def single_quoted(self) -> str:
        start_line = self.line
        end = self.text.find("'", self.pos + 1)
        if end < 0:
            self.error("unterminated single quote", "'", start_line)
        s = self.text[self.pos + 1 : end]
        self.advance(end + 1 - self.pos)
        return s

    def double_quoted(self) -> str:
        start_line = self.line
        self.advance()
        out: list[str] = []
        while True:
            c = self.peek()
            if c == "":
                self.error("unterminated double quote", '"', start_line)
            if c == '"':
                self.advance()
                return "".join(out)
            if c == "\\":
                nxt = self.peek(1)
                if nxt in ('"', "\\", "$", "`"):
                    out.append(nxt)
                    self.advance(2)
                elif nxt == "\n":
                    self.advance(2)
                else:
                    out.append(c)
                    self.advance()
            elif c == "$":
                out.append(self.dollar())
            elif c == "`":
                self.error("command substitution is not supported (nothing is executed)", "`")
            else:
                out.append(c)
                self.advance()

    def dollar(self) -> str:
        """Expand the ``$...`` construct at the cursor."""
        line = self.line
        nxt = self.peek(1)
        if nxt == "(":
            if self.peek(2) != "(":
                self.error("command substitution is not supported (nothing is executed)", "$(")
            expr = self.balanced_arith()
            return str(self.arith(self.expand_text(expr, line), line))
        if nxt == "{":
            end = self.closing_brace(self.pos + 2)
            if end < 0:
                self.error("unterminated ${...}", "${", line)
            body = self.text[self.pos + 2 : end]
            self.advance(end + 1 - self.pos)
            return self.brace(body, line)
        m = _NAME_RE.match(self.text, self.pos + 1)
        if m is not None:
            self.advance(m.end() - self.pos)
            return self.lookup(m.group(0))
        if nxt.isdigit() or nxt in "@*#?$!-":
            self.error("positional and special parameters are not supported", "$" + nxt, line)
        self.advance()
        return "$"

    def closing_brace(self, start: int) -> int:
        """Index of the ``}`` that closes a ``${`` whose body starts at ``start`` (nested
        ``${...}`` in a default value count), or -1 when the line ends first."""
        depth = 1
        i = start
        while i < len(self.text):
            c = self.text[i]
            if c == "\n":
                return -1
            if c == "$" and self.text.startswith("{", i + 1):
                depth += 1
                i += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    return i
            i += 1
        return -1

    def balanced_arith(self) -> str:
        """Return the text inside ``$(( ... ))`` and move past it."""
        depth = 0
        i = self.pos + 1
        start = self.pos + 3
        while i < len(self.text):
            c = self.text[i]
            if c == "\n":
                break
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 0:
                    inner = self.text[start : i - 1]
                    if self.text[i - 1] != ")":
                        break
                    self.advance(i + 1 - self.pos)
                    return inner
            i += 1
        self.error("unterminated $(( ))", "$((")
        return ""

    def brace(self, body: str, line: int) -> str:
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[([^\]]*)\])?(?:(:?-)(.*))?", body)
        if m is None:
            self.error("unsupported ${...} expansion", "${" + body[:40] + "}", line)
            return ""
        name, index, op, default = m.groups()
        key = "0" if index is None else self.index_key(index, line)
        value = self.lookup(name, key)
        is_set = name in self.out.values and key in self.out.values[name]
        is_set = is_set or (key == "0" and name in self.env)
        if (op == ":-" and value == "") or (op == "-" and not is_set):
            return self.expand_text(default or "", line)
        return value

    def expand_text(self, text: str, line: int) -> str:
        """Expand ``$`` constructs inside a fragment (index, default, arithmetic)."""
        if "`" in text:
            self.error("command substitution is not supported (nothing is executed)", "`", line)
        if "$" not in text:
            return text
        sub = _Reader(text, self.path, self.env, self.out)
        sub.line = line
        out: list[str] = []
        while sub.pos < len(text):
            c = sub.peek()
            if c == "$":
                out.append(sub.dollar())
            else:
                out.append(c)
                sub.advance()
        return "".join(out)

    def arith(self, expr: str, line: int) -> int:
        try:
            return _Arith(expr, self.lookup).parse()
        except _ArithError as exc:
            self.error(f"bad arithmetic: {exc}", expr[:60], line)
            return 0


class _ArithError(Exception):
    pass


_TOKEN_RE = re.compile(
    r"\s*(?:(0[xX][0-9a-fA-F]+|[0-9]+)|([A-Za-z_][A-Za-z0-9_]*)|(<<|>>|\*\*|[-+*/%&|^~()]))"
)
_BINARY = {
    "|": 1,
    "^": 2,
    "&": 3,
    "<<": 4,
    ">>": 4,
    "+": 5,
    "-": 5,
    "*": 6,
    "/": 6,
    "%": 6,
}
_MASK = (1 << 64) - 1
#: Parentheses and unary operators nested deeper than this are refused (a hostile config
#: would otherwise exhaust Python's recursion limit).
_MAX_NESTING = 100


def _signed(v: int) -> int:
    v &= _MASK
    return v - (1 << 64) if v >> 63 else v


class _Arith:
    """Bash ``$(( ))`` integer arithmetic (64-bit), without assignment or side effects."""

    def __init__(self, text: str, lookup: Callable[[str], str]) -> None:
        self.tokens: list[tuple[str, str]] = []
        self.lookup = lookup
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN_RE.match(text, pos)
            if m is None or m.end() == pos:
                raise _ArithError(f"unexpected {text[pos:].strip()[:10]!r}")
            if m.group(1):
                self.tokens.append(("num", m.group(1)))
            elif m.group(2):
                self.tokens.append(("name", m.group(2)))
            else:
                self.tokens.append(("op", m.group(3)))
            pos = m.end()
        self.i = 0
        self.depth = 0

    def parse(self) -> int:
        if not self.tokens:
            raise _ArithError("empty expression")
        v = self.binary(0)
        if self.i != len(self.tokens):
            raise _ArithError(f"unexpected {self.tokens[self.i][1]!r}")
        return v

    def next_op(self) -> str | None:
        if self.i < len(self.tokens) and self.tokens[self.i][0] == "op":
            return self.tokens[self.i][1]
        return None

    def binary(self, min_prec: int) -> int:
        left = self.unary()
        while True:
            op = self.next_op()
            prec = _BINARY.get(op or "")
            if op is None or prec is None or prec < min_prec:
                return left
            self.i += 1
            right = self.binary(prec + 1)
            left = self._apply(op, left, right)

    @staticmethod
    def _apply(op: str, a: int, b: int) -> int:
        if op in ("/", "%"):
            if b == 0:
                raise _ArithError("division by zero")
            q = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)
            return _signed(q if op == "/" else a - q * b)
        if op in ("<<", ">>"):
            return _signed(a << (b & 63) if op == "<<" else a >> (b & 63))
        result = {
            "|": a | b,
            "^": a ^ b,
            "&": a & b,
            "+": a + b,
            "-": a - b,
            "*": a * b,
        }[op]
        return _signed(result)

    def unary(self) -> int:
        self.depth += 1
        try:
            if self.depth > _MAX_NESTING:
                raise _ArithError(f"nested more than {_MAX_NESTING} deep")
            return self._unary()
        finally:
            self.depth -= 1

    def _unary(self) -> int:
        if self.i >= len(self.tokens):
            raise _ArithError("expression ends early")
        kind, text = self.tokens[self.i]
        self.i += 1
        if kind == "op":
            if text == "(":
                v = self.binary(0)
                if self.next_op() != ")":
                    raise _ArithError("missing ')'")
                self.i += 1
                return v
            if text == "-":
                return _signed(-self.unary())
            if text == "+":
                return self.unary()
            if text == "~":
                return _signed(~self.unary())
            raise _ArithError(f"unexpected {text!r}")
        if kind == "num":
            return _number(text)
        value = self.lookup(text).strip()
        if not value:
            return 0
        if re.fullmatch(r"-?(0[xX][0-9a-fA-F]+|[0-9]+)", value):
            neg = value.startswith("-")
            n = _number(value.lstrip("-"))
            return -n if neg else n
        raise _ArithError(f"variable {text} is not a number ({value[:30]!r})")


def _number(text: str) -> int:
    if text[:2].lower() == "0x":
        return int(text, 16)
    if len(text) > 1 and text.startswith("0"):
        raise _ArithError(f"{text}: a leading 0 means octal in bash; write 0x.. or decimal")
    try:
        return int(text, 10)
    except ValueError:  # more digits than Python converts (4300)
        raise _ArithError(f"{len(text)}-digit number") from None


def read_shell_vars(path: Path, *, env: Mapping[str, str]) -> ShellVars:
    """Read the assignments of the bash-subset file ``path``; execute nothing.

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
    return parse_shell_vars(data, path=str(path), env=env)


def parse_shell_vars(data: bytes, *, path: str, env: Mapping[str, str]) -> ShellVars:
    """Like :func:`read_shell_vars` for bytes already read (``path`` is for messages)."""
    nul = data.find(b"\0")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise ConfigError("binary data (NUL byte): not a text config", path=path, line=line)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError("not UTF-8 text: not a config file", path=path, line=line) from None
    for number, chunk in enumerate(text.split("\n"), 1):
        if len(chunk) > MAX_LINE_CHARS:
            raise ConfigError(
                f"line longer than {MAX_LINE_CHARS} characters", path=path, line=number
            )
    out = ShellVars(path=path)
    _Reader(text, path, env, out).run()
    return out

"""Bash words as ImageBuilder configs use them, read without running anything.

:class:`WordScanner` reads one assignment value at a time: unquoted text, ``'single'`` and
``"double"`` quotes (which may span lines), backslash escapes, ``$NAME``, ``${NAME}``,
``${NAME[INDEX]}``, ``${NAME:-default}``, ``${NAME-default}``, ``$(( ))`` arithmetic (by
:mod:`.shellarith`) and array indexes. Command substitution, positional parameters and other
expansions are refused with a :class:`ConfigError` naming the file, line and construct.
The statements around the words (assignments, comments, refused commands) are
:mod:`.shellvars`' business.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NoReturn

from bootproof.builder.errors import ConfigError
from bootproof.builder.xen.shellarith import ArithError, evaluate

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Characters that start a pipe, redirection, sub-shell or job control outside quotes.
SPECIAL_CHARS = "|&<>()"


class WordScanner:
    """Character-level scanner over ``text``, tracking the line number.

    ``values`` are the assignments read so far (``values[NAME][KEY]``); a variable not among
    them is looked up in ``env`` (scalars only), and an unset one is empty, as in bash.
    """

    def __init__(self, text: str, path: str, env: Mapping[str, str],
                 values: Mapping[str, Mapping[str, str]],
                 associative: frozenset[str] = frozenset()) -> None:
        self.text = text
        self.pos = 0
        self.line = 1
        self.path = path
        self.env = env
        self.values = values
        self.associative = associative

    def error(self, message: str, construct: str | None = None, line: int | None = None,
              cause: Exception | None = None) -> NoReturn:
        raise ConfigError(
            message,
            path=self.path,
            line=self.line if line is None else line,
            field=None if construct is None else "construct",
            value=construct if construct is not None else ConfigError._NO_VALUE,
        ) from cause

    def peek(self, n: int = 0) -> str:
        i = self.pos + n
        return self.text[i] if i < len(self.text) else ""

    def advance(self, n: int = 1) -> None:
        chunk = self.text[self.pos : self.pos + n]
        self.line += chunk.count("\n")
        self.pos += n

    def lookup(self, name: str, key: str = "0") -> str:
        if name in self.values:
            return self.values[name].get(key, "")
        if key == "0":
            return self.env.get(name, "")
        return ""

    def index_key(self, raw: str, line: int, name: str = "") -> str:
        """The key ``NAME[raw]`` stands for. An indexed array's index is arithmetic, where
        ``N,M`` is bash's comma operator: every part is evaluated and the last one is the
        index (Xen's CI writes ``DOMU_SHARED_MEM[0,1]``, which is index 1); the key of an
        associative array (``name`` in ``associative``, as after bash's ``declare -A``) is
        its text after expansion, taken literally: ``[0,1]``, ``[00,1]`` and ``[0, 1]``
        are three different keys, as in bash."""
        if name in self.associative:
            key = self.expand_text(raw, line)
            if not key:
                self.error("empty array index", f"[{raw}]", line)
            return key
        parts = [p.strip() for p in raw.split(",")]
        keys = []
        for part in parts:
            if not part:
                self.error("empty array index", f"[{raw}]", line)
            value = self.arith(self.expand_text(part, line), line)
            if value < 0:  # bash counts from the end of the array: never what a config means
                self.error("negative array index is not supported", f"[{raw}]", line)
            keys.append(str(value))
        return keys[-1]

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
            elif c in SPECIAL_CHARS:
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
        m = NAME_RE.match(self.text, self.pos + 1)
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

    def brace(self, body: str, line: int) -> str:
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[([^\]]*)\])?(?:(:?-)(.*))?", body)
        if m is None:
            self.error("unsupported ${...} expansion", "${" + body[:40] + "}", line)
        name, index, op, default = m.groups()
        key = "0" if index is None else self.index_key(index, line, name)
        value = self.lookup(name, key)
        is_set = name in self.values and key in self.values[name]
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
        sub = WordScanner(text, self.path, self.env, self.values, self.associative)
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
            return evaluate(expr, self.lookup)
        except ArithError as exc:
            self.error(f"bad arithmetic: {exc}", expr[:60], line, cause=exc)

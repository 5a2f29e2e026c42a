"""Bash ``$(( ))`` integer arithmetic, for the config reader (:mod:`.shellvars`).

Numbers are read by :func:`bootproof.builder.numbers.parse_number` under bash's rule
(``0x`` hex, leading ``0`` octal, ``BASE#DIGITS``); operators are bash's, with its
precedence and 64-bit two's-complement wrap-around. Assignments, comparisons, the ternary
and the comma operator are not supported (no config needs them).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from bootproof.builder.numbers import NumberError, Rule, parse_number


class ArithError(Exception):
    """An expression bash would refuse (or one we do not support); ``str()`` says why."""


# A number is a run of digits, letters, '#', '@' and '_' that starts with a digit, as bash
# reads it; parse_number then says whether it is one (0x1F, 010, 16#ff) or why not (08).
_TOKEN_RE = re.compile(
    r"\s*(?:([0-9][0-9A-Za-z#@_]*)|([A-Za-z_][A-Za-z0-9_]*)|(<<|>>|\*\*|[-+*/%&|^~()]))"
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
    """The parser behind :func:`evaluate`: precedence climbing over the tokens."""

    def __init__(self, text: str, lookup: Callable[[str], str]) -> None:
        self.tokens: list[tuple[str, str]] = []
        self.lookup = lookup
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN_RE.match(text, pos)
            if m is None or m.end() == pos:
                raise ArithError(f"unexpected {text[pos:].strip()[:10]!r}")
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
            raise ArithError("empty expression")
        v = self.binary(0)
        if self.i != len(self.tokens):
            raise ArithError(f"unexpected {self.tokens[self.i][1]!r}")
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
                raise ArithError("division by zero")
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
                raise ArithError(f"nested more than {_MAX_NESTING} deep")
            return self._unary()
        finally:
            self.depth -= 1

    def _unary(self) -> int:
        if self.i >= len(self.tokens):
            raise ArithError("expression ends early")
        kind, text = self.tokens[self.i]
        self.i += 1
        if kind == "op":
            if text == "(":
                v = self.binary(0)
                if self.next_op() != ")":
                    raise ArithError("missing ')'")
                self.i += 1
                return v
            if text == "-":
                return _signed(-self.unary())
            if text == "+":
                return self.unary()
            if text == "~":
                return _signed(~self.unary())
            raise ArithError(f"unexpected {text!r}")
        if kind == "num":
            return _number(text)
        value = self.lookup(text).strip()
        if not value:
            return 0
        neg = value.startswith("-")
        try:
            n = _number(value[1:] if neg else value)
        except ArithError as exc:
            raise ArithError(f"variable {text} is not a number ({value[:30]!r})") from exc
        return _signed(-n) if neg else n


def _number(text: str) -> int:
    """A constant as bash reads it (:data:`Rule.BASH`), wrapped to 64 bits as bash does."""
    try:
        return _signed(parse_number(text, Rule.BASH))
    except NumberError as exc:
        raise ArithError(str(exc)) from exc


def evaluate(expr: str, lookup: Callable[[str], str]) -> int:
    """The value of the bash ``$(( ))`` expression ``expr`` (64-bit, no assignment or side
    effects); ``lookup(name)`` gives a variable's text. Raises :class:`ArithError`."""
    return _Arith(expr, lookup).parse()

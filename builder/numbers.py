"""Reading integers from text: one parser, one rule per context.

The rule (documented here once; the docs point to it):

* **bootproof's own inputs** (command-line flags such as ``create-image -r``/``--ram`` and
  ``disk_image -s``; the memory regions of a ``csr.csv``): ``0x`` hex, ``0b`` binary or
  decimal. A leading zero is decimal (``010`` is ten) and ``_`` may group digits. Never octal:
  ``0o17`` is refused. This is :data:`Rule.FLAG`.
* **ImageBuilder config values.** A config is bash, and a value means what it means where the
  reference uses it:

  - :data:`Rule.BASH` for values the reference computes with in ``$(( ))`` or ``printf``, or
    hands to U-Boot or Xen (which read numbers as C's ``strtoul(text, 0)``): addresses,
    sizes, memory, vCPUs, ``$(( ))`` itself and array indexes. ``0x`` hex, a leading ``0``
    is **octal** (``010`` is eight, ``08`` an error, as in bash) and ``BASE#DIGITS`` (bash's
    ``16#ff``, bases 2 to 64).
  - :data:`Rule.BASH_TEST` for counts the reference compares with ``test`` (``NUM_DOMUS``,
    ``NUM_CPUPOOLS``, ``NUM_DT_OVERLAY``, ``NUM_BOOT_AUX_FILE``, ``DOMU_CPUPOOL``): decimal,
    a leading zero is still decimal (``010`` is ten). ``0x2`` is refused: ``test`` cannot read
    it, and the reference would silently loop zero times.

  Where bash reports an error (``08``, ``0b1``, ``1_000``, ``2#102``) the value is refused,
  and so is ``0x`` without digits (bash reads it as 0: a typo, not a number).
* **U-Boot's ``fdt set`` cells** are read back with :data:`Rule.C` (``strtoul`` base 0:
  ``0x`` hex, leading ``0`` octal, else decimal).

Every rule refuses signs, blanks inside the number, non-ASCII digits and values that do not
fit in 64 bits (bash would wrap them silently). :func:`parse_number` raises
:class:`NumberError` (a :class:`ValueError`) with the reason; callers turn it into the error
of their layer, naming file, line and field, ``from`` it.

Sizes (:func:`parse_size`) are a number under :data:`Rule.FLAG` with an optional K/M/G
suffix, powers of 1024 (``create-image -r 0x80000000:16M``, ``disk_image -s 8M``).
"""

from __future__ import annotations

import enum
import re

from bootproof.builder.errors import InputError

#: The largest value any rule accepts (bash arithmetic is 64-bit).
U64_MAX = (1 << 64) - 1


class Rule(enum.Enum):
    """Which reader's conventions a text follows (see the module docstring)."""

    FLAG = "flag"
    C = "c"
    BASH = "bash"
    BASH_TEST = "bash-test"


class NumberError(ValueError):
    """``text`` is not a number under the rule asked for: ``reason`` says why, ``str()``
    gives both (a long text is shown by its length)."""

    def __init__(self, text: str, reason: str) -> None:
        shown = text if len(text) <= 24 else f"{len(text)}-digit number"
        super().__init__(f"{shown}: {reason}")
        self.text = text
        self.reason = reason


# bash's digits for BASE#DIGITS: 0-9, a-z, A-Z, @, _ (bases up to 36 ignore case).
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ@_"

_FLAG = re.compile(r"0[xX](?P<hex>[0-9a-fA-F]+)|0[bB](?P<bin>[01]+)|(?P<dec>[0-9]+)", re.ASCII)
_C = re.compile(r"0[xX](?P<hex>[0-9a-fA-F]*)|0(?P<oct>[0-9]*)|(?P<dec>[1-9][0-9]*)", re.ASCII)
_BASE = re.compile(r"(?P<base>[0-9]+)#(?P<digits>[0-9a-zA-Z@_]*)", re.ASCII)
_TEST = re.compile(r"\+?(?P<dec>[0-9]+)", re.ASCII)

_HINT = {
    Rule.FLAG: "use 0x.., 0b.. or decimal",
    Rule.C: "use 0x.., 0.. (octal) or decimal",
    Rule.BASH: "use 0x.., decimal, or 0.. for octal as bash reads it",
    Rule.BASH_TEST: "the reference compares it with bash's test, which reads decimal only",
}


def parse_number(text: str, rule: Rule = Rule.FLAG) -> int:
    """The non-negative integer ``text`` means under ``rule`` (blanks around it ignored).

    Raises :class:`NumberError` saying why when it is not one, when it does not fit in 64
    bits, or when it has more than 4300 digits.
    """
    t = text.strip()
    if len(t) > 4300:  # Python's own limit for int(); no config number is this long
        raise NumberError(t, "too long")
    if rule is Rule.FLAG:
        value = _flag(t)
    elif rule is Rule.BASH_TEST:
        value = _test(t)
    else:
        value = _c_or_bash(t, rule)
    if value > U64_MAX:
        raise NumberError(t, "does not fit in 64 bits (bash would wrap it)")
    return value


def octal_surprise(text: str, rule: Rule) -> bool:
    """True when ``rule`` reads ``text`` (already parsed) as octal and that differs from
    reading it as decimal (``010``, not ``007``): worth a warning, as it was likely meant
    in decimal."""
    t = text.strip()
    if rule not in (Rule.C, Rule.BASH) or not re.fullmatch(r"0[0-7]+", t, re.ASCII):
        return False
    return int(t, 8) != int(t, 10)


def _flag(t: str) -> int:
    digits = t.replace("_", "")
    if digits[:2].lower() == "0o":
        raise NumberError(t, f"octal is not accepted: {_HINT[Rule.FLAG]}")
    m = _FLAG.fullmatch(digits)
    if m is None:
        raise NumberError(t, _HINT[Rule.FLAG])
    if m["hex"] is not None:
        return int(m["hex"], 16)
    if m["bin"] is not None:
        return int(m["bin"], 2)
    return int(m["dec"], 10)


def _test(t: str) -> int:
    m = _TEST.fullmatch(t)
    if m is None:
        raise NumberError(t, _HINT[Rule.BASH_TEST])
    return int(m["dec"], 10)


def _c_or_bash(t: str, rule: Rule) -> int:
    m = _C.fullmatch(t)
    if m is not None:
        if m["hex"] is not None:
            if not m["hex"]:
                raise NumberError(t, "no digits after 0x (bash would read 0)")
            return int(m["hex"], 16)
        if m["oct"] is not None:
            if re.search(r"[89]", m["oct"]):
                raise NumberError(t, "a leading 0 means octal, as in bash, and 8 and 9 are "
                                  "not octal digits")
            return int(m["oct"] or "0", 8)
        return int(m["dec"], 10)
    based = _BASE.fullmatch(t) if rule is Rule.BASH else None
    if based is None:
        raise NumberError(t, _HINT[rule])
    return _based(t, based["base"], based["digits"])


def _based(t: str, base_text: str, digits: str) -> int:
    """bash's ``BASE#DIGITS``: the base is decimal (2 to 64, no leading zero)."""
    if base_text.startswith("0") or not 2 <= int(base_text) <= 64:
        raise NumberError(t, "the base of BASE#DIGITS must be 2 to 64")
    base = int(base_text)
    if not digits:
        raise NumberError(t, "no digits after '#'")
    value = 0
    for ch in digits:
        d = _DIGITS.index(ch.lower() if base <= 36 else ch)
        if d >= base:
            raise NumberError(t, f"{ch!r} is not a digit in base {base}")
        value = value * base + d
    return value


def parse_int(text: str, *, field: str, path: str | None = None) -> int:
    """A command-line or bootproof-file number (:data:`Rule.FLAG`: 0x, 0b or decimal).

    Raises :class:`~bootproof.builder.errors.InputError` naming ``field`` and the text.
    """
    try:
        return parse_number(text, Rule.FLAG)
    except NumberError as exc:
        raise InputError(f"not a number ({exc.reason})", path=path, field=field,
                         value=text) from exc


# -- sizes --------------------------------------------------------------------------------

_SIZE_RE = re.compile(r"(?P<number>.*?[0-9a-fA-F_])(?P<suffix>[kKmMgG](?:[iI][bB])?)?", re.ASCII)
_SIZE_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_UNIT_NAMES = {1: "bytes", 1 << 10: "KiB", 1 << 20: "MiB", 1 << 30: "GiB"}


def parse_size(text: str, *, field: str, path: str | None = None, unit: int = 1) -> int:
    """Parse a size: a number as :func:`parse_int` reads it, with an optional ``K``, ``M`` or
    ``G`` suffix (also ``KiB``, ``MiB``, ``GiB``; any case; powers of 1024).

    A bare number counts ``unit`` bytes (1 for byte counts, 1 MiB for ``disk_image -s``);
    the result is in ``unit``s, so a suffixed size must be a whole number of them. Raises
    :class:`InputError` naming ``field`` and the text for anything else.
    """
    m = _SIZE_RE.fullmatch(text.strip())
    if m is None:
        raise InputError("not a size (a number, optionally with K, M or G)", path=path,
                         field=field, value=text)
    try:
        number = parse_int(m.group("number"), field=field, path=path)
    except InputError as exc:
        raise InputError("not a size (a number, optionally with K, M or G)", path=path,
                         field=field, value=text) from exc
    suffix = m.group("suffix")
    if suffix is None:
        return number
    size = number * _SIZE_UNITS[suffix[0].lower()]
    if size % unit:
        raise InputError(f"not a whole number of {_UNIT_NAMES.get(unit, f'{unit}-byte units')}",
                         path=path, field=field, value=text)
    return size // unit

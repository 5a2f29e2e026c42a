"""U-Boot ``fdt`` commands as data, their text form, and an offline interpreter.

An edit is :class:`Mknod` or :class:`SetProp` with a typed value (:class:`Cells`,
:class:`Strings`, :class:`Empty`). :func:`render` gives the exact line a boot script
carries; :func:`parse_script` reads such lines back the way U-Boot's shell and ``fdt``
command do (quotes removed, ``\\`` escapes, ``<...>`` cells with C base detection, so
``010`` is octal and ``8005`` decimal); :func:`apply` replays edits on a
:class:`~bootproof.builder.formats.fdt.DeviceTree` with libfdt's semantics (a new node becomes the
*first* child of its parent; setting a property on a missing node is an error).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bootproof.builder.errors import FormatError
from bootproof.builder.formats.fdt import DeviceTree, cells_bytes, strings_bytes
from bootproof.builder.layout import align_up
from bootproof.builder.numbers import NumberError, Rule, parse_number


@dataclass(frozen=True)
class Cells:
    """``<...>`` 32-bit cells. ``style``: "X" (0x%X), "x" (0x%x) or "d" (decimal);
    ``texts``, when given, are written instead (a number as the user typed it).

    The spacing of ImageBuilder's helpers is kept: ``trailing_space`` (``<0x0 0x1 >``),
    ``leading_space`` (``< 0x8001>``), ``pair_gap`` (hi/lo pairs each followed by a blank:
    ``<0x0 0x1  0x0 0x2 >``).
    """

    values: tuple[int, ...]
    style: str = "X"
    trailing_space: bool = False
    leading_space: bool = False
    pair_gap: bool = False
    texts: tuple[str, ...] | None = None

    def to_bytes(self) -> bytes:
        return cells_bytes(self.values)


@dataclass(frozen=True)
class Strings:
    """One string, or a string list (rendered with the reference's double space: ``array``
    gives that form to a single string too, as ImageBuilder's ``str_a`` type does)."""

    values: tuple[str, ...]
    array: bool = False

    def to_bytes(self) -> bytes:
        return strings_bytes(self.values)


@dataclass(frozen=True)
class RunTimeReg:
    """A ``reg`` U-Boot computes at boot (``-s``): from the ``NAME_addr``/``NAME_size``
    variables the load block set, split into 32-bit halves by ``setexpr``.
    :meth:`setexpr_lines` come before the ``fdt set`` line. Offline, it is 4 zero cells."""

    name: str

    def setexpr_lines(self) -> list[str]:
        return [f"setexpr addr_hi ${{{self.name}_addr}} / 0x100000000",
                f"setexpr addr_lo ${{{self.name}_addr}} \\& 0xFFFFFFFF",
                f"setexpr size_hi ${{{self.name}_size}} / 0x100000000",
                f"setexpr size_lo ${{{self.name}_size}} \\& 0xFFFFFFFF"]

    def to_bytes(self) -> bytes:
        return bytes(16)


@dataclass(frozen=True)
class Empty:
    """An empty (boolean) property."""

    def to_bytes(self) -> bytes:
        return b""


Value = Cells | Strings | Empty | RunTimeReg


@dataclass(frozen=True)
class Mknod:
    parent: str
    name: str

    @property
    def path(self) -> str:
        return f"{self.parent.rstrip('/')}/{self.name}"


@dataclass(frozen=True)
class SetProp:
    path: str
    name: str
    value: Value


Edit = Mknod | SetProp


def _quote(text: str) -> str:
    out = text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{out}"'


def _cell(v: int, style: str) -> str:
    if style == "d":
        return str(v)
    return f"0x{v:X}" if style == "X" else f"0x{v:x}"


def render_value(value: Value) -> str:
    if isinstance(value, Cells):
        words = list(value.texts) if value.texts is not None else \
            [_cell(v, value.style) for v in value.values]
        if value.pair_gap:
            body = " ".join(f"{words[i]} {words[i + 1]} " for i in range(0, len(words), 2))
        else:
            body = " ".join(words) + (" " if value.trailing_space else "")
        return f"<{' ' if value.leading_space else ''}{body}>"
    if isinstance(value, Strings):
        if len(value.values) == 1 and not value.array:
            return _quote(value.values[0])
        return " " + " ".join(_quote(s) for s in value.values)
    if isinstance(value, RunTimeReg):
        return "<0x${addr_hi} 0x${addr_lo} 0x${size_hi} 0x${size_lo}>"
    return ""


def render(edit: Edit) -> str:
    """The boot-script line for one edit (``#`` in names escaped as ``\\#``); a
    :class:`RunTimeReg` is preceded by its ``setexpr`` lines."""
    if isinstance(edit, Mknod):
        return f"fdt mknod {edit.parent} {edit.name}"
    name = edit.name.replace("#", "\\#")
    value = render_value(edit.value)
    line = f"fdt set {edit.path} {name}" + (f" {value}" if value else "")
    if isinstance(edit.value, RunTimeReg):
        return "\n".join([*edit.value.setexpr_lines(), line])
    return line


# -- reading scripts back ------------------------------------------------------------------

def split_words(line: str) -> list[tuple[str, bool]]:
    """Split a command line like U-Boot's shell: ``(word, was_quoted)`` pairs."""
    words: list[tuple[str, bool]] = []
    cur: list[str] = []
    quoted = False
    in_word = False
    i = 0
    while i < len(line):
        c = line[i]
        if c in " \t":
            if in_word:
                words.append(("".join(cur), quoted))
                cur, quoted, in_word = [], False, False
            i += 1
            continue
        in_word = True
        if c == "\\" and i + 1 < len(line):
            cur.append(line[i + 1])
            i += 2
        elif c == '"':
            quoted = True
            i += 1
            while i < len(line) and line[i] != '"':
                if line[i] == "\\" and i + 1 < len(line):
                    i += 1
                cur.append(line[i])
                i += 1
            if i >= len(line):
                raise FormatError("unterminated quote", value=line)
            i += 1
        elif c == "'":
            quoted = True
            end = line.find("'", i + 1)
            if end < 0:
                raise FormatError("unterminated quote", value=line)
            cur.append(line[i + 1 : end])
            i = end + 1
        else:
            cur.append(c)
            i += 1
    if in_word:
        words.append(("".join(cur), quoted))
    return words


def _strtoul(text: str) -> int:
    try:
        return parse_number(text, Rule.C)
    except NumberError as exc:
        raise FormatError(f"bad cell value: {exc}", value=text) from exc


def parse_value(args: Sequence[tuple[str, bool]]) -> Value:
    """Turn ``fdt set`` value arguments into a value, as U-Boot's fdt_parse_prop does."""
    if not args:
        return Empty()
    first, quoted = args[0]
    if first.startswith("<") and not quoted:
        text = " ".join(w for w, _ in args)
        if not text.rstrip().endswith(">"):
            raise FormatError("cells without closing '>'", value=text)
        body = text.strip()[1:-1].split()
        return Cells(tuple(_strtoul(b) & 0xFFFFFFFF for b in body))
    if first.startswith("[") and not quoted:
        raise FormatError("byte-string values are not used by boot scripts", value=first)
    return Strings(tuple(w for w, _ in args))


def parse_line(line: str) -> Edit | None:
    """Parse one ``fdt mknod``/``fdt set`` line; other lines give None."""
    words = split_words(line)
    if len(words) < 2 or words[0][0] != "fdt" or words[1][0] not in ("set", "mknod"):
        return None
    if words[1][0] == "mknod":
        if len(words) != 4:
            raise FormatError("fdt mknod takes a parent and a name", value=line)
        return Mknod(words[2][0], words[3][0])
    if len(words) < 4:
        raise FormatError("fdt set takes a path and a property", value=line)
    return SetProp(words[2][0], words[3][0], parse_value(words[4:]))


def parse_script(text: str) -> list[Edit]:
    """Every ``fdt mknod``/``fdt set`` edit of a boot script, in order."""
    out = []
    for line in text.splitlines():
        e = parse_line(line)
        if e is not None:
            out.append(e)
    return out


def apply(tree: DeviceTree, edits: Iterable[Edit]) -> None:
    """Replay edits on ``tree`` in place. Raises :class:`FormatError` on an edit U-Boot
    would reject (missing node, node that already exists)."""
    for e in edits:
        if isinstance(e, Mknod):
            tree.add_node(e.parent, e.name)
        else:
            tree.set(e.path, e.name, e.value.to_bytes())


def growth(edits: Iterable[Edit]) -> int:
    """An upper bound of the bytes ``edits`` add to a blob (libfdt's struct and strings
    encoding, every property counted as new with a new name string)."""
    total = 0
    for e in edits:
        if isinstance(e, Mknod):
            total += 8 + align_up(len(e.name) + 1, 4)
        else:
            n = len(e.value.to_bytes())
            total += 12 + align_up(n, 4) + len(e.name) + 1
    return total

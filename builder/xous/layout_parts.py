"""The parts of a Xous args.bin layout: tags, MiniELF sections, programs, the kernel.

Frozen dataclasses with their JSON form, the report lines that show them, and the readers
that take the JSON back (each raises TypeError, KeyError or ValueError on a malformed value;
:meth:`~bootproof.builder.xous.layout.XousLayout.from_json` turns those into FormatError).
Offsets are byte offsets from the start of args.bin (see :mod:`bootproof.builder.xous.layout`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bootproof.builder.layout import AddressRange, NamedRange
from bootproof.builder.report import hexa, size_text, table

FLAG_WRITE = 0x01
FLAG_NOCOPY = 0x02
FLAG_EXECUTE = 0x04
FLAG_EH_FRAME = 0x08
FLAG_EH_HEADER = 0x10

_FLAG_NAMES = (
    (FLAG_WRITE, "WRITE"),
    (FLAG_NOCOPY, "NOCOPY"),
    (FLAG_EXECUTE, "EXECUTE"),
    (FLAG_EH_FRAME, "EH_FRAME"),
    (FLAG_EH_HEADER, "EH_HEADER"),
)


def flag_names(flags: int) -> tuple[str, ...]:
    """Names of the MiniELF section flag bits set in ``flags`` (unknown bits as hex)."""
    names = [name for bit, name in _FLAG_NAMES if flags & bit]
    unknown = flags & ~0x1F
    if unknown:
        names.append(f"0x{unknown:x}")
    return tuple(names)


@dataclass(frozen=True)
class TagInfo:
    """One tag of the tag block.

    ``index`` is its position (0 = XArg), ``offset`` its byte offset in the file,
    ``size_words`` its body length in 32-bit words (header excluded), ``crc16`` the stored
    CRC-16/X-25 of the body and ``crc_ok`` whether it matches the body.
    """

    index: int
    tag: str
    offset: int
    size_words: int
    crc16: int
    crc_ok: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "tag": self.tag,
            "offset": self.offset,
            "size_words": self.size_words,
            "crc16": self.crc16,
            "crc_ok": self.crc_ok,
        }


@dataclass(frozen=True)
class Section:
    """A MiniELF section as recorded in an IniE/IniF tag.

    ``size`` is the 24-bit size as recorded (it includes inter-section padding);
    ``file_offset`` is the absolute offset in args.bin of its bytes, None for NOCOPY.
    """

    vaddr: int
    size: int
    flags: int
    file_offset: int | None

    @property
    def flag_names(self) -> tuple[str, ...]:
        return flag_names(self.flags)

    def to_json(self) -> dict[str, Any]:
        return {
            "vaddr": self.vaddr,
            "size": self.size,
            "flags": self.flags,
            "flag_names": list(self.flag_names),
            "file_offset": self.file_offset,
        }


def place_sections(
    load_offset: int, sections: Iterable[tuple[int, int, int]]
) -> tuple[tuple[Section, ...], int]:
    """Where a program's sections (VA, size, flags) sit in args.bin, as the loader copies them.

    Each section but the NOCOPY ones takes the next ``size`` payload bytes from
    ``load_offset``. Returns the sections and the payload size.
    """
    placed = []
    pos = load_offset
    for vaddr, size, flags in sections:
        if flags & FLAG_NOCOPY:
            placed.append(Section(vaddr, size, flags, None))
        else:
            placed.append(Section(vaddr, size, flags, pos))
            pos += size
    return tuple(placed), pos - load_offset


@dataclass(frozen=True)
class Program:
    """An initial process (``IniE`` copied to RAM, ``IniF`` executed in place, ``IniS``
    paged in from swap).

    ``payload_size`` is the number of payload bytes its sections occupy in args.bin (the
    swap args block for IniS): the sum of the recorded sizes of its non-NOCOPY sections,
    starting at ``load_offset``.
    """

    kind: str
    pid: int
    name: str
    load_offset: int
    entrypoint: int
    payload_size: int
    sections: tuple[Section, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "pid": self.pid,
            "name": self.name,
            "load_offset": self.load_offset,
            "entrypoint": self.entrypoint,
            "payload_size": self.payload_size,
            "sections": [s.to_json() for s in self.sections],
        }


@dataclass(frozen=True)
class Kernel:
    """The ``XKrn`` tag: payload = ``text_size`` bytes of text then ``data_size`` of data."""

    load_offset: int
    text_offset: int
    text_size: int
    data_offset: int
    data_size: int
    bss_size: int
    entrypoint: int

    @property
    def payload_size(self) -> int:
        return self.text_size + self.data_size

    def to_json(self) -> dict[str, Any]:
        return {
            "load_offset": self.load_offset,
            "text_offset": self.text_offset,
            "text_size": self.text_size,
            "data_offset": self.data_offset,
            "data_size": self.data_size,
            "bss_size": self.bss_size,
            "entrypoint": self.entrypoint,
        }


def tag_table(tags: Iterable[TagInfo]) -> str:
    """The report's table of tags: index, fourcc, offset, words, stored CRC, OK/FAIL."""
    return table(["#", "tag", "offset", "words", "crc16", "crc"],
                 [[t.index, t.tag, hexa(t.offset), t.size_words, f"0x{t.crc16:04x}",
                   "OK" if t.crc_ok else "FAIL"] for t in tags])


def program_lines(programs: Iterable[Program]) -> list[str]:
    """Report lines for ``programs``: a heading and a section table each (a program whose
    PID is not known, 0, is shown by its place instead)."""
    out: list[str] = []
    for n, p in enumerate(programs, start=1):
        who = f"PID {p.pid} {p.name!r}" if p.pid else f"#{n} (PID unknown)"
        out.append("")
        out.append(
            f"{p.kind} {who}: payload {hexa(p.load_offset)} + "
            f"{size_text(p.payload_size)}, entry {hexa(p.entrypoint)}"
        )
        out.append(
            table(
                ["vaddr", "size", "flags", "file offset"],
                [
                    [hexa(s.vaddr), size_text(s.size), "|".join(s.flag_names) or "-",
                     "-" if s.file_offset is None else hexa(s.file_offset)]
                    for s in p.sections
                ],
            )
        )
    return out


#: The fields of :class:`Kernel`, in its JSON form.
KERNEL_KEYS = (
    "load_offset", "text_offset", "text_size", "data_offset", "data_size", "bss_size",
    "entrypoint",
)


def json_int(v: Any) -> int:
    """``v`` when it is an int (not a bool); raises TypeError otherwise."""
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"expected an integer, got {v!r}")
    return v


def json_str(v: Any) -> str:
    """``v`` when it is a str; raises TypeError otherwise."""
    if not isinstance(v, str):
        raise TypeError(f"expected a string, got {v!r}")
    return v


def json_region(d: Mapping[str, Any]) -> NamedRange:
    """A region from its JSON form (``name``, ``start``, ``size``)."""
    return NamedRange(json_str(d["name"]), AddressRange(json_int(d["start"]), json_int(d["size"])))


def json_program(d: Mapping[str, Any]) -> Program:
    """A program from :meth:`Program.to_json` output."""
    return Program(
        kind=json_str(d["kind"]),
        pid=json_int(d["pid"]),
        name=json_str(d["name"]),
        load_offset=json_int(d["load_offset"]),
        entrypoint=json_int(d["entrypoint"]),
        payload_size=json_int(d["payload_size"]),
        sections=tuple(
            Section(
                vaddr=json_int(s["vaddr"]),
                size=json_int(s["size"]),
                flags=json_int(s["flags"]),
                file_offset=None if s["file_offset"] is None else json_int(s["file_offset"]),
            )
            for s in d["sections"]
        ),
    )

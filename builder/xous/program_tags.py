"""The Xous program tags: ``IniE``, ``IniF`` and ``IniS``, one MiniELF each.

They share one body (:class:`ProgramTag`) and differ in where the loader finds the payload
and which programs of the layout they describe. :mod:`bootproof.builder.xous.tags` registers
them with the other kinds, so ``TAG_KINDS`` holds them whenever it can be read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, NamedTuple, Self

from bootproof.builder.errors import FormatError
from bootproof.builder.xous.layout_parts import Program, place_sections
from bootproof.builder.xous.tagblock import LayoutDraft, Tag, words


class SectionRecord(NamedTuple):
    """One MiniELF section as a program tag records it (size 24 bits, flags 8 bits)."""

    vaddr: int
    size: int
    flags: int


@dataclass(frozen=True)
class ProgramTag(Tag):
    """An initial program (a MiniELF): ``IniE``, ``IniF`` and, later, ``IniS``.

    Body: ``load_offset`` (payload offset from the args base), ``entrypoint``, then per
    section two words: ``vaddr`` and ``flags << 24 | size``. The payload holds every
    section without the NOCOPY flag, in order, each ``size`` bytes (padding included).
    Fields: ``load_offset``, ``entrypoint``, ``sections`` (:class:`SectionRecord`).
    Describes one program of the layout: PIDs from 2 in tag order, with where each
    section's bytes sit in the file.
    """

    load_offset: int
    entrypoint: int
    sections: tuple[SectionRecord, ...]

    def encode(self) -> bytes:
        return words(self.load_offset, self.entrypoint) + b"".join(
            words(s.vaddr, (s.flags << 24) | (s.size & 0x00FF_FFFF)) for s in self.sections)

    @classmethod
    def decode(cls, body: bytes, *, offset: int, path: str | Path | None = None) -> Self:
        if len(body) < 8:
            raise FormatError(f"{cls.fourcc} body too small", path=path,
                              field=f"{cls.fourcc} size_words", value=len(body) // 4)
        problems: tuple[str, ...] = ()
        if (len(body) - 8) % 8:
            problems = (f"{cls.fourcc} at 0x{offset:x} has a half section record",)
        load, entry = struct.unpack_from("<2I", body)
        sections = []
        for i in range(8, len(body) - 7, 8):
            vaddr, size_flags = struct.unpack_from("<2I", body, i)
            sections.append(SectionRecord(vaddr, size_flags & 0x00FF_FFFF, size_flags >> 24))
        return cls(load, entry, tuple(sections), problems=problems)

    def program(self, pid: int) -> Program:
        """This tag as the layout's program ``pid`` (unnamed; sections placed)."""
        sections, payload_size = place_sections(self.load_offset, self.sections)
        return Program(self.fourcc, pid, "", self.load_offset, self.entrypoint, payload_size,
                       sections)

    def describe(self, draft: LayoutDraft) -> None:
        draft.warnings.extend(self.problems)
        draft.programs.append(self.program(2 + len(draft.programs)))


# IniE and IniF add no field: ProgramTag's dataclass methods serve them as they are.
class IniE(ProgramTag):
    """``IniE``: an initial program the loader copies into RAM (see :class:`ProgramTag`);
    create-image pads its payload to a page and starts it on one (aligned layout)."""

    fourcc: ClassVar[str] = "IniE"


class IniF(ProgramTag):
    """``IniF``: an initial program executed in place from flash (see :class:`ProgramTag`).

    Its read-only sections are mapped where they lie, so its payload starts at the page
    phase of its first section: ``load_offset % 4096 == sections[0].vaddr % 4096``.
    """

    fourcc: ClassVar[str] = "IniF"


class IniS(ProgramTag):
    """``IniS``: an initial program paged in from swap (see :class:`ProgramTag`; spec
    addendum §1.6). create-image writes it only into the swap args block, never into
    args.bin; its ``load_offset`` counts from the first byte of that block, and its payload
    starts on a page there. Describes one of the layout's swap programs (PIDs after the
    IniE/IniF programs, as args.bin's PNam numbers them).
    """

    fourcc: ClassVar[str] = "IniS"

    def describe(self, draft: LayoutDraft) -> None:
        draft.warnings.extend(self.problems)
        draft.swap_programs.append(self.program(0))


_PROGRAM_KINDS: dict[str, type[ProgramTag]] = {c.fourcc: c for c in (IniE, IniF, IniS)}


def program_tag(kind: str) -> type[ProgramTag]:
    """The program tag type for ``kind`` (``IniE``, ``IniF``, ``IniS``); KeyError for any
    other."""
    cls = _PROGRAM_KINDS.get(kind)
    if cls is None:
        raise KeyError(f"{kind!r} is not a program tag kind")
    return cls

"""ELF files -> the kernel and init program descriptions an args.bin is built from.

A payload is described, not loaded: a tuple of :class:`Piece` (a byte range of an input
file, or zeros) so the image writer can stream 64 MiB programs without holding them.
:func:`minielf_from_elf` follows create-image's MiniELF rules (spec §5.2, sections and
their inter-section padding), :func:`kernel_from_elf` its kernel rules (spec §5.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bootproof.builder.elf import ElfImage, ElfSection
from bootproof.builder.errors import AlignmentError, FormatError, InputError, OverflowError_
from bootproof.builder.report import hexa
from bootproof.builder.xous.layout_parts import (
    FLAG_EH_FRAME,
    FLAG_EH_HEADER,
    FLAG_EXECUTE,
    FLAG_NOCOPY,
    FLAG_WRITE,
)

PAGE = 4096
SECTION_SIZE_LIMIT = 1 << 24
KERNEL_MIN_TEXT = 0xFF00_0000


@dataclass(frozen=True)
class Piece:
    """``size`` bytes of payload: from ``source`` at ``offset``, or zeros if no source."""

    source: Path | None
    offset: int
    size: int


@dataclass(frozen=True)
class MiniSection:
    """A MiniELF section: VA, recorded size (padding included), flags, ELF name."""

    virt: int
    size: int
    flags: int
    name: str


@dataclass(frozen=True)
class MiniElf:
    """An init program: entry, sections, payload pieces and the page phase for XIP."""

    path: Path
    entry: int
    sections: tuple[MiniSection, ...]
    pieces: tuple[Piece, ...]
    payload_len: int
    alignment_offset: int

    @property
    def name(self) -> str:
        return self.path.stem


@dataclass(frozen=True)
class KernelProgram:
    """The kernel: text image (with gaps zero-filled) followed by ``.data``."""

    path: Path
    entry: int
    text_offset: int
    text_size: int
    data_offset: int
    data_size: int
    bss_size: int
    pieces: tuple[Piece, ...]
    payload_len: int


def _mini_flags(s: ElfSection) -> int:
    flags = 0
    if s.nobits:
        flags |= FLAG_NOCOPY
    if s.execinstr:
        flags |= FLAG_EXECUTE
    if s.write:
        flags |= FLAG_WRITE
    if s.name == ".eh_frame_hdr":
        flags |= FLAG_EH_HEADER
    elif s.name == ".eh_frame":
        flags |= FLAG_EH_FRAME
    return flags


def minielf_from_elf(elf: ElfImage, *, padded: bool = True) -> MiniElf:
    """Describe an init program the way create-image does (spec §5.2).

    ``padded`` applies the 2023+ inter-section padding (to the next section's
    ``sh_addralign``, clamped to the VA gap); the 2020 tools did not pad. The XIP page phase
    is latched on the first allocated section (0 is a valid phase: xous-core #953).

    Raises FormatError for an ``sh_addralign`` of 0 where padding needs it, OverflowError_
    for a section of 2^24 bytes or more, AlignmentError for decreasing section addresses.
    """
    path = elf.path
    program_offset = 0
    init_offset = 0
    init_set = False
    phase: int | None = None
    sections: list[MiniSection] = []
    pieces: list[Piece] = []
    secs = elf.sections
    for i, s in enumerate(secs):
        nxt = secs[i + 1] if i + 1 < len(secs) else None
        if s.addr == 0:
            if not init_set:
                init_offset = nxt.offset if nxt is not None else 0
                init_set = True
            continue
        if not s.alloc:
            continue
        if phase is None:
            phase = s.addr & (PAGE - 1)
        size = s.size
        if not s.nobits:
            pad = 0
            if padded and nxt is not None and nxt.addr != 0:
                if nxt.addralign == 0:
                    raise FormatError(
                        f"section {nxt.name!r} has sh_addralign 0, needed to pad "
                        f"{s.name!r}", path=path, field=f"{nxt.name} sh_addralign", value=0)
                rem = (s.size + program_offset + init_offset) % nxt.addralign
                if rem:
                    pad = nxt.addralign - rem
                    pad = max(0, min(pad, nxt.addr - (s.addr + s.size)))
            if s.size:
                pieces.append(Piece(path, s.offset, s.size))
            if pad:
                pieces.append(Piece(None, 0, pad))
            program_offset += s.size + pad
            size += pad
        if size >= SECTION_SIZE_LIMIT:
            raise OverflowError_(
                f"section {s.name!r} is too large for the 24-bit MiniELF size field",
                path=path, field=f"{s.name} size", value=size)
        if sections and s.addr < sections[-1].virt:
            raise AlignmentError(
                f"section {s.name!r} lies below the previous section "
                f"({hexa(sections[-1].virt)}); the loader needs increasing addresses",
                path=path, field=f"{s.name} sh_addr", value=s.addr)
        sections.append(MiniSection(s.addr, size, _mini_flags(s), s.name))
    if not sections:
        raise FormatError("no allocated section with an address", path=path,
                          field="sections", value=len(secs))
    return MiniElf(
        path=path,
        entry=elf.entry,
        sections=tuple(sections),
        pieces=tuple(pieces),
        payload_len=program_offset,
        alignment_offset=phase or 0,
    )


def kernel_from_elf(elf: ElfImage) -> KernelProgram:
    """Describe the kernel the way create-image does (spec §5.1).

    Raises InputError if the first text section is not above 0xff000000 (the kernel was
    not linked with its linker script), FormatError if there is no text, if sections go
    backwards, or if a section with contents follows ``.data``.
    """
    path = elf.path
    text_offset = 0
    text_size = 0
    data_offset = 0
    data_size = 0
    bss_size = 0
    text_pieces: list[Piece] = []
    data_pieces: list[Piece] = []
    for s in elf.sections:
        if s.addr == 0:
            continue
        if s.name == ".data":
            data_offset = s.addr
            data_size += s.size
            if s.size and not s.nobits:
                data_pieces.append(Piece(path, s.offset, s.size))
            continue
        if s.nobits:
            bss_size += s.size
            continue
        if data_pieces or data_size:
            raise FormatError(
                f"section {s.name!r} with contents follows .data; the XKrn payload cannot "
                "describe it", path=path, field=f"{s.name} sh_addr", value=s.addr)
        if text_offset == 0:
            text_offset = s.addr
        else:
            gap = s.addr - (text_offset + text_size)
            if gap < 0:
                raise FormatError(
                    f"section {s.name!r} starts inside the text before it "
                    f"(text ends at {hexa(text_offset + text_size)})",
                    path=path, field=f"{s.name} sh_addr", value=s.addr)
            if gap:
                text_pieces.append(Piece(None, 0, gap))
                text_size += gap
        text_size += s.size
        if s.size:
            text_pieces.append(Piece(path, s.offset, s.size))
    if text_offset == 0:
        raise FormatError("kernel has no text section with an address", path=path,
                          field="sections", value=len(elf.sections))
    if text_offset <= KERNEL_MIN_TEXT:
        raise InputError(
            "kernel text must be above 0xff000000 (link the kernel with its linker script)",
            path=path, field="text_offset", value=text_offset)
    for name, value in (("text_size", text_size), ("data_size", data_size),
                        ("bss_size", bss_size)):
        if value > 0xFFFF_FFFF:
            raise OverflowError_("does not fit in 32 bits", path=path, field=name, value=value)
    return KernelProgram(
        path=path,
        entry=elf.entry,
        text_offset=text_offset,
        text_size=text_size,
        data_offset=data_offset,
        data_size=data_size,
        bss_size=bss_size,
        pieces=tuple(text_pieces + data_pieces),
        payload_len=text_size + data_size,
    )

"""The swap args block (``XArg`` + ``IniS`` tags), and main RAM once swap is placed.

Spec addendum §1. Pure functions over bytes; the ELF side (MiniELF descriptions of the
``--inis`` programs) and the placement of the ``Swap`` tag in args.bin belong to the image
builder (:mod:`bootproof.builder.xous.image`), which hands this module finished
:class:`SwapProgram` values. The tags themselves are the kinds of
:mod:`bootproof.builder.xous.tags` (``Swap`` in args.bin, ``XArg`` and ``IniS`` here).

Swap args block (the plaintext of a swap image)::

    [0, L)         XArg (ram = the swap region, name "Swap"), then one IniS per program
    [L, 0x1000)    zeros (only when there is at least one IniS)
    0x1000 ...     each IniS payload at the next page, zero-padded to a page multiple

An IniS ``load_offset`` counts from the first byte of the block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bootproof.builder.errors import InputError, OverflowError_
from bootproof.builder.layout import AddressRange, NamedRange, align_up
from bootproof.builder.report import hexa
from bootproof.builder.xous.layout_parts import Program, TagInfo
from bootproof.builder.xous.program_tags import IniS, SectionRecord
from bootproof.builder.xous.tagblock import HEADER_LEN, LayoutDraft, Tag, encode_block, read_block
from bootproof.builder.xous.tags import XArg, read_header

PAGE = 4096
SWAP_NAME = "Swap"
XARG_LEN = HEADER_LEN + XArg.LENGTH
SECTION_LIMIT = 1 << 24


#: Platforms (the reference tool's cargo features) whose builds trim main RAM below swap.
TRIMMING_PLATFORMS = ("precursor", "renode")
#: Platforms whose swap is separate hardware: main RAM is left as it is.
SEPARATE_SWAP_PLATFORMS = ("bao1x", "atsama5d2")
PLATFORMS = TRIMMING_PLATFORMS + SEPARATE_SWAP_PLATFORMS


def ram_below_swap(ram: NamedRange, swap: NamedRange,
                   platform: str | None = None) -> NamedRange:
    """Main RAM once swap is placed (spec addendum §1.3).

    * ``precursor``/``renode`` (the reference built with that feature): swap must start
      above RAM's start, and RAM ends where swap starts if swap starts inside it;
    * ``bao1x``/``atsama5d2``: RAM unchanged (swap is separate hardware, its offset is not
      a CPU address: ``--swap 0:8M`` is the bao1x SPI RAM);
    * None (not said): the precursor rule where swap overlaps RAM, else unchanged. The
      loader hands out RAM pages, so RAM and swap may not share any: a swap that overlaps
      RAM from its start cannot be separated by trimming and is an InputError.

    InputError for an unknown platform or the refusals above."""
    if platform is not None and platform not in PLATFORMS:
        raise InputError(f"unknown platform (one of {', '.join(PLATFORMS)})",
                         field="--platform", value=platform)
    if platform in SEPARATE_SWAP_PLATFORMS:
        return ram
    overlaps = swap.range.overlaps(ram.range)
    if platform is None and not overlaps:
        return ram
    if swap.start <= ram.start:
        why = "" if platform else " and overlap it"
        raise InputError(f"swap must lie above the start of main RAM (0x{ram.start:08x}){why}"
                         ": RAM ends where swap starts", field="--swap offset",
                         value=swap.start)
    trimmed = trimmed_ram_size(ram.start, ram.size, swap.start)
    return NamedRange(ram.name, AddressRange(ram.start, trimmed))


def trimmed_ram_size(ram_start: int, ram_size: int, swap_offset: int) -> int:
    """Main RAM size once swap is placed (Precursor/Renode builds, spec addendum §1.3):
    RAM ends where swap starts if swap starts inside it. InputError if swap is not
    above the start of RAM (the reference asserts this)."""
    if swap_offset <= ram_start:
        raise InputError(f"swap must lie above the start of main RAM ({hexa(ram_start)})",
                         field="--swap offset", value=swap_offset)
    return min(ram_size, swap_offset - ram_start)


@dataclass(frozen=True)
class SwapProgram:
    """An ``--inis`` program ready to place: entry, sections ``(virt, size, flags)``
    (``size`` as recorded, padding included) and its payload bytes (the non-NOCOPY
    sections' bytes in order)."""

    name: str
    entry: int
    sections: tuple[tuple[int, int, int], ...]
    payload: bytes


@dataclass(frozen=True)
class SwapArgsPlan:
    """A placed swap args block: its tags (XArg, then one IniS per program, load offsets
    set), the encoded tag block and the block's total length."""

    tags: tuple[Tag, ...]
    tag_block: bytes
    infos: tuple[TagInfo, ...]
    size: int

    def assemble(self, programs: Sequence[SwapProgram]) -> bytes:
        """The block's bytes: the tag block, zeros to the first page, then each program's
        payload zero-padded to a page (the ``programs`` this plan was made for)."""
        if not programs:
            return self.tag_block
        parts = [self.tag_block, bytes(align_up(len(self.tag_block), PAGE) - len(self.tag_block))]
        for prog in programs:
            parts += [prog.payload, bytes(align_up(len(prog.payload), PAGE) - len(prog.payload))]
        return b"".join(parts)


def plan_swap_args(ram_offset: int, ram_size: int,
                   programs: Sequence[SwapProgram]) -> SwapArgsPlan:
    """Place the swap args for a swap region and its programs as create-image does: the
    payloads from the first page after the tag block, each on a page (a tag block past
    4096 bytes is not refused, as by the reference: :func:`decode_swap_args` warns).
    OverflowError_ for a section of 2^24 bytes or more or a tag over 65535 words."""
    length = XARG_LEN + sum(HEADER_LEN + 8 + 8 * len(p.sections) for p in programs)
    running = align_up(length, PAGE)
    swap_ram = NamedRange(SWAP_NAME, AddressRange(ram_offset, ram_size))
    tags: list[Tag] = [XArg(length // 4, swap_ram)]
    for prog in programs:
        for virt, size, _ in prog.sections:
            if size >= SECTION_LIMIT:
                raise OverflowError_("section is too large for the 24-bit MiniELF size "
                                     "field", field=f"{prog.name} section 0x{virt:08x} size",
                                     value=size)
        tags.append(IniS(running, prog.entry,
                         tuple(SectionRecord(v, s, f & 0xFF) for v, s, f in prog.sections)))
        running += align_up(len(prog.payload), PAGE)
    block, infos = encode_block(tags)
    assert len(block) == length, "IniS lengths disagree with their bodies"
    return SwapArgsPlan(tuple(tags), block, infos, running if programs else length)


def build_swap_args(ram_offset: int, ram_size: int, programs: Sequence[SwapProgram]) -> bytes:
    """The swap args block for a swap region and its ``--inis`` programs, byte for byte as
    create-image writes it (see :func:`plan_swap_args`)."""
    return plan_swap_args(ram_offset, ram_size, programs).assemble(programs)


@dataclass(frozen=True)
class SwapArgs:
    """A decoded swap args block. ``programs`` are the IniS programs (``kind`` ``IniS``,
    ``pid`` counted from the ``first_pid`` given, 0 when unknown: args.bin's PNam
    numbers them after its IniE/IniF programs; ``name`` empty). Offsets are relative to
    the block, like ``load_offset``."""

    arg_size_words: int
    ram_start: int
    ram_size: int
    ram_name: str
    tags: tuple[TagInfo, ...]
    programs: tuple[Program, ...]
    block_len: int
    warnings: tuple[str, ...] = ()

    @property
    def region(self) -> NamedRange:
        """The swap RAM the XArg names."""
        return NamedRange(self.ram_name, AddressRange(self.ram_start, self.ram_size))

    def to_json(self) -> dict[str, Any]:
        """The documented JSON form (``inspect --json``)."""
        return {"format": "xous-swap-args", "arg_size_words": self.arg_size_words,
                "ram": self.region.to_json(), "block_len": self.block_len,
                "tags": [t.to_json() for t in self.tags],
                "programs": [p.to_json() for p in self.programs],
                "warnings": list(self.warnings)}


def decode_swap_args(data: bytes, *, path: str | None = None,
                     first_pid: int | None = None) -> SwapArgs:
    """Decode a swap args block (the plaintext of a swap image, from its XArg on).

    Walks the tags as the loader does (up to ``arg_size_words``). What the loader would
    trip over (tags past page 0, unknown tags, CRC mismatches, payloads past the data)
    becomes a warning; FormatError only for bytes that cannot be walked (no XArg first,
    truncated tags, an IniS body under 8 bytes).
    """
    xarg, block_len = read_header(data, path=path, what="swap args")
    warnings = list(xarg.problems)
    if xarg.ram.name != SWAP_NAME:
        warnings.append(f"XArg RAM name is {xarg.ram.name!r}, create-image writes 'Swap'")
    if block_len > PAGE:
        warnings.append(f"the tag block is {block_len} bytes: the loader reads the swap "
                        "args from page 0 only (4096 bytes)")
    frames, crc_warnings = read_block(data, block_len, path=path)
    warnings += crc_warnings
    draft = LayoutDraft()
    for info, body in frames[1:]:
        off = info.offset
        if info.tag == IniS.fourcc:
            IniS.decode(body, offset=off, path=path).describe(draft)
            prog = draft.swap_programs[-1]
            if prog.load_offset + prog.payload_size > len(data):
                warnings.append(f"IniS at 0x{off:x}: payload 0x{prog.load_offset:x}+"
                                f"0x{prog.payload_size:x} runs past the data "
                                f"(0x{len(data):x} bytes)")
            if prog.load_offset % PAGE:
                warnings.append(f"IniS at 0x{off:x}: payload 0x{prog.load_offset:x} is not "
                                "page-aligned")
        elif info.tag != XArg.fourcc:
            warnings.append(f"unhandled tag {info.tag!r} at 0x{off:x} (the loader prints "
                            "'Unhandled argument in swap')")
    warnings += draft.warnings
    programs = tuple(
        Program(p.kind, 0 if first_pid is None else first_pid + i, "", p.load_offset,
                p.entrypoint, p.payload_size, p.sections)
        for i, p in enumerate(draft.swap_programs))
    return SwapArgs(xarg.arg_size_words, xarg.ram.start, xarg.ram.size, xarg.ram.name,
                    tuple(info for info, _ in frames), programs, len(data), tuple(warnings))

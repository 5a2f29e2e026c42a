"""Assemble an args.bin: plan (pure) then stream it to a file.

:func:`plan_image` places every tag and payload and returns an :class:`ImagePlan` holding
the finished tag block, where each payload goes, and the :class:`XousLayout` that
describes the result. :func:`write_image` streams the plan to a binary file object,
copying payload bytes from the input files in chunks (peak memory stays small).

Two layouts:

* ``aligned`` (create-image since 2023-02): the tag block is followed by zeros to 4096;
  IniE and XKrn payloads start on a page and are padded to a page multiple; an IniF
  payload starts at the page phase of its first section and is padded to a page multiple.
* ``legacy`` (2020): payloads packed right after the tag block, each padded to 4 bytes;
  no PNam, no IniF, no swap.

With swap (:class:`SwapSetup`, spec addendum §1) args.bin gains a ``Swap`` tag right after
XArg and PNam names the ``--inis`` programs after the IniE/IniF ones; the programs
themselves go into the swap args block (:mod:`bootproof.builder.xous.swap_args`), which
:func:`~bootproof.builder.xous.build.build_image` also writes as the encrypted swap image,
its UF2 and, on request, the plaintext debug image
(:class:`~bootproof.builder.xous.build.SwapOutputs`).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from bootproof.builder.errors import AlignmentError, InputError, OverflowError_
from bootproof.builder.layout import NamedRange, align_up
from bootproof.builder.xous.inspect import loader_warnings
from bootproof.builder.xous.layout import LAYOUTS, XousLayout
from bootproof.builder.xous.layout_parts import FLAG_NOCOPY, Kernel
from bootproof.builder.xous.program_tags import ProgramTag, SectionRecord, program_tag
from bootproof.builder.xous.programs import KernelProgram, MiniElf, Piece
from bootproof.builder.xous.regions import MemoryMap
from bootproof.builder.xous.swap_args import SwapProgram, plan_swap_args
from bootproof.builder.xous.tagblock import HEADER_LEN, Tag, check_tag_words, encode_block
from bootproof.builder.xous.tags import Bflg, MREx, PNam, Swap, XArg, XKrn, describe_all

PAGE = 4096
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Payload:
    """Payload bytes placed at ``offset``: ``pieces`` then zeros up to ``padded_len``."""

    offset: int
    pieces: tuple[Piece, ...]
    padded_len: int


@dataclass(frozen=True)
class SwapSetup:
    """Swap for an image: the swap RAM ``region`` (``--swap``; named ``Swap``) and the
    ``--inis`` programs that go into the swap args block."""

    region: NamedRange
    programs: tuple[SwapProgram, ...] = ()


@dataclass(frozen=True)
class ImagePlan:
    """A fully placed args.bin: the tag block bytes, the payloads, and its layout model;
    with swap, the swap args block (the plaintext of the swap image) too."""

    tag_block: bytes
    payloads: tuple[Payload, ...]
    file_size: int
    layout: XousLayout
    swap_args: bytes | None = None


@dataclass(frozen=True)
class InitProgram:
    """An init program and how it is loaded: kind ``IniE`` (RAM) or ``IniF`` (XIP)."""

    kind: str
    prog: MiniElf


def plan_image(
    kernel: KernelProgram,
    inits: Sequence[InitProgram],
    memory: MemoryMap,
    *,
    debug: bool = False,
    layout: str = "aligned",
    swap: SwapSetup | None = None,
) -> ImagePlan:
    """Place tags and payloads for ``layout`` and return the plan (no I/O).

    Tag order: XArg, Swap (with ``swap``), MREx (if regions), Bflg (if debug), IniE...,
    IniF..., XKrn, PNam (aligned layout only). PIDs: 1 = kernel, then 2, 3... in tag order,
    then the swap programs. ``memory.ram`` is used as given (trimmed below swap by the
    caller where the platform wants it, :func:`~bootproof.builder.xous.swap_args.ram_below_swap`).

    Raises InputError for an unknown layout, IniF or swap in the legacy layout, or swap
    without MREx regions (the reference drops swap then: the caller decides),
    AlignmentError if an XIP section's flash phase differs from its VA phase,
    OverflowError_ if a tag exceeds 65535 words or an offset exceeds 32 bits.
    """
    if layout not in LAYOUTS:
        raise InputError("unknown layout (aligned or legacy)", field="--layout", value=layout)
    legacy = layout == "legacy"
    if not inits:
        raise InputError("the Xous loader needs at least one init program (--init or --inif)",
                         path=kernel.path, field="--init", value=0)
    ordered = [p for p in inits if p.kind == "IniE"] + [p for p in inits if p.kind == "IniF"]
    if legacy and any(p.kind == "IniF" for p in ordered):
        raise InputError("the legacy (2020) layout has no IniF tag", field="--inif",
                         value=str(next(p.prog.path for p in ordered if p.kind == "IniF")))

    if swap is not None and legacy:
        raise InputError("the legacy (2020) layout has no swap", field="--swap",
                         value=f"0x{swap.region.start:x}:0x{swap.region.size:x}")
    if swap is not None and not memory.regions:
        raise InputError("swap needs the MREx regions of --csv or --svd (with --ram only the "
                         "reference drops the Swap tag and the swap image)", field="--swap",
                         value=f"0x{swap.region.start:x}:0x{swap.region.size:x}")
    swap_progs = swap.programs if swap is not None else ()
    names = ((1, "kernel"),
             *((pid, p.prog.name) for pid, p in enumerate(ordered, start=2)),
             *((pid, p.name) for pid, p in enumerate(swap_progs, start=2 + len(ordered))))
    # The tag lengths come first and no offset changes them: draft the tags with load
    # offsets 0, each with the input it comes from (for messages).
    drafts: list[tuple[Tag, Path | str | None]] = []
    if swap is not None:
        drafts.append((Swap(swap.region), "--swap"))
    if memory.regions:
        drafts.append((MREx(memory.regions), memory.source))
    if debug:
        drafts.append((Bflg(Bflg.DEBUG), None))
    for p in ordered:
        sections = tuple(SectionRecord(s.virt, s.size, s.flags) for s in p.prog.sections)
        drafts.append((program_tag(p.kind)(0, p.prog.entry, sections), p.prog.path))
    drafts.append((XKrn(Kernel(0, kernel.text_offset, kernel.text_size, kernel.data_offset,
                               kernel.data_size, kernel.bss_size, kernel.entry)), kernel.path))
    if not legacy:
        drafts.append((PNam(names), ", ".join(str(p.prog.path) for p in ordered)))
    tag_block_len = HEADER_LEN + XArg.LENGTH
    for tag, where in drafts:
        body_len = len(tag.encode())
        check_tag_words(tag.fourcc, body_len, where)
        tag_block_len += HEADER_LEN + body_len
    arg_size_words = tag_block_len // 4

    # Pass 1: place payloads.
    running = tag_block_len if legacy else align_up(tag_block_len, PAGE)
    payloads: list[Payload] = []
    prog_offsets: list[int] = []
    for p in ordered:
        phase = p.prog.alignment_offset if p.kind == "IniF" else 0
        if not legacy:
            running = align_up(running, PAGE, phase)
        padded = _pad_len(p.prog.payload_len, legacy)
        payloads.append(Payload(running, p.prog.pieces, padded))
        prog_offsets.append(running)
        if p.kind == "IniF":
            _check_xip_phase(p.prog, running)
        running += padded
    kernel_offset = running if legacy else align_up(running, PAGE)
    padded = _pad_len(kernel.payload_len, legacy)
    payloads.append(Payload(kernel_offset, kernel.pieces, padded))
    file_size = kernel_offset + padded
    if file_size > 0xFFFF_FFFF:
        raise OverflowError_("args.bin would exceed 4 GiB (32-bit load offsets)",
                             field="file_size", value=file_size)

    # Pass 2: the tags with their offsets, encoded; the layout is what they describe.
    tags: list[Tag] = [XArg(arg_size_words, memory.ram)]
    offsets = iter(prog_offsets)
    for draft, _ in drafts:
        if isinstance(draft, ProgramTag):
            draft = replace(draft, load_offset=next(offsets))
        elif isinstance(draft, XKrn):
            draft = XKrn(replace(draft.kernel, load_offset=kernel_offset))
        tags.append(draft)
    block, infos = encode_block(tags)
    assert len(block) == tag_block_len, "tag lengths disagree with their bodies"
    described = describe_all(tags)
    swap_args = None
    if swap is not None:
        swap_plan = plan_swap_args(swap.region.start, swap.region.size, swap.programs)
        describe_all(swap_plan.tags[1:], described)
        described.swap_args_size = swap_plan.size
        swap_args = swap_plan.assemble(swap.programs)
    model = described.finish(layout=layout, file_size=file_size, tags=infos)
    model = replace(model, warnings=(*memory.warnings, *model.warnings, *loader_warnings(model)))
    return ImagePlan(block, tuple(payloads), file_size, model, swap_args)


def _pad_len(n: int, legacy: bool) -> int:
    n4 = align_up(n, 4)
    return n4 if legacy else align_up(n4, PAGE)


def _check_xip_phase(prog: MiniElf, load_offset: int) -> None:
    flash = load_offset
    for s in prog.sections:
        if s.flags & FLAG_NOCOPY:
            continue
        if (s.virt ^ flash) & (PAGE - 1):
            raise AlignmentError(
                f"XIP section {s.name!r} at VA 0x{s.virt:08x} would sit at flash offset "
                f"0x{flash:x}: their page phases differ (link the program so its sections "
                "are contiguous)", path=prog.path, field=f"{s.name} sh_addr", value=s.virt)
        flash += s.size


def write_image(plan: ImagePlan, out: BinaryIO) -> None:
    """Stream ``plan`` to ``out`` (positioned at 0), copying payloads from their files.

    Raises InputError if an input file cannot be read or became shorter.
    """
    out.write(plan.tag_block)
    pos = len(plan.tag_block)
    zeros = bytes(min(_CHUNK, PAGE * 16))
    for payload in plan.payloads:
        pos = _zero_fill(out, payload.offset - pos, zeros) + pos
        written = 0
        for piece in payload.pieces:
            written += _copy_piece(out, piece, zeros)
        written += _zero_fill(out, payload.padded_len - written, zeros)
        pos += written
    assert pos == plan.file_size, "written size disagrees with the plan"


def _zero_fill(out: BinaryIO, n: int, zeros: bytes) -> int:
    left = n
    while left > 0:
        k = min(left, len(zeros))
        out.write(zeros[:k])
        left -= k
    return max(n, 0)


def _copy_piece(out: BinaryIO, piece: Piece, zeros: bytes) -> int:
    if piece.source is None:
        return _zero_fill(out, piece.size, zeros)
    try:
        with Path(piece.source).open("rb") as fh:
            left = piece.size - _kernel_copy(fh, out, piece.offset, piece.size)
            fh.seek(piece.offset + piece.size - left)
            buf = bytearray(min(left, _CHUNK))
            view = memoryview(buf)
            while left > 0:
                n = fh.readinto(view[:min(left, len(buf))])
                if not n:
                    raise InputError("file became shorter while it was read",
                                     path=piece.source, field="offset",
                                     value=piece.offset + piece.size - left)
                out.write(view[:n])
                left -= n
    except OSError as exc:
        raise InputError(f"cannot read input ({exc.strerror})", path=piece.source) from exc
    return piece.size


def _kernel_copy(src: BinaryIO, out: BinaryIO, offset: int, size: int) -> int:
    """Copy with copy_file_range (no trip through user space) where the OS allows it.

    Returns the bytes copied; the caller copies whatever is left the ordinary way.
    """
    copy = getattr(os, "copy_file_range", None)
    if copy is None or size == 0:
        return 0
    try:
        dst = out.fileno()
    except (OSError, ValueError, io.UnsupportedOperation):
        return 0
    out.flush()
    done = 0
    try:
        while done < size:
            n = copy(src.fileno(), dst, size - done, offset + done)
            if n <= 0:
                break
            done += n
    except OSError:
        pass
    out.seek(0, os.SEEK_END)
    return done


def swap_program(prog: MiniElf) -> SwapProgram:
    """An ``--inis`` program with its payload read. InputError if its file cannot be read
    or became shorter."""
    buf = io.BytesIO()
    for piece in prog.pieces:
        _copy_piece(buf, piece, bytes(PAGE))
    return SwapProgram(prog.name, prog.entry,
                       tuple((s.virt, s.size, s.flags) for s in prog.sections),
                       buf.getvalue())

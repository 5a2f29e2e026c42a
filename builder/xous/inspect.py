"""Decode any args.bin (aligned or legacy layout) into an :class:`XousLayout`.

The tag kinds of :mod:`bootproof.builder.xous.tags` decode and describe their own bodies;
this module walks the tag block and adds the loader's checks. Everything the Xous loader
would reject (spec §3) becomes a warning on the layout; only input that cannot be decoded
at all (truncated, not starting with ``XArg``, no ``XKrn``) raises :class:`FormatError`.
Any byte string gives either a layout or a FormatError.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bootproof.builder.errors import InputError
from bootproof.builder.xous.layout import XousLayout
from bootproof.builder.xous.tagblock import LayoutDraft, read_block
from bootproof.builder.xous.tags import TAG_KINDS, read_header

PAGE = 4096
KERNEL_LOAD_OFFSET = 0xFFD0_0000
USER_AREA_END = 0xFF00_0000


def inspect_file(path: str | Path) -> XousLayout:
    """Read and decode an args.bin file; InputError if unreadable, FormatError if garbage."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read file ({exc.strerror})", path=p) from exc
    return decode(data, path=str(p))


def decode(data: bytes, *, path: str | None = None) -> XousLayout:
    """Decode args.bin bytes; FormatError (naming ``path``) if they cannot be decoded."""
    xarg, block_len = read_header(data, path=path, what="args.bin")
    draft = LayoutDraft()
    xarg.describe(draft)
    frames, crc_warnings = read_block(data, block_len, path=path)
    draft.warnings.extend(crc_warnings)
    for info, body in frames[1:]:
        kind = TAG_KINDS.get(info.tag)
        if kind is None:
            draft.warnings.append(f"unknown tag {info.tag!r} at 0x{info.offset:x} (skipped)")
        elif kind.header:
            draft.warnings.append(f"a second {info.tag} tag at 0x{info.offset:x}")
        else:
            kind.decode(body, offset=info.offset, path=path).describe(draft)
    result = draft.finish(layout="aligned", file_size=len(data),
                          tags=tuple(info for info, _ in frames), path=path)
    result = replace(result, layout=_detect_layout(block_len, result, draft.names is not None))
    return replace(result, warnings=(*result.warnings, *loader_warnings(result)))


def _detect_layout(block_len: int, layout: XousLayout, pnam: bool) -> str:
    offsets = [p.load_offset for p in layout.programs] + [layout.kernel.load_offset]
    if block_len % PAGE and min(offsets) == block_len and not pnam:
        return "legacy"
    return "aligned"


def loader_warnings(layout: XousLayout) -> list[str]:
    """What the Xous loader would reject or trip over in ``layout`` (spec §3), as text."""
    warnings: list[str] = []
    w = warnings.append
    ram, regions, k = layout.ram, layout.regions, layout.kernel
    programs, file_size = layout.programs, layout.file_size
    if k.text_offset != KERNEL_LOAD_OFFSET:
        w(f"kernel text_offset 0x{k.text_offset:08x}: the loader needs 0x{KERNEL_LOAD_OFFSET:08x}")
    if k.text_offset + k.text_size >= 0xFFFF_0000:
        w("kernel text reaches 0xffff0000")
    if k.data_offset + k.data_size + k.bss_size >= 0xFFFF_0000 - 16:
        w("kernel data+bss reaches the exception stack (0xffff0000 - 16)")
    if k.data_offset < KERNEL_LOAD_OFFSET:
        w(f"kernel data_offset 0x{k.data_offset:08x} is below 0x{KERNEL_LOAD_OFFSET:08x}")
    if k.text_offset % PAGE or k.data_offset % PAGE:
        w("kernel text or data VA is not page-aligned")
    if k.load_offset + k.text_size + k.data_size > file_size:
        w(f"kernel payload 0x{k.load_offset:x}+0x{k.text_size + k.data_size:x} runs past "
          "the end of the file")
    swap = layout.swap
    swap_programs = swap.programs if swap is not None else ()
    for p in (*programs, *swap_programs):
        label = f"{p.kind} PID {p.pid}"
        end = file_size
        if p.kind == "IniS":
            end = swap.args_size if swap is not None and swap.args_size is not None else 0
        if p.load_offset + p.payload_size > end:
            where = "swap args" if p.kind == "IniS" else "file"
            w(f"{label}: payload 0x{p.load_offset:x}+0x{p.payload_size:x} runs past the end "
              f"of the {where}")
        prev = -1
        for s in p.sections:
            if s.vaddr < prev:
                w(f"{label}: section addresses are not increasing (0x{s.vaddr:08x})")
            prev = s.vaddr
            if s.vaddr + s.size > USER_AREA_END:
                w(f"{label}: section 0x{s.vaddr:08x} reaches the kernel area (0xff000000)")
        if p.kind == "IniF" and p.sections and (p.load_offset ^ p.sections[0].vaddr) % PAGE:
            w(f"{label}: XIP payload phase 0x{p.load_offset % PAGE:x} differs from its first "
              f"section's 0x{p.sections[0].vaddr % PAGE:x}")
    for reg in regions:
        if reg.range.overlaps(ram.range):
            w(f"region {reg.name} {reg.range.describe()} overlaps main RAM")
    if swap is not None:
        r = swap.region
        if r.range.overlaps(ram.range):
            w(f"swap {r.range.describe()} overlaps main RAM: the loader would hand "
              "out the same pages as RAM")
        if swap.args_size is not None:
            named = list(layout.swap_names)
            pids = [p.pid for p in swap.programs]
            if named != pids:
                w(f"PNam names PIDs {named} after the IniE/IniF programs, the swap args hold "
                  f"IniS PIDs {pids}")
    return warnings

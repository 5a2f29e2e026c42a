"""Decode any args.bin (aligned or legacy layout) into an :class:`XousLayout`.

Everything the Xous loader would reject (spec §3) becomes a warning on the layout; only
input that cannot be decoded at all (truncated, not starting with ``XArg``, no ``XKrn``)
raises :class:`FormatError`. Any byte string gives either a layout or a FormatError.
"""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path

from bootproof.builder.errors import FormatError, InputError
from bootproof.builder.formats.crc16 import crc16_x25
from bootproof.builder.xous.layout import (
    Kernel,
    Program,
    Region,
    TagInfo,
    XousLayout,
    place_sections,
)

PAGE = 4096
KERNEL_LOAD_OFFSET = 0xFFD0_0000
USER_AREA_END = 0xFF00_0000


def _text(raw: bytes) -> str:
    return raw.decode("ascii", errors="backslashreplace")


class _Reader:
    def __init__(self, data: bytes, path: str | None) -> None:
        self.data = data
        self.path = path

    def words(self, off: int, n: int, what: str) -> tuple[int, ...]:
        if off < 0 or off + 4 * n > len(self.data):
            raise FormatError(f"truncated: {what} runs past the end of the file "
                              f"({len(self.data)} bytes)", path=self.path, field=what,
                              value=off)
        return struct.unpack_from(f"<{n}I", self.data, off)


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
    r = _Reader(data, path)
    warnings: list[str] = []
    if len(data) < 28:
        raise FormatError("too short for an XArg tag", path=path, field="file_size",
                          value=len(data))
    if data[:4] != b"XArg":
        raise FormatError("does not start with an XArg tag", path=path, field="tag",
                          value=data[:4])
    xsize = int.from_bytes(data[6:8], "little")
    if xsize < 5:
        raise FormatError("XArg tag too small", path=path, field="XArg size_words", value=xsize)
    if xsize != 5:
        warnings.append(f"XArg has {xsize} words; the loader needs exactly 5")
    arg_size_words, version, ram_start, ram_size = r.words(8, 4, "XArg")
    ram = Region(_text(data[24:28]), ram_start, ram_size)
    if version != 1:
        warnings.append(f"XArg version is {version}, expected 1")
    block_len = arg_size_words * 4
    if block_len > len(data):
        raise FormatError("tag block is longer than the file", path=path,
                          field="arg_size_words", value=arg_size_words)

    tags: list[TagInfo] = []
    bodies: list[tuple[str, int, bytes]] = []
    off = 0
    while off < block_len:
        if off + 8 > len(data):
            raise FormatError("truncated tag header", path=path, field="offset", value=off)
        tag = _text(data[off:off + 4])
        crc = int.from_bytes(data[off + 4:off + 6], "little")
        size = int.from_bytes(data[off + 6:off + 8], "little")
        end = off + 8 + 4 * size
        if end > len(data):
            raise FormatError(f"tag {tag} runs past the end of the file", path=path,
                              field=f"{tag} size_words", value=size)
        body = data[off + 8:end]
        ok = crc16_x25(body) == crc
        if not ok:
            warnings.append(f"tag {len(tags)} {tag} at 0x{off:x}: CRC FAIL "
                            f"(stored 0x{crc:04x}, computed 0x{crc16_x25(body):04x})")
        if end > block_len:
            warnings.append(f"tag {tag} at 0x{off:x} runs past the end of the tag block")
        tags.append(TagInfo(len(tags), tag, off, size, crc, ok))
        bodies.append((tag, off, body))
        off = end

    regions: tuple[Region, ...] = ()
    debug = False
    kernel: Kernel | None = None
    raw_programs: list[tuple[str, int, int, list[tuple[int, int, int]]]] = []
    names: dict[int, str] = {}
    seen_mrex = seen_pnam = False
    for tag, toff, body in bodies[1:]:
        if tag == "MREx":
            if seen_mrex:
                warnings.append("several MREx tags: the loader uses the last one")
            seen_mrex = True
            if len(body) % 16:
                warnings.append(f"MREx at 0x{toff:x} is not a whole number of 16-byte records")
            regions = tuple(
                Region(_text(body[i + 8:i + 12]),
                       *struct.unpack_from("<2I", body, i))
                for i in range(0, len(body) - 15, 16)
            )
        elif tag == "Bflg":
            if len(body) < 4:
                warnings.append(f"Bflg at 0x{toff:x} is empty")
            else:
                debug = bool(int.from_bytes(body[:4], "little") & 0x4)
        elif tag in ("IniE", "IniF"):
            if len(body) < 8:
                raise FormatError(f"{tag} body too small", path=path, field=f"{tag} size_words",
                                  value=len(body) // 4)
            if (len(body) - 8) % 8:
                warnings.append(f"{tag} at 0x{toff:x} has a half section record")
            load, entry = struct.unpack_from("<2I", body, 0)
            secs = []
            for i in range(8, len(body) - 7, 8):
                virt, sf = struct.unpack_from("<2I", body, i)
                secs.append((virt, sf & 0x00FF_FFFF, sf >> 24))
            raw_programs.append((tag, load, entry, secs))
        elif tag == "XKrn":
            if len(body) < 28:
                raise FormatError("XKrn body too small", path=path, field="XKrn size_words",
                                  value=len(body) // 4)
            if len(body) != 28:
                warnings.append(f"XKrn has {len(body)} bytes; the loader needs exactly 28")
            if kernel is not None:
                warnings.append("several XKrn tags: the loader stops (kernel appears twice)")
                continue
            kernel = Kernel(*struct.unpack_from("<7I", body, 0))
        elif tag == "PNam":
            if seen_pnam:
                warnings.append("several PNam tags: the first one wins")
                continue
            seen_pnam = True
            names = _pnam(body, warnings)
        elif tag == "XArg":
            warnings.append(f"a second XArg tag at 0x{toff:x}")
        else:
            warnings.append(f"unknown tag {tag!r} at 0x{toff:x} (skipped)")
    if kernel is None:
        raise FormatError("no XKrn tag (no kernel)", path=path, field="XKrn", value=0)
    if not raw_programs:
        warnings.append("no IniE/IniF tag: the loader stops (no initial programs found)")

    programs = []
    for pid, (kind, load, entry, secs) in enumerate(raw_programs, start=2):
        sections, payload_size = place_sections(load, secs)
        programs.append(Program(kind, pid, names.get(pid, ""), load, entry, payload_size,
                                sections))

    result = XousLayout(
        layout=_detect_layout(block_len, kernel, programs, seen_pnam),
        arg_size_words=arg_size_words,
        file_size=len(data),
        ram=ram,
        regions=regions,
        tags=tuple(tags),
        programs=tuple(programs),
        kernel=kernel,
        debug=debug,
        names=names,
        warnings=(),
    )
    return replace(result, warnings=(*warnings, *loader_warnings(result)))


def _pnam(body: bytes, warnings: list[str]) -> dict[int, str]:
    names: dict[int, str] = {}
    i = 0
    while i + 8 <= len(body):
        pid, n = struct.unpack_from("<2I", body, i)
        if i + 8 + n > len(body):
            warnings.append(f"PNam record for PID {pid} runs past the tag")
            break
        names[pid] = body[i + 8:i + 8 + n].decode("utf-8", errors="replace")
        i += 8 + n + (-n % 4)
    return names


def _detect_layout(block_len: int, kernel: Kernel, programs: list[Program], pnam: bool) -> str:
    offsets = [p.load_offset for p in programs] + [kernel.load_offset]
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
    for p in programs:
        label = f"{p.kind} PID {p.pid}"
        if p.load_offset + p.payload_size > file_size:
            w(f"{label}: payload 0x{p.load_offset:x}+0x{p.payload_size:x} runs past the end "
              "of the file")
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
        if reg.start < ram.end and ram.start < reg.end:
            w(f"region {reg.name} 0x{reg.start:08x}-0x{reg.end:08x} overlaps main RAM")
    return warnings

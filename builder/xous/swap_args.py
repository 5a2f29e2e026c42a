"""Swap in args: the ``Swap`` tag body and the swap args block (``XArg`` + ``IniS`` tags).

Spec addendum §1. Pure functions over bytes; the ELF side (MiniELF descriptions of the
``--inis`` programs) and the placement of the ``Swap`` tag in args.bin belong to the
image builder, which hands this module finished :class:`SwapProgram` values.

``Swap`` tag body (48 bytes, ``SwapDescriptor``)::

    0 ram_offset   4 ram_size   8 name "Swap"   12 key[32] (zero)   44 flash_offset

Swap args block (the plaintext of a swap image)::

    [0, L)         XArg (ram = the swap region, name "Swap"), then one IniS per program
    [L, 0x1000)    zeros (only when there is at least one IniS)
    0x1000 ...     each IniS payload at the next page, zero-padded to a page multiple

An IniS body is an IniE body (load offset, entry, then ``virt``, ``flags << 24 | size``
per section) whose ``load_offset`` counts from the first byte of the block.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from bootproof.builder.errors import FormatError, InputError, OverflowError_
from bootproof.builder.formats.crc16 import crc16_x25
from bootproof.builder.layout import align_up
from bootproof.builder.report import hexa
from bootproof.builder.xous.layout import Program, TagInfo, place_sections
from bootproof.builder.xous.rawtags import scan_tags

PAGE = 4096
SWAP_TAG_LEN = 48
SWAP_NAME = b"Swap"
#: ``flash_offset`` create-image writes on every platform (a Precursor flash address).
SWAP_FLASH_OFFSET = 0x2120_0000
XARG_LEN = 28
SECTION_LIMIT = 1 << 24
TAG_WORDS_LIMIT = 0xFFFF


@dataclass(frozen=True)
class SwapDescriptor:
    """The ``Swap`` tag: the swap RAM region, the key of the swap image (zero in images
    create-image makes) and the flash address of the swap image (Precursor only)."""

    ram_offset: int
    ram_size: int
    name: bytes = SWAP_NAME
    key: bytes = bytes(32)
    flash_offset: int = SWAP_FLASH_OFFSET

    def encode(self) -> bytes:
        """The 48-byte body. InputError for a field that does not fit."""
        for field, value in (("ram_offset", self.ram_offset), ("ram_size", self.ram_size),
                             ("flash_offset", self.flash_offset)):
            if not 0 <= value <= 0xFFFF_FFFF:
                raise InputError("does not fit the 32-bit Swap tag field", field=field,
                                 value=value)
        if len(self.name) != 4 or len(self.key) != 32:
            raise InputError("the Swap tag has a 4-byte name and a 32-byte key",
                             field="Swap", value=(len(self.name), len(self.key)))
        return (struct.pack("<2I", self.ram_offset, self.ram_size) + self.name + self.key
                + struct.pack("<I", self.flash_offset))

    @classmethod
    def decode(cls, body: bytes, *, path: str | None = None) -> SwapDescriptor:
        """Decode a ``Swap`` tag body. FormatError if it is shorter than 48 bytes (the
        loader reads 48 bytes whatever the tag's size says)."""
        if len(body) < SWAP_TAG_LEN:
            raise FormatError(f"a Swap tag body is {SWAP_TAG_LEN} bytes", path=path,
                              field="Swap size", value=len(body))
        offset, size = struct.unpack_from("<2I", body, 0)
        flash, = struct.unpack_from("<I", body, 44)
        return cls(offset, size, body[8:12], body[12:44], flash)

    @property
    def pages(self) -> int:
        """Pages of swap RAM the runtime tracks (``ram_size / 4096``)."""
        return self.ram_size // PAGE

    @property
    def usable(self) -> int:
        """Bytes of swap RAM left for pages once the 16-byte-per-page MAC area is taken."""
        return (self.ram_size & ~(PAGE - 1)) - align_up((self.ram_size // PAGE) * 16, PAGE)


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


def _tag(fourcc: bytes, body: bytes) -> bytes:
    words = len(body) // 4
    if words > TAG_WORDS_LIMIT:
        raise OverflowError_("tag is larger than 65535 words",
                             field=f"{fourcc.decode()} size_words", value=words)
    return fourcc + struct.pack("<2H", crc16_x25(body), words) + body


def inis_body(load_offset: int, prog: SwapProgram) -> bytes:
    """An IniS body. OverflowError_ for a section of 2^24 bytes or more."""
    out = [struct.pack("<2I", load_offset, prog.entry)]
    for virt, size, flags in prog.sections:
        if size >= SECTION_LIMIT:
            raise OverflowError_("section is too large for the 24-bit MiniELF size field",
                                 field=f"{prog.name} section {hexa(virt)} size", value=size)
        out.append(struct.pack("<2I", virt, (flags & 0xFF) << 24 | size))
    return b"".join(out)


def build_swap_args(ram_offset: int, ram_size: int, programs: Sequence[SwapProgram]) -> bytes:
    """The swap args block for a swap region and its ``--inis`` programs, byte for byte as
    create-image writes it (payload placement included; a tag block past 4096 bytes is
    not refused, as by the reference: :func:`decode_swap_args` warns about it)."""
    length = XARG_LEN + sum(16 + 8 * len(p.sections) for p in programs)
    running = align_up(length, PAGE)
    tags = []
    payloads = []
    for prog in programs:
        tags.append(_tag(b"IniS", inis_body(running, prog)))
        padded = prog.payload + bytes(align_up(len(prog.payload), PAGE) - len(prog.payload))
        payloads.append(padded)
        running += len(padded)
    xarg = _tag(b"XArg", struct.pack("<4I", length // 4, 1, ram_offset, ram_size) + SWAP_NAME)
    block = xarg + b"".join(tags)
    if not programs:
        return block
    return block + bytes(align_up(length, PAGE) - length) + b"".join(payloads)


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


def decode_swap_args(data: bytes, *, path: str | None = None,
                     first_pid: int | None = None) -> SwapArgs:
    """Decode a swap args block (the plaintext of a swap image, from its XArg on).

    Walks the tags as the loader does (up to ``arg_size_words``). What the loader would
    trip over (tags past page 0, unknown tags, CRC mismatches, payloads past the data)
    becomes a warning; FormatError only for bytes that cannot be walked (no XArg first,
    truncated tags, an IniS body under 8 bytes).
    """
    warnings: list[str] = []
    if len(data) < XARG_LEN or data[:4] != b"XArg":
        raise FormatError("swap args do not start with an XArg tag", path=path,
                          field="tag", value=data[:4])
    xsize = int.from_bytes(data[6:8], "little")
    if xsize < 5:
        raise FormatError("XArg tag too small", path=path, field="XArg size_words",
                          value=xsize)
    arg_size_words, version, ram_start, ram_size = struct.unpack_from("<4I", data, 8)
    ram_name = data[24:28].decode("ascii", errors="backslashreplace")
    if version != 1:
        warnings.append(f"XArg version is {version}, expected 1")
    if ram_name != "Swap":
        warnings.append(f"XArg RAM name is {ram_name!r}, create-image writes 'Swap'")
    block_len = arg_size_words * 4
    if block_len > len(data):
        raise FormatError("tag block is longer than the data", path=path,
                          field="arg_size_words", value=arg_size_words)
    if block_len > PAGE:
        warnings.append(f"the tag block is {block_len} bytes: the loader reads the swap "
                        "args from page 0 only (4096 bytes)")
    tags: list[TagInfo] = []
    programs: list[Program] = []
    for raw in scan_tags(data):
        if raw.offset >= block_len:
            break
        off, name, body = raw.offset, raw.text, raw.body
        if raw.truncated:
            raise FormatError(f"tag {name} runs past the end of the data", path=path,
                              field=f"{name} size_words", value=raw.size_words)
        if not raw.crc_ok:
            warnings.append(f"tag {len(tags)} {name} at 0x{off:x}: CRC FAIL (stored "
                            f"0x{raw.crc:04x}, computed 0x{raw.computed_crc:04x})")
        tags.append(TagInfo(len(tags), name, off, raw.size_words, raw.crc, raw.crc_ok))
        if name == "IniS":
            if len(body) < 8:
                raise FormatError("IniS body too small", path=path, field="IniS size_words",
                                  value=raw.size_words)
            if len(body) % 8:
                warnings.append(f"IniS at 0x{off:x} has a half section record")
            load, entry = struct.unpack_from("<2I", body, 0)
            secs = []
            for i in range(8, len(body) - 7, 8):
                virt, sf = struct.unpack_from("<2I", body, i)
                secs.append((virt, sf & 0x00FF_FFFF, sf >> 24))
            sections, payload = place_sections(load, secs)
            pid = 0 if first_pid is None else first_pid + len(programs)
            programs.append(Program("IniS", pid, "", load, entry, payload, sections))
            if load + payload > len(data):
                warnings.append(f"IniS at 0x{off:x}: payload 0x{load:x}+0x{payload:x} runs "
                                f"past the data (0x{len(data):x} bytes)")
            if load % PAGE:
                warnings.append(f"IniS at 0x{off:x}: payload 0x{load:x} is not page-aligned")
        elif off and name != "XArg":
            warnings.append(f"unhandled tag {name!r} at 0x{off:x} (the loader prints "
                            "'Unhandled argument in swap')")
    return SwapArgs(arg_size_words, ram_start, ram_size, ram_name, tuple(tags),
                    tuple(programs), len(data), tuple(warnings))

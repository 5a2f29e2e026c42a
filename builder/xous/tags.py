"""Xous tags: one type per tag kind, each with its body's encode, decode and describe.

A tag is a header (:mod:`bootproof.builder.xous.tagblock`) and a body of little-endian
u32 words. Every kind below documents its body and fields in its docstring and keeps
together:

* ``encode()``           the body bytes (the builder, :mod:`bootproof.builder.xous.image`);
* ``decode(body, ...)``  a body back into the type (``inspect``). What the loader would trip
                         over is kept as ``problems`` text; FormatError only for a body
                         that cannot be read at all;
* ``describe(draft)``    what the tag says, in the terms of the layout model: the
                         ``LayoutDraft`` it fills becomes the
                         :class:`~bootproof.builder.xous.layout.XousLayout` that ``inspect``
                         prints and the boot harness compares with the loader's report.

:data:`TAG_KINDS` maps a fourcc to its type. A new kind is one more class registered
with :func:`tag_kind`; the readers need no edit. ``Swap`` and ``IniS`` (spec addendum §1)
are such kinds: ``Swap`` sits in args.bin, ``IniS`` in the swap args block
(:mod:`bootproof.builder.xous.swap_args`). The program kinds (``IniE``, ``IniF``, ``IniS``)
are in :mod:`bootproof.builder.xous.program_tags` and registered here.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar, Self, TypeVar

from bootproof.builder.errors import FormatError, InputError
from bootproof.builder.layout import AddressRange, NamedRange
from bootproof.builder.xous.layout_parts import Kernel
from bootproof.builder.xous.program_tags import IniE, IniF, IniS
from bootproof.builder.xous.swap_space import SwapSpace
from bootproof.builder.xous.tagblock import (
    HEADER_LEN,
    U32,
    LayoutDraft,
    Tag,
    fourcc_bytes,
    fourcc_text,
    words,
)

_KINDS: dict[str, type[Tag]] = {}
#: Every tag kind by fourcc (read-only; filled by :func:`tag_kind` at import).
TAG_KINDS: Mapping[str, type[Tag]] = MappingProxyType(_KINDS)
T = TypeVar("T", bound=type[Tag])


def tag_kind(cls: T) -> T:
    """Class decorator: register a tag kind under its fourcc.

    Raises ValueError for a fourcc that is not 4 ASCII characters or is taken already.
    """
    fourcc = cls.fourcc
    if len(fourcc) != 4 or not fourcc.isascii():
        raise ValueError(f"tag kind {cls.__name__}: fourcc {fourcc!r} is not 4 ASCII characters")
    if fourcc in _KINDS:
        raise ValueError(f"tag kind {fourcc} is registered twice ({_KINDS[fourcc].__name__}, "
                         f"{cls.__name__})")
    _KINDS[fourcc] = cls
    return cls


@tag_kind
@dataclass(frozen=True)
class XArg(Tag):
    """``XArg``: the header, first tag of every args block (spec §1.3).

    Body, 5 words: ``arg_size_words`` (the whole tag block, every header included, in
    words; payloads excluded), ``version`` (1), main RAM start, size and fourcc name.
    Fields: ``arg_size_words``, ``ram`` (main RAM), ``version``.
    Describes the layout's ``arg_size_words`` and ``ram``.
    """

    fourcc: ClassVar[str] = "XArg"
    header: ClassVar[bool] = True
    LENGTH: ClassVar[int] = 20

    arg_size_words: int
    ram: NamedRange
    version: int = 1

    def encode(self) -> bytes:
        return (words(self.arg_size_words, self.version, self.ram.start, self.ram.size & U32)
                + fourcc_bytes(self.ram.name))

    @classmethod
    def decode(cls, body: bytes, *, offset: int, path: str | Path | None = None) -> Self:
        if len(body) < cls.LENGTH:
            raise FormatError("XArg tag too small", path=path, field="XArg size_words",
                              value=len(body) // 4)
        problems = []
        if len(body) != cls.LENGTH:
            problems.append(f"XArg has {len(body) // 4} words; the loader needs exactly 5")
        size_words, version, start, size = struct.unpack_from("<4I", body)
        if version != 1:
            problems.append(f"XArg version is {version}, expected 1")
        ram = NamedRange(fourcc_text(body[16:20]), AddressRange(start, size))
        return cls(size_words, ram, version, problems=tuple(problems))

    def describe(self, draft: LayoutDraft) -> None:
        draft.warnings.extend(self.problems)
        draft.arg_size_words = self.arg_size_words
        draft.ram = self.ram


@tag_kind
@dataclass(frozen=True)
class MREx(Tag):
    """``MREx``: the memory regions besides main RAM (spec §1.4).

    Body: 4 words per region and no count word: start, size (bytes), fourcc name, 0.
    Field: ``regions`` in record order (the loader's page trackers follow that order).
    Describes the layout's ``regions``; of several MREx tags the last one wins (as in the
    loader).
    """

    fourcc: ClassVar[str] = "MREx"
    RECORD: ClassVar[int] = 16

    regions: tuple[NamedRange, ...]

    def encode(self) -> bytes:
        return b"".join(words(r.start, r.size & U32) + fourcc_bytes(r.name) + words(0)
                        for r in self.regions)

    @classmethod
    def decode(cls, body: bytes, *, offset: int, path: str | Path | None = None) -> Self:
        problems: tuple[str, ...] = ()
        if len(body) % cls.RECORD:
            problems = (f"MREx at 0x{offset:x} is not a whole number of 16-byte records",)
        regions = tuple(
            NamedRange(fourcc_text(body[i + 8:i + 12]),
                       AddressRange(*struct.unpack_from("<2I", body, i)))
            for i in range(0, len(body) - cls.RECORD + 1, cls.RECORD))
        return cls(regions, problems=problems)

    def describe(self, draft: LayoutDraft) -> None:
        if draft.regions is not None:
            draft.warnings.append("several MREx tags: the loader uses the last one")
        draft.warnings.extend(self.problems)
        draft.regions = self.regions


@tag_kind
@dataclass(frozen=True)
class Bflg(Tag):
    """``Bflg``: boot flags, 1 word (spec §1.4).

    Bits: 0x1 NO_COPY, 0x2 ABSOLUTE (load offsets are addresses), 0x4 DEBUG (the loader
    lets the kernel read user memory). create-image writes DEBUG only, and only with
    ``--debug``. Field: ``flags``, None for an empty body.
    Describes the layout's ``debug`` (bit 0x4); the last Bflg wins.
    """

    fourcc: ClassVar[str] = "Bflg"
    DEBUG: ClassVar[int] = 0x4

    flags: int | None

    def encode(self) -> bytes:
        return b"" if self.flags is None else words(self.flags)

    @classmethod
    def decode(cls, body: bytes, *, offset: int, path: str | Path | None = None) -> Self:
        if len(body) < 4:
            return cls(None, problems=(f"Bflg at 0x{offset:x} is empty",))
        return cls(int.from_bytes(body[:4], "little"))

    def describe(self, draft: LayoutDraft) -> None:
        draft.warnings.extend(self.problems)
        if self.flags is not None:
            draft.debug = bool(self.flags & self.DEBUG)


# The program kinds live in program_tags, which knows no registry (no import circle); they
# register here, after Bflg as before, so TAG_KINDS holds every kind once this module is
# imported.
for _program_kind in (IniE, IniF, IniS):
    tag_kind(_program_kind)


@tag_kind
@dataclass(frozen=True)
class Swap(Tag):
    """``Swap``: the swap region (spec addendum §1.2; ``SwapDescriptor``), 12 words.

    Body: ``ram_offset``, ``ram_size`` (the whole swap RAM, MAC area included), name
    fourcc (``Swap``), ``key[32]`` (the swap image's key; create-image writes zeros),
    ``flash_offset`` (where a Precursor loader finds the swap image; create-image writes
    0x21200000 on every platform, the bao1x loader ignores it).
    Fields: ``region`` (name, ``ram_offset``, ``ram_size``), ``key``, ``flash_offset``.
    create-image places it right after XArg, before MREx. Describes the layout's ``swap``;
    of several Swap tags the last one wins (as in the loader).
    """

    fourcc: ClassVar[str] = "Swap"
    LENGTH: ClassVar[int] = 48
    KEY_LEN: ClassVar[int] = 32
    #: ``flash_offset`` create-image writes (a Precursor memory-mapped SPI flash address).
    FLASH_OFFSET: ClassVar[int] = 0x2120_0000

    region: NamedRange
    key: bytes = bytes(32)
    flash_offset: int = FLASH_OFFSET

    def encode(self) -> bytes:
        for field, value in (("ram_offset", self.region.start),
                             ("ram_size", self.region.size),
                             ("flash_offset", self.flash_offset)):
            if not 0 <= value <= U32:
                raise InputError("does not fit the 32-bit Swap tag field", field=field,
                                 value=value)
        if len(self.key) != self.KEY_LEN:
            raise InputError("the Swap tag's key is 32 bytes", field="Swap key",
                             value=len(self.key))
        return (words(self.region.start, self.region.size) + fourcc_bytes(self.region.name)
                + self.key + words(self.flash_offset))

    @classmethod
    def decode(cls, body: bytes, *, offset: int, path: str | Path | None = None) -> Self:
        if len(body) < cls.LENGTH:
            raise FormatError(f"a Swap tag body is {cls.LENGTH} bytes (the loader reads "
                              f"{cls.LENGTH} whatever the size says)", path=path,
                              field="Swap size_words", value=len(body) // 4)
        problems: tuple[str, ...] = ()
        if len(body) != cls.LENGTH:
            problems = (f"Swap at 0x{offset:x} has {len(body)} bytes; the loader reads the "
                        f"first {cls.LENGTH}",)
        start, size = struct.unpack_from("<2I", body)
        flash, = struct.unpack_from("<I", body, 44)
        region = NamedRange(fourcc_text(body[8:12]), AddressRange(start, size))
        return cls(region, body[12:44], flash, problems=problems)

    def describe(self, draft: LayoutDraft) -> None:
        if draft.swap is not None:
            draft.warnings.append("several Swap tags: the loader uses the last one")
        draft.warnings.extend(self.problems)
        draft.swap = SwapSpace(self.region, self.flash_offset, not any(self.key))


@tag_kind
@dataclass(frozen=True)
class XKrn(Tag):
    """``XKrn``: the kernel, exactly one (spec §1.4).

    Body, 7 words, the fields of :class:`~bootproof.builder.xous.layout.Kernel` in order:
    ``load_offset``, ``text_offset`` (VA), ``text_size``, ``data_offset`` (VA),
    ``data_size``, ``bss_size``, ``entrypoint``. The payload is the text then the data.
    Field: ``kernel``. Describes the layout's ``kernel``; a second XKrn is a warning (the
    loader stops on it) and the first one is kept.
    """

    fourcc: ClassVar[str] = "XKrn"
    LENGTH: ClassVar[int] = 28

    kernel: Kernel

    def encode(self) -> bytes:
        k = self.kernel
        return words(k.load_offset, k.text_offset, k.text_size, k.data_offset, k.data_size,
                      k.bss_size, k.entrypoint)

    @classmethod
    def decode(cls, body: bytes, *, offset: int, path: str | Path | None = None) -> Self:
        if len(body) < cls.LENGTH:
            raise FormatError("XKrn body too small", path=path, field="XKrn size_words",
                              value=len(body) // 4)
        problems: tuple[str, ...] = ()
        if len(body) != cls.LENGTH:
            problems = (f"XKrn has {len(body)} bytes; the loader needs exactly 28",)
        return cls(Kernel(*struct.unpack_from("<7I", body)), problems=problems)

    def describe(self, draft: LayoutDraft) -> None:
        draft.warnings.extend(self.problems)
        if draft.kernel is not None:
            draft.warnings.append("several XKrn tags: the loader stops (kernel appears twice)")
            return
        draft.kernel = self.kernel


@tag_kind
@dataclass(frozen=True)
class PNam(Tag):
    """``PNam``: process names (spec §1.4).

    Body: per process ``pid``, ``length``, ``length`` bytes of UTF-8, zeros to a 4-byte
    boundary. create-image writes PID 1 ``kernel``, then each program's file stem.
    Field: ``names``, (PID, name) pairs in body order.
    Describes the layout's ``names`` and its programs' names; of several PNam tags the
    first one wins.
    """

    fourcc: ClassVar[str] = "PNam"

    names: tuple[tuple[int, str], ...]

    def encode(self) -> bytes:
        out = []
        for pid, name in self.names:
            raw = name.encode("utf-8")
            out.append(words(pid, len(raw)) + raw + bytes(-len(raw) % 4))
        return b"".join(out)

    @classmethod
    def decode(cls, body: bytes, *, offset: int, path: str | Path | None = None) -> Self:
        names: list[tuple[int, str]] = []
        problems: tuple[str, ...] = ()
        i = 0
        while i + 8 <= len(body):
            pid, n = struct.unpack_from("<2I", body, i)
            if i + 8 + n > len(body):
                problems = (f"PNam record for PID {pid} runs past the tag",)
                break
            names.append((pid, body[i + 8:i + 8 + n].decode("utf-8", errors="replace")))
            i += 8 + n + (-n % 4)
        return cls(tuple(names), problems=problems)

    def describe(self, draft: LayoutDraft) -> None:
        if draft.names is not None:
            draft.warnings.append("several PNam tags: the first one wins")
            return
        draft.warnings.extend(self.problems)
        draft.names = dict(self.names)


def read_header(data: bytes, *, path: str | Path | None = None,
                what: str = "args") -> tuple[XArg, int]:
    """The XArg tag an args block (args.bin, swap args) starts with, and the tag block's
    length in bytes. FormatError (naming ``what``) when the data does not start with an
    XArg tag or is shorter than the tag block the XArg declares."""
    if len(data) < HEADER_LEN + XArg.LENGTH:
        raise FormatError(f"too short for an XArg tag ({what})", path=path, field="file_size",
                          value=len(data))
    if data[:4] != b"XArg":
        raise FormatError(f"does not start with an XArg tag ({what})", path=path, field="tag",
                          value=data[:4])
    xsize = int.from_bytes(data[6:8], "little")
    xarg = XArg.decode(data[HEADER_LEN:HEADER_LEN + 4 * xsize], offset=0, path=path)
    block_len = xarg.arg_size_words * 4
    if block_len > len(data):
        raise FormatError("tag block is longer than the data", path=path,
                          field="arg_size_words", value=xarg.arg_size_words)
    return xarg, block_len


def describe_all(tags: Iterable[Tag], draft: LayoutDraft | None = None) -> LayoutDraft:
    """``draft`` (a new one by default) after every tag of ``tags`` described itself."""
    draft = LayoutDraft() if draft is None else draft
    for tag in tags:
        tag.describe(draft)
    return draft

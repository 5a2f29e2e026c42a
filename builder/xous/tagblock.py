"""The tag block's frame: tag headers, the :class:`Tag` base type and the layout draft.

Every tag is an 8-byte header (fourcc, CRC-16/X-25 of the body, body length in 32-bit
words) and a body of little-endian u32 words (spec §1.1); :func:`encode_block` writes a
block of tags and :func:`read_block` walks one. The kinds themselves (XArg, MREx, ...)
live in :mod:`bootproof.builder.xous.tags`; each describes itself into a
:class:`LayoutDraft`, which becomes the layout model.
"""

from __future__ import annotations

import struct
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Self

from bootproof.builder.errors import FormatError, OverflowError_
from bootproof.builder.formats.crc16 import crc16_x25
from bootproof.builder.layout import NamedRange
from bootproof.builder.xous.layout import XousLayout
from bootproof.builder.xous.layout_parts import Kernel, Program, TagInfo
from bootproof.builder.xous.rawtags import scan_tags
from bootproof.builder.xous.swap_space import SwapSpace

HEADER_LEN = 8
TAG_WORDS_LIMIT = 0xFFFF
U32 = 0xFFFF_FFFF


def fourcc_bytes(name: str) -> bytes:
    """The 4 bytes stored for a fourcc name (UTF-8, truncated/space-padded to 4)."""
    return (name.encode("utf-8") + b"    ")[:4]


def fourcc_text(raw: bytes) -> str:
    """A stored fourcc as text (bytes that are not ASCII shown as ``\\xNN``)."""
    return raw.decode("ascii", errors="backslashreplace")


def words(*values: int) -> bytes:
    """``values`` as little-endian u32 words."""
    return struct.pack(f"<{len(values)}I", *values)


@dataclass
class LayoutDraft:
    """The layout model as the tags of one args block describe it, filled in tag order by
    :meth:`Tag.describe` and completed by :meth:`finish`.

    ``None`` means "no tag said so yet" (a later tag of the same kind may then warn).
    ``programs`` are numbered from PID 2 in tag order and named by :meth:`finish`;
    ``swap_programs`` (IniS) follow them, and go into ``swap`` with ``swap_args_size``
    (the swap args block's length, when it was read).
    """

    arg_size_words: int = 0
    ram: NamedRange | None = None
    regions: tuple[NamedRange, ...] | None = None
    debug: bool = False
    programs: list[Program] = field(default_factory=list)
    kernel: Kernel | None = None
    names: dict[int, str] | None = None
    warnings: list[str] = field(default_factory=list)
    swap: SwapSpace | None = None
    swap_programs: list[Program] = field(default_factory=list)
    swap_args_size: int | None = None

    def finish(self, *, layout: str, file_size: int, tags: tuple[TagInfo, ...],
               path: str | Path | None = None) -> XousLayout:
        """The finished layout; FormatError (naming ``path``) without an XArg or XKrn tag."""
        if self.ram is None:
            raise FormatError("no XArg tag", path=path, field="XArg", value=0)
        if self.kernel is None:
            raise FormatError("no XKrn tag (no kernel)", path=path, field="XKrn", value=0)
        warnings = list(self.warnings)
        if not self.programs:
            warnings.append("no IniE/IniF tag: the loader stops (no initial programs found)")
        names = self.names or {}
        swap = self.swap
        if self.swap_programs and swap is None:
            warnings.append("IniS programs but no Swap tag: the loader has no swap to page "
                            "them from")
        if swap is not None:
            first = 2 + len(self.programs)
            swap = SwapSpace(swap.region, swap.flash_offset, swap.key_zero,
                             self.swap_args_size,
                             tuple(_named(p, first + i, names)
                                   for i, p in enumerate(self.swap_programs)))
        return XousLayout(
            layout=layout,
            arg_size_words=self.arg_size_words,
            file_size=file_size,
            ram=self.ram,
            regions=self.regions or (),
            tags=tags,
            programs=tuple(_named(p, p.pid, names) for p in self.programs),
            kernel=self.kernel,
            debug=self.debug,
            names=dict(names),
            warnings=tuple(warnings),
            swap=swap,
        )


def _named(p: Program, pid: int, names: dict[int, str]) -> Program:
    return Program(p.kind, pid, names.get(pid, ""), p.load_offset, p.entrypoint,
                   p.payload_size, p.sections)


@dataclass(frozen=True)
class Tag(ABC):
    """One tag of an args block. ``problems``: what decoding found that the loader would
    trip over (text naming the tag's offset); not part of the body, not compared."""

    fourcc: ClassVar[str]
    #: A header tag starts an args block and appears once (a second one is only noted).
    header: ClassVar[bool] = False

    problems: tuple[str, ...] = field(default=(), compare=False, kw_only=True)

    @abstractmethod
    def encode(self) -> bytes:
        """The tag body (a multiple of 4 bytes, the 8-byte header excluded)."""

    @classmethod
    @abstractmethod
    def decode(cls, body: bytes, *, offset: int, path: str | Path | None = None) -> Self:
        """The tag a ``body`` read at byte ``offset`` holds; FormatError if unreadable."""

    @abstractmethod
    def describe(self, draft: LayoutDraft) -> None:
        """Add what this tag says (and its problems, as warnings) to ``draft``."""


def check_tag_words(tag: str, body_len: int, path: Path | str | None) -> None:
    """OverflowError_ if a tag body exceeds the u16 word count (65535 words)."""
    if body_len // 4 > TAG_WORDS_LIMIT:
        raise OverflowError_(f"tag {tag} is larger than 65535 words", path=path,
                             field=f"{tag} size_words", value=body_len // 4)


def encode_block(tags: Iterable[Tag]) -> tuple[bytes, tuple[TagInfo, ...]]:
    """The tag block (every tag's header and body, in order) and where each tag sits."""
    block = bytearray()
    infos: list[TagInfo] = []
    for index, tag in enumerate(tags):
        body = tag.encode()
        check_tag_words(tag.fourcc, len(body), None)
        crc = crc16_x25(body)
        infos.append(TagInfo(index, tag.fourcc, len(block), len(body) // 4, crc, True))
        block += fourcc_bytes(tag.fourcc) + struct.pack("<2H", crc, len(body) // 4) + body
    return bytes(block), tuple(infos)


def read_block(data: bytes, block_len: int, *, path: str | Path | None = None
               ) -> tuple[list[tuple[TagInfo, bytes]], list[str]]:
    """Walk the tag headers of ``data[:block_len]`` (with
    :func:`~bootproof.builder.xous.rawtags.scan_tags`): each tag with its body, and
    warnings (CRC mismatches, a tag running past the block). FormatError for a tag
    running past the end of ``data``."""
    frames: list[tuple[TagInfo, bytes]] = []
    warnings: list[str] = []
    for raw in scan_tags(data):
        if raw.offset >= block_len:
            break
        tag, off = raw.text, raw.offset
        if raw.truncated:
            if raw.header_cut:
                raise FormatError("truncated tag header", path=path, field="offset",
                                  value=off)
            raise FormatError(f"tag {tag} runs past the end of the file", path=path,
                              field=f"{tag} size_words", value=raw.size_words)
        if not raw.crc_ok:
            warnings.append(f"tag {len(frames)} {tag} at 0x{off:x}: CRC FAIL "
                            f"(stored 0x{raw.crc:04x}, computed 0x{raw.computed_crc:04x})")
        if raw.end > block_len:
            warnings.append(f"tag {tag} at 0x{off:x} runs past the end of the tag block")
        frames.append((TagInfo(len(frames), tag, off, raw.size_words, raw.crc, raw.crc_ok),
                       raw.body))
    return frames, warnings

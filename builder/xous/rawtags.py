"""Xous tag framing as stored: ``fourcc``, ``crc16`` (CRC-16/X-25 of the body), ``size``
in words, then the body. :func:`scan_tags` walks tags back to back from byte 0.

Shared by the readers that must see tags exactly as written, with no meaning attached
(``xous-read-tags`` compatibility, the swap args decoder); it raises nothing, a tag cut
short by the end of the data is marked ``truncated`` and ends the scan.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from bootproof.builder.formats.crc16 import crc16_x25


@dataclass(frozen=True)
class RawTag:
    """One tag as stored: header ``offset``, the 4 ``name`` bytes, the stored ``crc``,
    ``size_words`` from the header and the ``body`` bytes (fewer than ``4 * size_words``
    when the data ends inside the tag: ``truncated``). ``header_cut``: the data ends
    inside the 8-byte header (``crc`` and ``size_words`` are then 0, not read)."""

    offset: int
    name: bytes
    crc: int
    size_words: int
    body: bytes
    header_cut: bool = False

    @property
    def truncated(self) -> bool:
        return self.header_cut or len(self.body) < 4 * self.size_words

    @property
    def end(self) -> int:
        """Offset just past the tag as its header declares it."""
        return self.offset + 8 + 4 * self.size_words

    @property
    def text(self) -> str:
        """The fourcc as text (undecodable bytes escaped)."""
        return self.name.decode("ascii", errors="backslashreplace")

    @property
    def computed_crc(self) -> int:
        return crc16_x25(self.body)

    @property
    def crc_ok(self) -> bool:
        return self.computed_crc == self.crc


def scan_tags(data: bytes, start: int = 0) -> Iterator[RawTag]:
    """Tags back to back from ``start`` until the data ends (a tag cut short by the end is
    yielded, marked truncated, and ends the scan)."""
    off = start
    while off < len(data):
        if off + 8 > len(data):
            yield RawTag(off, data[off:off + 4], 0, 0, b"", header_cut=True)
            return
        size = int.from_bytes(data[off + 6:off + 8], "little")
        tag = RawTag(off, data[off:off + 4], int.from_bytes(data[off + 4:off + 6], "little"),
                     size, data[off + 8:off + 8 + 4 * size])
        yield tag
        if tag.truncated:
            return
        off = tag.end

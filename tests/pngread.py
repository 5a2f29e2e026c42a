"""A small PNG reader for the tests that rasterise pictures: 8-bit RGB or RGBA,
non-interlaced (what ``rsvg-convert`` writes), decoded with zlib and struct only."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Png:
    width: int
    height: int
    channels: int
    rows: tuple[bytes, ...]

    def rgb(self, x: float, y: float) -> tuple[int, int, int]:
        """The colour of the pixel that holds point ``(x, y)``."""
        px, py = int(x), int(y)
        assert 0 <= px < self.width and 0 <= py < self.height, (x, y)
        row = self.rows[py]
        at = px * self.channels
        return row[at], row[at + 1], row[at + 2]


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_png(path: Path) -> Png:
    data = path.read_bytes()
    assert data[:8] == SIGNATURE, f"{path}: not a PNG"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, (depth, colour)
            channels = 4 if colour == 6 else 3
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind_byte, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = prev[i]
            corner = prev[i - channels] if i >= channels else 0
            add = (0, left, up, (left + up) // 2, _paeth(left, up, corner))[kind_byte]
            line[i] = (line[i] + add) & 0xFF
        rows.append(bytes(line))
        prev = line
    return Png(width, height, channels, tuple(rows))

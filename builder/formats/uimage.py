"""Legacy U-Boot images (``mkimage -T script|kernel``): the 64-byte header and its CRCs.

Header (all fields big-endian)::

    0  magic 0x27051956   4  header CRC32 (computed with this field zero)
    8  timestamp          12 data size         16 load address   20 entry point
    24 data CRC32         28 os  29 arch  30 type  31 compression  32 name[32]

A *script* image is a multi-file image with one file: the data is a table of big-endian
u32 lengths ended by a zero word, then the script text (unpadded, as mkimage writes it).
The caller passes the timestamp (``bootproof.builder.reproducible.source_date_epoch``, as mkimage
reads ``SOURCE_DATE_EPOCH``), so outputs are reproducible.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from bootproof.builder.errors import FormatError, InputError

MAGIC = 0x27051956
HEADER = struct.Struct(">IIIIIIIBBBB32s")
OS_LINUX = 5
ARCH_ARM = 2
ARCH_ARM64 = 22
TYPE_KERNEL = 2
TYPE_SCRIPT = 6
COMP_NONE = 0


@dataclass(frozen=True)
class UImage:
    """A decoded legacy image (CRCs already verified)."""

    timestamp: int
    load: int
    entry: int
    os: int
    arch: int
    type: int
    compression: int
    name: str
    data: bytes


def encode(
    data: bytes, *, load: int, entry: int, image_type: int, arch: int = ARCH_ARM64,
    os_id: int = OS_LINUX, compression: int = COMP_NONE, name: str = "", timestamp: int,
) -> bytes:
    """Wrap ``data`` in a legacy header. Raises :class:`InputError` for values that do not
    fit their 32-bit fields or a name longer than 31 bytes."""
    for field, value in (("load", load), ("entry", entry), ("timestamp", timestamp)):
        if not 0 <= value <= 0xFFFFFFFF:
            raise InputError("does not fit the 32-bit uImage header field", field=field,
                             value=value)
    raw_name = name.encode()
    if len(raw_name) > 31:
        raise InputError("uImage names are at most 31 bytes", field="name", value=name)
    dcrc = zlib.crc32(data)

    def pack(hcrc: int) -> bytes:
        return HEADER.pack(MAGIC, hcrc, timestamp, len(data), load, entry, dcrc, os_id, arch,
                           image_type, compression, raw_name)

    return pack(zlib.crc32(pack(0))) + data


def script_image(source: bytes, *, addr: int, timestamp: int, arch: int = ARCH_ARM64) -> bytes:
    """The bytes ``mkimage -A arm64 -T script -C none -a ADDR -e ADDR -d SOURCE`` writes."""
    payload = struct.pack(">II", len(source), 0) + source
    return encode(payload, load=addr, entry=addr, image_type=TYPE_SCRIPT, arch=arch,
                  timestamp=timestamp)


def decode(blob: bytes, *, path: str | None = None) -> UImage:
    """Decode and verify a legacy image. Raises :class:`FormatError` for a bad magic,
    a truncated file or a CRC mismatch."""
    if len(blob) < HEADER.size:
        raise FormatError("shorter than a uImage header", path=path, value=len(blob))
    (magic, hcrc, ts, size, load, entry, dcrc, os_id, arch, itype, comp,
     name) = HEADER.unpack_from(blob)
    if magic != MAGIC:
        raise FormatError("not a uImage (bad magic)", path=path, field="magic", value=magic)
    zeroed = blob[:4] + b"\0\0\0\0" + blob[8:HEADER.size]
    if zlib.crc32(zeroed) != hcrc:
        raise FormatError("header CRC mismatch", path=path, field="hcrc", value=hcrc)
    data = blob[HEADER.size : HEADER.size + size]
    if len(data) != size:
        raise FormatError("data truncated", path=path, field="size", value=size)
    if zlib.crc32(data) != dcrc:
        raise FormatError("data CRC mismatch", path=path, field="dcrc", value=dcrc)
    return UImage(ts, load, entry, os_id, arch, itype, comp,
                  name.rstrip(b"\0").decode(errors="replace"), data)


def script_source(blob: bytes, *, path: str | None = None) -> bytes:
    """The script text of a script uImage (the first file of its multi-file table)."""
    img = decode(blob, path=path)
    if img.type != TYPE_SCRIPT:
        raise FormatError("not a script image", path=path, field="type", value=img.type)
    lengths = []
    off = 0
    while True:
        if off + 4 > len(img.data):
            raise FormatError("unterminated multi-file table", path=path)
        (n,) = struct.unpack_from(">I", img.data, off)
        off += 4
        if n == 0:
            break
        lengths.append(n)
    if not lengths or off + lengths[0] > len(img.data):
        raise FormatError("script length runs past the data", path=path)
    return img.data[off : off + lengths[0]]


def is_uimage(head: bytes) -> bool:
    """True when ``head`` (a file's first bytes) starts with the legacy image magic."""
    return head[:4] == MAGIC.to_bytes(4, "big")

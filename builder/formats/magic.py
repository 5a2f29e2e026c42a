"""What a stream holds, from its first bytes: the one place archive and compression magic is read.

:func:`sniff` looks at the head of a file (at least :data:`SNIFF_BYTES` bytes, or all of a
shorter file) and names a compression (gzip, bzip2, xz, zstd, and lz4 or legacy lzma only
to say they are not read) or an archive (cpio newc, the older cpio formats, tar). The file
name plays no part: build systems name their outputs as they like, and a misnamed file
must still be read for what it is.

tar is recognised by the ``ustar`` magic of POSIX and GNU headers, and for the old V7
format (no magic) by a header whose checksum is right.
"""

from __future__ import annotations

import enum

from bootproof.builder.formats import cpio

SNIFF_BYTES = 512


class Magic(enum.Enum):
    """What :func:`sniff` found; the value is the name used in messages."""

    GZIP = "gzip"
    BZIP2 = "bzip2"
    XZ = "xz"
    ZSTD = "zstd"
    LZ4 = "lz4"
    LZMA = "lzma"
    CPIO_NEWC = "cpio (newc)"
    CPIO_ODC = "cpio (odc)"
    CPIO_BIN = "cpio (old binary)"
    TAR = "tar"
    UNKNOWN = "unknown"


COMPRESSIONS = frozenset({Magic.GZIP, Magic.BZIP2, Magic.XZ, Magic.ZSTD, Magic.LZ4,
                          Magic.LZMA})


def _tar_checksum_ok(block: bytes) -> bool:
    """True when ``block`` is a tar header whose checksum field matches its bytes."""
    if len(block) < 512 or not any(block[:100]):
        return False
    field = block[148:156].split(b"\0", 1)[0].strip()
    try:
        stored = int(field, 8)
    except ValueError:
        return False
    return stored == sum(block[:148]) + 8 * 0x20 + sum(block[156:512])


def sniff(head: bytes) -> Magic:
    """The compression or archive format that ``head`` (a file's first bytes) starts."""
    if head[:2] == b"\x1f\x8b":
        return Magic.GZIP
    if head[:3] == b"BZh" and head[3:4].isdigit() and head[3:4] != b"0":
        return Magic.BZIP2
    if head[:6] == b"\xfd7zXZ\0":
        return Magic.XZ
    if head[:4] == b"\x28\xb5\x2f\xfd" or (head[1:4] == b"\x2a\x4d\x18"
                                          and head[0] & 0xF0 == 0x50):
        return Magic.ZSTD  # a frame, or a skippable frame 0x184D2A5?
    if head[:4] in (b"\x04\x22\x4d\x18", b"\x02\x21\x4c\x18"):
        return Magic.LZ4
    if head[:3] == b"\x5d\0\0":
        return Magic.LZMA
    if head[:6] in (cpio.MAGIC_NEWC, cpio.MAGIC_CRC):
        return Magic.CPIO_NEWC
    if head[:6] == cpio.MAGIC_ODC:
        return Magic.CPIO_ODC
    if cpio.is_cpio(head):
        return Magic.CPIO_BIN
    if head[257:262] == b"ustar" or _tar_checksum_ok(head[:512]):
        return Magic.TAR
    return Magic.UNKNOWN

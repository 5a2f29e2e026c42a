"""UF2 (Microsoft's USB flashing format): 512-byte blocks of 256 payload bytes each.

A pure byte format with no Xous policy, hence ``builder/formats``; the caller gives the
base address and the family ID (Xous/bao1x: family ``0xA7D76373``, bases per image kind
in :mod:`bootproof.builder.xous.signed_bao1x` and :mod:`bootproof.builder.xous.swap_image`).

Block (all little-endian u32)::

    0 magic 0x0A324655   4 magic 0x9E5D5157   8 flags (0x2000 = family ID present)
    12 target address    16 payload size (256) 20 block number   24 total blocks
    28 family ID         32 payload[256], then zeros to 508        508 magic 0x0AB16F30

The data is cut into 256-byte chunks, the last one zero-padded; chunk ``k`` goes to
``base + 256 k``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from bootproof.builder.errors import FormatError, InputError

BLOCK = 512
PAYLOAD = 256
MAGIC0 = 0x0A324655
MAGIC1 = 0x9E5D5157
MAGIC_END = 0x0AB16F30
FLAG_FAMILY_ID = 0x00002000
_HEAD = struct.Struct("<8I")


def encode(data: bytes, *, base: int, family: int) -> bytes:
    """Wrap ``data`` in UF2 blocks targeting ``base``. InputError if an address or the
    family ID does not fit 32 bits."""
    nblocks = -(-len(data) // PAYLOAD)
    if not 0 <= family <= 0xFFFF_FFFF:
        raise InputError("the UF2 family ID is a 32-bit value", field="family", value=family)
    if base < 0 or base + PAYLOAD * max(nblocks - 1, 0) > 0xFFFF_FFFF:
        raise InputError("the UF2 blocks run past the 32-bit address space", field="base",
                         value=base)
    out = bytearray()
    tail = bytes(BLOCK - 32 - PAYLOAD - 4)
    end = MAGIC_END.to_bytes(4, "little")
    for k in range(nblocks):
        chunk = data[k * PAYLOAD:(k + 1) * PAYLOAD]
        out += _HEAD.pack(MAGIC0, MAGIC1, FLAG_FAMILY_ID, base + PAYLOAD * k, PAYLOAD, k,
                          nblocks, family)
        out += chunk + bytes(PAYLOAD - len(chunk)) + tail + end
    return bytes(out)


@dataclass(frozen=True)
class Uf2Image:
    """A decoded UF2 file: the address of its first block, the family ID, and the
    payload bytes laid out from that address (gaps between blocks zero-filled)."""

    base: int
    family: int | None
    blocks: int
    data: bytes


def decode(raw: bytes, *, path: str | None = None) -> Uf2Image:
    """Decode a UF2 file. FormatError (block named) for a bad size, magic, payload size,
    block numbering or a block below the first address."""
    if not raw or len(raw) % BLOCK:
        raise FormatError("a UF2 file is a whole number of 512-byte blocks", path=path,
                          field="file_size", value=len(raw))
    nblocks = len(raw) // BLOCK
    placed: list[tuple[int, bytes]] = []
    family: int | None = None
    for k in range(nblocks):
        off = k * BLOCK
        m0, m1, flags, addr, size, number, total, fam = _HEAD.unpack_from(raw, off)
        end = int.from_bytes(raw[off + BLOCK - 4:off + BLOCK], "little")
        if (m0, m1, end) != (MAGIC0, MAGIC1, MAGIC_END):
            raise FormatError("bad UF2 block magic", path=path, field=f"block {k} magic",
                              value=off)
        if not 0 < size <= 476:
            raise FormatError("bad UF2 payload size", path=path,
                              field=f"block {k} payload size", value=size)
        if number != k or total != nblocks:
            raise FormatError(f"block {number} of {total} found as block {k} of {nblocks}",
                              path=path, field=f"block {k} number", value=number)
        if flags & FLAG_FAMILY_ID:
            family = fam
        placed.append((addr, raw[off + 32:off + 32 + size]))
    base = placed[0][0]
    out = bytearray()
    for k, (addr, chunk) in enumerate(placed):
        rel = addr - base
        if rel < 0 or rel > 1 << 30:
            raise FormatError("block address is below the first block or far above it",
                              path=path, field=f"block {k} address", value=addr)
        if rel > len(out):
            out += bytes(rel - len(out))
        out[rel:rel + len(chunk)] = chunk
    return Uf2Image(base, family, nblocks, bytes(out))

"""The words both signed Xous formats are made of: the RISC-V jump and 32-bit fields.

A Precursor image made ``--with-jump`` and every bao1x block start with ``jal x0, +N``
(the CPU jumps over the signature to the payload); every length, version and code in
either header is a little-endian u32.
"""

from __future__ import annotations

import struct

from bootproof.builder.errors import InputError, OverflowError_

_U32 = struct.Struct("<I")


def jal(offset: int) -> int:
    """The RISC-V ``jal x0, offset`` instruction word. InputError for an odd offset or
    one outside +-1 MiB."""
    if offset % 2 or not -(1 << 20) <= offset < 1 << 20:
        raise InputError("a jal offset is even and within +-1 MiB", field="jump offset",
                         value=offset)
    imm = offset & 0x1F_FFFF
    return (((imm >> 20) & 1) << 31 | ((imm >> 1) & 0x3FF) << 21 | ((imm >> 11) & 1) << 20
            | ((imm >> 12) & 0xFF) << 12 | 0x6F)


def jal_target(word: int) -> int | None:
    """The offset of a ``jal x0, offset`` word, or None if ``word`` is not one."""
    if word & 0xFFF != 0x06F:
        return None
    imm = (((word >> 31) & 1) << 20 | ((word >> 12) & 0xFF) << 12
           | ((word >> 20) & 1) << 11 | ((word >> 21) & 0x3FF) << 1)
    return imm - (1 << 21) if imm & (1 << 20) else imm


def u32_at(data: bytes, off: int) -> int:
    """The little-endian u32 at ``off`` (struct.error past the end)."""
    return int(_U32.unpack_from(data, off)[0])


def check_u32(name: str, value: int) -> None:
    """OverflowError_ naming field ``name`` unless ``value`` fits 32 unsigned bits."""
    if not 0 <= value <= 0xFFFF_FFFF:
        raise OverflowError_("does not fit its 32-bit field", field=name, value=value)

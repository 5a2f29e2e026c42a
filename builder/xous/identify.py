"""Tell what kind of Xous file a byte string is, from its first bytes (no full parse).

Kinds, in the order they are tried:

* ``uf2``                   UF2 blocks (``swap.uf2``, ``xous.uf2`` ...);
* ``bao1x``                 a bao1x signature block at 0 (kernel, loader, app ...);
* ``swap-encrypted``        swap header + bao1x block at 0xD00 (``swap.img``);
* ``swap-debug``            swap header, no block, ``XArg`` at 0x1000 (``swap-debug.img``);
* ``swap-encrypted-unsigned`` swap header, no block, no plaintext (2024-04 to 2025-10);
* ``precursor-v1`` / ``precursor-v2``  ``loader.bin`` / ``xous.img``;
* ``swap-args``             an ``XArg`` whose RAM name is ``Swap`` (a decrypted block);
* ``args``                  an ``XArg`` tag at 0 (args.bin);
* ``unknown``               anything else.

The parsers (:mod:`~bootproof.builder.xous.signed_precursor`,
:mod:`~bootproof.builder.xous.signed_bao1x`,
:mod:`~bootproof.builder.xous.swap_image`, :mod:`~bootproof.builder.xous.swap_args`)
then decode and validate; a kind named here can still fail to parse.
"""

from __future__ import annotations

from bootproof.builder.formats import uf2
from bootproof.builder.xous import signed_bao1x, signed_fields, signed_precursor, swap_image

_UF2_MAGIC = uf2.MAGIC0.to_bytes(4, "little") + uf2.MAGIC1.to_bytes(4, "little")

KINDS = (
    "uf2", "bao1x", "swap-encrypted", "swap-debug", "swap-encrypted-unsigned",
    "precursor-v1", "precursor-v2", "swap-args", "args", "unknown",
)


def identify(data: bytes) -> str:
    """One of :data:`KINDS` for ``data``."""
    if len(data) >= uf2.BLOCK and data[:8] == _UF2_MAGIC:
        return "uf2"
    if signed_bao1x.is_bao1x(data):
        return "bao1x"
    if swap_image.looks_like_swap_image(data):
        if signed_bao1x.is_bao1x(data, swap_image.SIG_OFFSET):
            return "swap-encrypted"
        start = swap_image.DATA_OFFSET
        if not any(data[swap_image.SIG_OFFSET:start]) and data[start:start + 4] == b"XArg":
            return "swap-debug"
        return "swap-encrypted-unsigned"
    if len(data) >= 8:
        word0 = int.from_bytes(data[:4], "little")
        target = signed_fields.jal_target(word0)
        version = int.from_bytes(data[4:8], "little") if target is not None else word0
        if version in (signed_precursor.PRECURSOR_LOADER, signed_precursor.PRECURSOR_KERNEL):
            return f"precursor-v{version}"
    if data[:4] == b"XArg":
        return "swap-args" if data[24:28] == b"Swap" else "args"
    return "unknown"

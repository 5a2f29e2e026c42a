"""bao1x v1 signed images: the 768-byte signature block (spec addendum §3).

The block sits in front of the payload ``S`` (also at 0xD00 of a swap image)::

    0 jal x0, +768   4 signature[64]   68 aad_len u32   72 aad[60]
    132 version 0x100   136 magic "ymuy3oaB"   144 signed_len = len(S) + 636
    148 function code   152 anti-rollback   156 min version[16]   172 version[16]
    188 4 x {public key[32], tag[4]}   332 toolchain[20]   352 zeros to 768, then S

The signed region is ``[132, 768 + len(S))``: Ed25519ph of it when ``aad_len`` is 0,
else (FIDO2) pure Ed25519 of ``aad[:aad_len] || SHA-256(SHA-512(region))``. Also here:
the function codes the signer writes and the UF2 address of each function's image.
Verification and the inner image are in :mod:`bootproof.builder.xous.signed`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bootproof.builder import ed25519
from bootproof.builder.errors import FormatError, InputError, OverflowError_
from bootproof.builder.formats import uf2
from bootproof.builder.xous.keys import BAO1X_PUBKEY_SLOTS, known_key
from bootproof.builder.xous.semver import SemVer
from bootproof.builder.xous.signed_fields import check_u32, jal, u32_at

SIGBLOCK_LEN = 768
UNSIGNED_LEN = 132
BAO1X_VERSION = 0x100
BAO1X_MAGIC = struct.pack("<2I", 0x79756D79, 0x42616F33)
AAD_MAX = 60
#: Size of the sealed fields (version ... toolchain) in the in-tree struct; ``--defile``
#: flips bit 0 of byte ``SEALED_FIELDS_LEN + 16`` of the protected region. A tool built
#: against bao1x-api 0.1.0 (no ``toolchain`` field) uses 200, i.e. byte 216: both bytes
#: are in the zero padding, so either way the image fails verification.
SEALED_FIELDS_LEN = 220
#: A bao1x kernel image larger than this does not fit the RRAM (``Image doesn't fit``).
BAO1X_KERNEL_LIMIT = 0x33A300

#: bao1x function codes written by the signer; verifiers also accept code + 1 ("updated").
FUNCTION_CODES: dict[str, int] = {
    "boot0": 1, "boot1": 2, "loader": 4, "baremetal": 6, "kernel": 0x100, "swap": 0x8000,
    "app": 0x10_0000,
}
#: UF2 target address of each function's image (bao1x memory map).
UF2_BASES: dict[str, int] = {
    "boot0": 0x6000_0000, "boot1": 0x6002_0000, "loader": 0x6006_0000,
    "baremetal": 0x6006_0000, "kernel": 0x6009_FD00, "app": 0x602F_FD00, "swap": 0x7000_0000,
}
UF2_FAMILY = 0xA7D76373


def function_name(code: int) -> str | None:
    """The signer's name for a function code (``updated-`` + name for code + 1)."""
    for name, value in FUNCTION_CODES.items():
        if code == value:
            return name
        if code == value + 1 and name != "boot0":
            return f"updated-{name}"
    return None


def function_code(name: str) -> int:
    """The code for a ``--function-code`` name; InputError listing the valid names."""
    try:
        return FUNCTION_CODES[name]
    except KeyError:
        raise InputError(f"unknown function code (one of {', '.join(FUNCTION_CODES)})",
                         field="--function-code", value=name) from None


@dataclass(frozen=True)
class PubkeySlot:
    """One bao1x public-key slot: a 4-byte tag (``bao1``...; all-zero = unused) and a key."""

    tag: bytes
    public: bytes

    @property
    def name(self) -> str:
        key = known_key(self.public)
        label = self.tag.decode("ascii", errors="backslashreplace")
        return label if key is None else f"{label} ({key.name})"

    def to_json(self) -> dict[str, Any]:
        key = known_key(self.public)
        return {"tag": self.tag.decode("ascii", errors="backslashreplace"),
                "public_key": self.public.hex(), "known_as": None if key is None else key.name}


@dataclass(frozen=True)
class Bao1xSignature:
    """A bao1x v1 signature block at file offset ``offset`` (0, or 0xD00 in a swap image)."""

    offset: int
    jump: int
    signature: bytes
    aad_len: int
    aad: bytes
    version: int
    magic: bytes
    signed_len: int
    function_code: int
    anti_rollback: int
    min_version: SemVer
    semver: SemVer
    pubkeys: tuple[PubkeySlot, ...]
    toolchain: bytes
    padding_zero: bool
    file_size: int
    warnings: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return "bao1x"

    @property
    def algorithm(self) -> str:
        return "Ed25519ph" if self.aad_len == 0 else "Ed25519 (FIDO2)"

    @property
    def function(self) -> str | None:
        return function_name(self.function_code)

    @property
    def signed_offset(self) -> int:
        return self.offset + UNSIGNED_LEN

    @property
    def payload_offset(self) -> int:
        return self.offset + SIGBLOCK_LEN

    @property
    def payload_len(self) -> int:
        return self.signed_len - (SIGBLOCK_LEN - UNSIGNED_LEN)

    def to_json(self) -> dict[str, Any]:
        """The documented JSON form (``inspect --json``); bytes as hex, versions as text."""
        return {
            "kind": self.kind, "algorithm": self.algorithm, "offset": self.offset,
            "jump": self.jump, "signature": self.signature.hex(), "aad_len": self.aad_len,
            "aad": self.aad[:min(self.aad_len, AAD_MAX)].hex(), "version": self.version,
            "magic": self.magic.decode("ascii", errors="backslashreplace"),
            "signed_offset": self.signed_offset, "signed_len": self.signed_len,
            "function_code": self.function_code, "function": self.function,
            "anti_rollback": self.anti_rollback, "min_version": str(self.min_version),
            "semver": str(self.semver), "pubkeys": [k.to_json() for k in self.pubkeys],
            "toolchain": self.toolchain.hex(), "padding_zero": self.padding_zero,
            "payload_offset": self.payload_offset, "payload_len": self.payload_len,
            "file_size": self.file_size, "warnings": list(self.warnings),
        }


def is_bao1x(data: bytes, offset: int = 0) -> bool:
    """Whether a bao1x block (its magic) sits at ``offset``."""
    return data[offset + 136:offset + 144] == BAO1X_MAGIC


def parse_bao1x(data: bytes, *, offset: int = 0, path: str | None = None) -> Bao1xSignature:
    """Parse the bao1x block at ``offset``. FormatError for a missing magic, a signed
    length below the block's own 636 bytes, or a truncated signed region."""
    warnings: list[str] = []
    if len(data) < offset + SIGBLOCK_LEN:
        raise FormatError(f"truncated: a bao1x signature block is {SIGBLOCK_LEN} bytes",
                          path=path, field="file_size", value=len(data))
    if not is_bao1x(data, offset):
        raise FormatError("no bao1x magic ('ymuy3oaB') in the signature block", path=path,
                          field=f"magic at 0x{offset + 136:x}",
                          value=data[offset + 136:offset + 144])
    b = offset
    jump = u32_at(data, b)
    aad_len = u32_at(data, b + 68)
    (version, signed_len, code, anti_rollback) = struct.unpack_from("<I8x3I", data, b + 132)
    if jump != jal(SIGBLOCK_LEN):
        warnings.append(f"first word 0x{jump:08x} is not 'jal x0, +768' (0x{jal(768):08x})")
    if version != BAO1X_VERSION:
        warnings.append(f"version 0x{version:x}: verifiers require 0x{BAO1X_VERSION:x}")
    if aad_len > AAD_MAX:
        warnings.append(f"aad_len {aad_len} exceeds the {AAD_MAX}-byte AAD field: the "
                        "signature cannot be checked")
    if function_name(code) is None:
        warnings.append(f"unknown function code 0x{code:x}")
    min_signed = SIGBLOCK_LEN - UNSIGNED_LEN
    if signed_len < min_signed:
        raise FormatError(f"signed length is shorter than the block's own {min_signed} bytes",
                          path=path, field="signed_len", value=signed_len)
    end = b + UNSIGNED_LEN + signed_len
    if end > len(data):
        raise FormatError(f"truncated: the signed region ends at 0x{end:x}, past the end "
                          f"of the file (0x{len(data):x})", path=path, field="signed_len",
                          value=signed_len)
    if end < len(data):
        warnings.append(f"{len(data) - end} bytes after the signed region (not signed)")
    padding_zero = not any(data[b + 352:b + SIGBLOCK_LEN])
    if not padding_zero:
        warnings.append("the signature block's padding is not zero (an image made with "
                        "--defile?)")
    slots = tuple(PubkeySlot(data[b + 188 + 36 * i + 32:b + 188 + 36 * i + 36],
                             data[b + 188 + 36 * i:b + 188 + 36 * i + 32]) for i in range(4))
    return Bao1xSignature(
        offset=b,
        jump=jump,
        signature=data[b + 4:b + 68],
        aad_len=aad_len,
        aad=data[b + 72:b + 132],
        version=version,
        magic=data[b + 136:b + 144],
        signed_len=signed_len,
        function_code=code,
        anti_rollback=anti_rollback,
        min_version=SemVer.decode(data[b + 156:b + 172], field="min_version"),
        semver=SemVer.decode(data[b + 172:b + 188]),
        pubkeys=slots,
        toolchain=data[b + 332:b + 352],
        padding_zero=padding_zero,
        file_size=len(data),
        warnings=tuple(warnings),
    )


def bao1x_block_fields(*, signed_len: int, function: int, anti_rollback: int,
                       min_version: SemVer, semver: SemVer,
                       pubkeys: Sequence[tuple[bytes, bytes]]) -> bytes:
    """Bytes 132..768 of a bao1x block (sealed fields and padding): the part of the block
    the signature covers. InputError for slots that are not 4 x (4-byte tag, 32-byte key)."""
    if len(pubkeys) != 4 or any(len(t) != 4 or len(k) != 32 for t, k in pubkeys):
        raise InputError("a bao1x block has 4 public-key slots of (4-byte tag, 32-byte key)",
                         field="pubkeys", value=len(pubkeys))
    for name, value in (("signed_len", signed_len), ("function_code", function),
                        ("anti_rollback", anti_rollback)):
        check_u32(name, value)
    sealed = (struct.pack("<I", BAO1X_VERSION) + BAO1X_MAGIC
              + struct.pack("<3I", signed_len, function, anti_rollback)
              + min_version.encode() + semver.encode()
              + b"".join(key + tag for tag, key in pubkeys) + bytes(20))
    return sealed + bytes(SIGBLOCK_LEN - UNSIGNED_LEN - len(sealed))


def bao1x_block(payload: Sequence[bytes], seed: bytes, *, function: int, anti_rollback: int,
                min_version: SemVer, semver: SemVer,
                pubkeys: Sequence[tuple[bytes, bytes]] = BAO1X_PUBKEY_SLOTS,
                defile: bool = False) -> bytes:
    """The 768-byte bao1x v1 block (Ed25519ph, empty AAD) for the payload made of the
    ``payload`` parts in order (so a caller need not join a large payload first).

    ``defile`` flips bit 0 of byte ``SEALED_FIELDS_LEN + 16`` of the signed region after
    signing. Raises OverflowError_ for a kernel image over the RRAM limit (0x33A300
    bytes, block included) or a field over 32 bits, InputError for bad key slots.
    """
    size = sum(len(part) for part in payload)
    fields = bao1x_block_fields(signed_len=size + SIGBLOCK_LEN - UNSIGNED_LEN,
                                function=function, anti_rollback=anti_rollback,
                                min_version=min_version, semver=semver, pubkeys=pubkeys)
    if function == FUNCTION_CODES["kernel"] and SIGBLOCK_LEN + size > BAO1X_KERNEL_LIMIT:
        raise OverflowError_(f"the signed kernel image does not fit the RRAM "
                             f"(limit 0x{BAO1X_KERNEL_LIMIT:x} bytes)", field="image size",
                             value=SIGBLOCK_LEN + size)
    signature = ed25519.sign_prehashed(seed, ed25519.Prehash.of_parts((fields, *payload)))
    head = jal(SIGBLOCK_LEN).to_bytes(4, "little") + signature + bytes(4 + AAD_MAX)
    if defile:
        fields_b = bytearray(fields)
        fields_b[SEALED_FIELDS_LEN + 16] ^= 0x01
        fields = bytes(fields_b)
    return head + fields


def sign_bao1x(payload: bytes, seed: bytes, *, function: int, anti_rollback: int,
               min_version: SemVer, semver: SemVer,
               pubkeys: Sequence[tuple[bytes, bytes]] = BAO1X_PUBKEY_SLOTS,
               defile: bool = False) -> bytes:
    """``block || payload``: :func:`bao1x_block` followed by the payload."""
    return bao1x_block((payload,), seed, function=function, anti_rollback=anti_rollback,
                       min_version=min_version, semver=semver, pubkeys=pubkeys,
                       defile=defile) + payload


def uf2_for(signed: bytes, function: str) -> bytes:
    """The UF2 of a bao1x signed image, at the base address of ``function``."""
    if function not in UF2_BASES:
        raise InputError(f"no UF2 address for this function (one of {', '.join(UF2_BASES)})",
                         field="--function-code", value=function)
    return uf2.encode(signed, base=UF2_BASES[function], family=UF2_FAMILY)

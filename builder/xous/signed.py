"""Signed Xous images: parse, verify, sign (``xous-sign-image``), and strip to the inner image.

Three formats (spec addendum §3). This is Xous policy (function codes, the public-key
slots, the loader's rules), so it lives in ``builder/xous``; the generic pieces are
:mod:`bootproof.builder.ed25519` and :mod:`bootproof.builder.formats.uf2`.

**Precursor v1** (``loader.bin``, pure Ed25519) and **v2** (``xous.img``, Ed25519ph).
``S`` is the input file, ``Lh`` the header length (4096 unless made ``--sig-length``),
``J`` 4 when the header starts with a jump (``--with-jump``), else 0::

    0       [jal x0, +Lh]                    only with --with-jump
    J+0     version u32 (1 or 2)             J+4   signed_len u32 = len(R)
    J+8     signature[64]                    J+72  public key[32] (informational)
    J+104   zeros up to Lh
    Lh      R = S || minver[16] || semver[16] || version u32 || (len(S) + 36) u32

**bao1x v1**: a 768-byte block in front of the payload ``S`` (also at 0xD00 of a swap
image)::

    0 jal x0, +768   4 signature[64]   68 aad_len u32   72 aad[60]
    132 version 0x100   136 magic "ymuy3oaB"   144 signed_len = len(S) + 636
    148 function code   152 anti-rollback   156 min version[16]   172 version[16]
    188 4 x {public key[32], tag[4]}   332 toolchain[20]   352 zeros to 768, then S

The bao1x signed region is ``[132, 768 + len(S))``: Ed25519ph of it when ``aad_len`` is
0, else (FIDO2) pure Ed25519 of ``aad[:aad_len] || SHA-256(SHA-512(region))``.

Parsing never verifies: :func:`parse_signed` returns every field and lists what a loader
would object to as ``warnings``; :func:`verify_signed` checks the signature against the
keys given (default: every key in :data:`~bootproof.builder.xous.keys.KNOWN_KEYS`).
Any byte string gives a parsed record or a :class:`FormatError`.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bootproof.builder import ed25519
from bootproof.builder.errors import FormatError, InputError, OverflowError_
from bootproof.builder.formats import uf2
from bootproof.builder.xous.keys import (
    BAO1X_PUBKEY_SLOTS,
    KNOWN_KEYS,
    Verified,
    known_key,
    require_match,
)
from bootproof.builder.xous.semver import SemVer

PRECURSOR_HEADER_LEN = 4096
PRECURSOR_LOADER = 1
PRECURSOR_KERNEL = 2
TRAILER_LEN = 40
#: ``--defile``: byte of the Precursor signed region whose bit 0 is flipped after signing.
PRECURSOR_DEFILE_OFFSET = 16778

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

_U32 = struct.Struct("<I")


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


# ---------------------------------------------------------------- RISC-V jump


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


# ---------------------------------------------------------------- parsed records


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
class PrecursorSignature:
    """A Precursor ``loader.bin`` (``version`` 1) or ``xous.img`` (``version`` 2) header.

    ``jump`` is the leading jal word (None without ``--with-jump``); ``header_len`` is
    where the signed region ``R`` starts; ``trailer_version``/``trailer_len`` are the
    last two words of ``R`` (the loader wants ``version`` and ``signed_len - 4``).
    """

    version: int
    jump: int | None
    header_len: int
    signed_len: int
    signature: bytes
    public_key: bytes
    min_version: SemVer
    semver: SemVer
    trailer_version: int
    trailer_len: int
    file_size: int
    warnings: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return f"precursor-v{self.version}"

    @property
    def algorithm(self) -> str:
        return "Ed25519ph" if self.version == PRECURSOR_KERNEL else "Ed25519"

    @property
    def signed_offset(self) -> int:
        return self.header_len

    @property
    def payload_offset(self) -> int:
        return self.header_len

    @property
    def payload_len(self) -> int:
        return self.signed_len - TRAILER_LEN

    def to_json(self) -> dict[str, Any]:
        """The documented JSON form (``inspect --json``); bytes as hex, versions as text."""
        key = known_key(self.public_key)
        return {
            "kind": self.kind, "algorithm": self.algorithm, "version": self.version,
            "jump": self.jump, "header_len": self.header_len, "signed_offset": self.signed_offset,
            "signed_len": self.signed_len, "signature": self.signature.hex(),
            "public_key": self.public_key.hex(),
            "public_key_known_as": None if key is None else key.name,
            "min_version": str(self.min_version), "semver": str(self.semver),
            "trailer_version": self.trailer_version, "trailer_len": self.trailer_len,
            "payload_offset": self.payload_offset, "payload_len": self.payload_len,
            "file_size": self.file_size, "warnings": list(self.warnings),
        }


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


SignedImage = PrecursorSignature | Bao1xSignature


# ---------------------------------------------------------------- parsing


def _u32(data: bytes, off: int) -> int:
    return int(_U32.unpack_from(data, off)[0])


def is_bao1x(data: bytes, offset: int = 0) -> bool:
    """Whether a bao1x block (its magic) sits at ``offset``."""
    return data[offset + 136:offset + 144] == BAO1X_MAGIC


def parse_signed(data: bytes, *, path: str | None = None) -> SignedImage:
    """Parse a signed image of any of the three formats; FormatError if it is none."""
    if is_bao1x(data):
        return parse_bao1x(data, path=path)
    if len(data) >= 8:
        word0 = _u32(data, 0)
        if word0 in (PRECURSOR_LOADER, PRECURSOR_KERNEL) or (
                jal_target(word0) is not None
                and _u32(data, 4) in (PRECURSOR_LOADER, PRECURSOR_KERNEL)):
            return parse_precursor(data, path=path)
    raise FormatError("not a signed Xous image (no Precursor version word, no bao1x magic)",
                      path=path, field="header", value=data[:8])


def parse_precursor(data: bytes, *, path: str | None = None,
                    header_len: int | None = None) -> PrecursorSignature:
    """Parse a Precursor v1/v2 image. ``header_len`` overrides the header length of an
    image without a jump (the format cannot record it; default 4096). FormatError for a
    bad version word, a header too short for its fields, or a truncated signed region."""
    warnings: list[str] = []
    if len(data) < 8:
        raise FormatError("too short for a Precursor signature header", path=path,
                          field="file_size", value=len(data))
    word0 = _u32(data, 0)
    jump: int | None = None
    j = 0
    lh = PRECURSOR_HEADER_LEN if header_len is None else header_len
    target = jal_target(word0)
    if word0 not in (PRECURSOR_LOADER, PRECURSOR_KERNEL) and target is not None:
        jump, j = word0, 4
        lh = target
    version = _u32(data, j)
    if version not in (PRECURSOR_LOADER, PRECURSOR_KERNEL):
        raise FormatError("Precursor signature version must be 1 (loader) or 2 (kernel)",
                          path=path, field="version", value=version)
    if lh < j + 104:
        raise FormatError(f"header length is shorter than its {j + 104} bytes of fields",
                          path=path, field="header length", value=lh)
    if len(data) < lh:
        raise FormatError(f"truncated: the {lh}-byte signature header runs past the end "
                          "of the file", path=path, field="file_size", value=len(data))
    signed_len = _u32(data, j + 4)
    if signed_len < TRAILER_LEN:
        raise FormatError(f"signed length is shorter than the {TRAILER_LEN}-byte trailer",
                          path=path, field="signed_len", value=signed_len)
    end = lh + signed_len
    if end > len(data):
        raise FormatError(f"truncated: the signed region ends at 0x{end:x}, past the end "
                          f"of the file (0x{len(data):x})", path=path, field="signed_len",
                          value=signed_len)
    if end < len(data):
        warnings.append(f"{len(data) - end} bytes after the signed region (not signed)")
    t = end - TRAILER_LEN
    trailer_version, trailer_len = _u32(data, end - 8), _u32(data, end - 4)
    if trailer_version != version:
        warnings.append(f"trailer version {trailer_version} differs from the header's "
                        f"{version}: the loader rejects it")
    if trailer_len != signed_len - 4:
        warnings.append(f"trailer length 0x{trailer_len:x} is not signed_len - 4 "
                        f"(0x{signed_len - 4:x}): the loader rejects it")
    if any(data[j + 104:lh]):
        warnings.append("the header padding after the public key is not zero")
    if version == PRECURSOR_KERNEL and (jump is not None or lh != PRECURSOR_HEADER_LEN):
        warnings.append("the Precursor loader reads the signature at offset 0 and the args "
                        "at 0x1000: a jump or another header length does not boot there")
    return PrecursorSignature(
        version=version,
        jump=jump,
        header_len=lh,
        signed_len=signed_len,
        signature=data[j + 8:j + 72],
        public_key=data[j + 72:j + 104],
        min_version=SemVer.decode(data[t:t + 16], field="min_version"),
        semver=SemVer.decode(data[t + 16:t + 32]),
        trailer_version=trailer_version,
        trailer_len=trailer_len,
        file_size=len(data),
        warnings=tuple(warnings),
    )


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
    jump, = _U32.unpack_from(data, b)
    aad_len, = _U32.unpack_from(data, b + 68)
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


def inner_image(data: bytes, sig: SignedImage) -> bytes:
    """The payload that was signed (args.bin for ``xous.img``/a bao1x kernel, the
    loader for ``loader.bin``, ciphertext and MACs for a swap image's block)."""
    return data[sig.payload_offset:sig.payload_offset + sig.payload_len]


# ---------------------------------------------------------------- verification


def _check_one(data: bytes, sig: SignedImage, public: bytes,
               prehash: ed25519.Prehash, path: str | None) -> bool:
    if isinstance(sig, PrecursorSignature) and sig.version == PRECURSOR_LOADER:
        region = memoryview(data)[sig.signed_offset:sig.signed_offset + sig.signed_len]
        return ed25519.verify(public, region, sig.signature)
    if isinstance(sig, Bao1xSignature) and sig.aad_len:
        if sig.aad_len > AAD_MAX:
            raise FormatError(f"aad_len exceeds the {AAD_MAX}-byte AAD field", path=path,
                              field="aad_len", value=sig.aad_len)
        message = sig.aad[:sig.aad_len] + hashlib.sha256(prehash.digest()).digest()
        return ed25519.verify(public, message, sig.signature)
    return ed25519.verify_prehashed(public, prehash, sig.signature)


def verify_signed(data: bytes, sig: SignedImage, keys: Sequence[bytes] | None = None, *,
                  path: str | None = None) -> Verified:
    """Check the signature of a parsed image against ``keys`` (default: every known key,
    the developer key among them) and return which key matched.

    Raises VerificationError ("signature does not match key ...", every key tried
    listed) when none does; InputError for a key that is not an Ed25519 point;
    FormatError when the image's own fields make a check impossible.
    """
    publics = [k.public for k in KNOWN_KEYS] if keys is None else list(keys)
    region = memoryview(data)[sig.signed_offset:sig.signed_offset + sig.signed_len]
    prehash = ed25519.Prehash(region)
    checks = []
    for public in publics:
        ok = _check_one(data, sig, public, prehash, path)
        checks.append((public, ok))
        if ok:
            break
    public = require_match(checks, f"{sig.kind} signature", path)
    digest = b"" if sig.algorithm == "Ed25519" else prehash.digest()
    return Verified(public, sig.algorithm, sig.signed_offset, sig.signed_len, digest)


# ---------------------------------------------------------------- signing


def _u32_field(name: str, value: int) -> None:
    if not 0 <= value <= 0xFFFF_FFFF:
        raise OverflowError_("does not fit its 32-bit field", field=name, value=value)


def sign_precursor(payload: bytes, seed: bytes, *, version: int, min_version: SemVer,
                   semver: SemVer, header_len: int = PRECURSOR_HEADER_LEN,
                   with_jump: bool = False, defile: bool = False) -> bytes:
    """A Precursor signed image of ``payload``: version 1 (loader, pure Ed25519) or 2
    (``xous.img``, Ed25519ph). ``defile`` flips bit 0 of byte 16778 of the signed region
    after signing, for negative tests.

    Raises InputError for another version, a header too short for its fields, or a
    payload too small to defile; OverflowError_ for a signed region over 4 GiB.
    """
    if version not in (PRECURSOR_LOADER, PRECURSOR_KERNEL):
        raise InputError("Precursor signature version is 1 (loader) or 2 (kernel)",
                         field="version", value=version)
    j = 4 if with_jump else 0
    if header_len < j + 104:
        raise InputError(f"the header needs at least {j + 104} bytes", field="--sig-length",
                         value=header_len)
    signed_len = len(payload) + TRAILER_LEN
    _u32_field("signed_len", signed_len)
    trailer = (min_version.encode() + semver.encode()
               + struct.pack("<2I", version, len(payload) + 36))
    if version == PRECURSOR_KERNEL:
        signature = ed25519.sign_prehashed(seed, ed25519.Prehash.of_parts((payload, trailer)))
    else:
        signature = ed25519.sign(seed, payload + trailer)
    head = (jal(header_len).to_bytes(4, "little") if with_jump else b"")
    head += struct.pack("<2I", version, signed_len) + signature + ed25519.public_key(seed)
    region = bytearray(payload + trailer) if defile else None
    if region is not None:
        if len(region) <= PRECURSOR_DEFILE_OFFSET:
            raise InputError(f"too small to defile: byte {PRECURSOR_DEFILE_OFFSET} of the "
                             "signed region is past its end", field="signed_len",
                             value=len(region))
        region[PRECURSOR_DEFILE_OFFSET] ^= 0x01
        return head + bytes(header_len - len(head)) + bytes(region)
    return head + bytes(header_len - len(head)) + payload + trailer


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
        _u32_field(name, value)
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


def anti_rollback_from_hjson(text: str, function: str, *,
                             path: str | Path | None = None) -> int:
    """The anti-rollback value of ``function`` from ``signing/anti-rollback.hjson``.

    As the signer reads it: everything from ``//`` to the end of a line is deleted, the
    rest must be a JSON object of decimal strings. InputError (file, key named) if it is
    not, or if ``function`` is missing: there is no default.
    """
    stripped = "\n".join(line.split("//", 1)[0] for line in text.splitlines())
    try:
        table = json.loads(stripped)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON once // comments are removed ({exc.msg}, line "
                         f"{exc.lineno})", path=path, field="anti-rollback") from exc
    if not isinstance(table, dict):
        raise InputError("must be an object of function name to value", path=path,
                         field="anti-rollback", value=type(table).__name__)
    if function not in table:
        raise InputError("no anti-rollback value for this function", path=path,
                         field=function)
    value = table[function]
    if not isinstance(value, str) or not re.fullmatch(r"\+?[0-9]+", value) or \
            int(value) > 0xFFFF_FFFF:
        raise InputError("must be a string holding a decimal 32-bit number", path=path,
                         field=function, value=value)
    return int(value)


def uf2_for(signed: bytes, function: str) -> bytes:
    """The UF2 of a bao1x signed image, at the base address of ``function``."""
    if function not in UF2_BASES:
        raise InputError(f"no UF2 address for this function (one of {', '.join(UF2_BASES)})",
                         field="--function-code", value=function)
    return uf2.encode(signed, base=UF2_BASES[function], family=UF2_FAMILY)


def uf2_name(name: str) -> str:
    """The UF2 file name the tools derive: the last 3 characters replaced by ``uf2``."""
    return name[:-3] + "uf2"

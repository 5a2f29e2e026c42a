"""Precursor signed images: ``loader.bin`` (version 1, pure Ed25519) and ``xous.img``
(version 2, Ed25519ph), spec addendum §3.

``S`` is the input file, ``Lh`` the header length (4096 unless made ``--sig-length``),
``J`` 4 when the header starts with a jump (``--with-jump``), else 0::

    0       [jal x0, +Lh]                    only with --with-jump
    J+0     version u32 (1 or 2)             J+4   signed_len u32 = len(R)
    J+8     signature[64]                    J+72  public key[32] (informational)
    J+104   zeros up to Lh
    Lh      R = S || minver[16] || semver[16] || version u32 || (len(S) + 36) u32

The signature covers ``R``. What both signed formats share (telling them apart,
verification, the inner image) is in :mod:`bootproof.builder.xous.signed`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from bootproof.builder import ed25519
from bootproof.builder.errors import FormatError, InputError
from bootproof.builder.xous.keys import known_key
from bootproof.builder.xous.semver import SemVer
from bootproof.builder.xous.signed_fields import check_u32, jal, jal_target, u32_at

PRECURSOR_HEADER_LEN = 4096
PRECURSOR_LOADER = 1
PRECURSOR_KERNEL = 2
TRAILER_LEN = 40
#: ``--defile``: byte of the Precursor signed region whose bit 0 is flipped after signing.
PRECURSOR_DEFILE_OFFSET = 16778


def is_precursor(data: bytes) -> bool:
    """Whether ``data`` starts with a Precursor version word (1 or 2), directly or after
    a ``jal`` word."""
    if len(data) < 8:
        return False
    word0 = u32_at(data, 0)
    return word0 in (PRECURSOR_LOADER, PRECURSOR_KERNEL) or (
        jal_target(word0) is not None and u32_at(data, 4) in (PRECURSOR_LOADER, PRECURSOR_KERNEL))


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


def parse_precursor(data: bytes, *, path: str | None = None,
                    header_len: int | None = None) -> PrecursorSignature:
    """Parse a Precursor v1/v2 image. ``header_len`` overrides the header length of an
    image without a jump (the format cannot record it; default 4096). FormatError for a
    bad version word, a header too short for its fields, or a truncated signed region."""
    warnings: list[str] = []
    if len(data) < 8:
        raise FormatError("too short for a Precursor signature header", path=path,
                          field="file_size", value=len(data))
    word0 = u32_at(data, 0)
    jump: int | None = None
    j = 0
    lh = PRECURSOR_HEADER_LEN if header_len is None else header_len
    target = jal_target(word0)
    if word0 not in (PRECURSOR_LOADER, PRECURSOR_KERNEL) and target is not None:
        jump, j = word0, 4
        lh = target
    version = u32_at(data, j)
    if version not in (PRECURSOR_LOADER, PRECURSOR_KERNEL):
        raise FormatError("Precursor signature version must be 1 (loader) or 2 (kernel)",
                          path=path, field="version", value=version)
    if lh < j + 104:
        raise FormatError(f"header length is shorter than its {j + 104} bytes of fields",
                          path=path, field="header length", value=lh)
    if len(data) < lh:
        raise FormatError(f"truncated: the {lh}-byte signature header runs past the end "
                          "of the file", path=path, field="file_size", value=len(data))
    signed_len = u32_at(data, j + 4)
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
    trailer_version, trailer_len = u32_at(data, end - 8), u32_at(data, end - 4)
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
    check_u32("signed_len", signed_len)
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

"""Swap images (``--swap-name``, ``--swap-debug-name``): build, parse, decrypt.

Spec addendum §2. ``B`` is the swap args block (:mod:`bootproof.builder.xous.swap_args`),
``N`` its length in pages (rounded up), ``M = 4096 N``.

Encrypted image (``swap.img``, since 2025-10)::

    0x0000  SwapSourceHeader (84 bytes), zeros to 0xD00
    0x0D00  bao1x signature block (function "swap", no minimum version), which signs
            everything from 0xD84 to the end of the file
    0x1000  N pages: page i = AES-256-GCM-SIV ciphertext of B[4096 i, 4096 i + 4096)
            (zero-padded), nonce BE32(4096 i) || BE64(partial nonce), AAD "swap"
    0x1000 + M   N 16-byte tags (the MAC table)

Debug image (``swap-debug.img``): the same header page with zeros from 0xD00 (no
signature), then ``B`` in plain text. The older encrypted variant (2024-04 to 2025-10)
has no signature block either: :func:`parse_swap_image` reads all three.

``SwapSourceHeader`` (little-endian except the nonce)::

    0 version 0x01010000   4 partial nonce (u64, big-endian)   12 mac_offset (= M)
    16 aad_len   20 aad[64]

AES-256-GCM-SIV comes from ``cryptography`` (``AESGCMSIV``, OpenSSL 3.2 or later, which
its wheels bundle). The default key is 32 zero bytes: create-image encrypts with it (the
device re-encrypts later), so it hides nothing.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV

from bootproof.builder.errors import BootproofError, FormatError, InputError, VerificationError
from bootproof.builder.formats import uf2
from bootproof.builder.layout import align_up
from bootproof.builder.xous.keys import BAO1X_PUBKEY_SLOTS
from bootproof.builder.xous.semver import NO_VERSION, SemVer
from bootproof.builder.xous.signed_bao1x import (
    FUNCTION_CODES,
    SIGBLOCK_LEN,
    UF2_BASES,
    UF2_FAMILY,
    Bao1xSignature,
    bao1x_block,
    is_bao1x,
    parse_bao1x,
)

PAGE = 4096
MAC_LEN = 16
HEADER_LEN = 84
HEADER_VERSION = 0x0101_0000
SIG_OFFSET = PAGE - SIGBLOCK_LEN
DATA_OFFSET = PAGE
SWAP_AAD = b"swap"
AAD_FIELD = 64
ZERO_KEY = bytes(32)
KEY_LEN = 32
SWAP_UF2_BASE = UF2_BASES["swap"]

_HEADER = struct.Struct("<I8sII64s")
_HEX = re.compile(r"\+?[0-9A-Fa-f]+")


@dataclass(frozen=True)
class SwapSourceHeader:
    """The 84-byte header of a swap image (it is not covered by the signature)."""

    version: int
    partial_nonce: int
    mac_offset: int
    aad_len: int
    aad: bytes

    @classmethod
    def for_block(cls, block_len: int, partial_nonce: int) -> SwapSourceHeader:
        """The header create-image writes for a ``block_len``-byte swap args block."""
        return cls(HEADER_VERSION, partial_nonce, align_up(block_len, PAGE),
                   len(SWAP_AAD), SWAP_AAD + bytes(AAD_FIELD - len(SWAP_AAD)))

    def encode(self) -> bytes:
        return _HEADER.pack(self.version, self.partial_nonce.to_bytes(8, "big"),
                            self.mac_offset, self.aad_len, self.aad)

    @classmethod
    def decode(cls, data: bytes, *, path: str | None = None) -> SwapSourceHeader:
        """Decode the header at the start of ``data``; FormatError if it is truncated."""
        if len(data) < HEADER_LEN:
            raise FormatError(f"too short for the {HEADER_LEN}-byte swap header", path=path,
                              field="file_size", value=len(data))
        version, nonce, mac_offset, aad_len, aad = _HEADER.unpack_from(data, 0)
        return cls(version, int.from_bytes(nonce, "big"), mac_offset, aad_len, aad)

    @property
    def pages(self) -> int:
        return self.mac_offset // PAGE

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "partial_nonce": f"{self.partial_nonce:016x}",
                "mac_offset": self.mac_offset, "aad_len": self.aad_len,
                "aad": self.aad[:min(self.aad_len, AAD_FIELD)].hex()}

    def aad_bytes(self, *, path: str | None = None) -> bytes:
        """``aad[:aad_len]``; FormatError if ``aad_len`` exceeds the 64-byte field."""
        if self.aad_len > AAD_FIELD:
            raise FormatError(f"aad_len exceeds the {AAD_FIELD}-byte AAD field", path=path,
                              field="aad_len", value=self.aad_len)
        return self.aad[:self.aad_len]


def partial_nonce_from_rev(rev: str) -> int:
    """The partial nonce from a commit hash (``--git-rev`` or ``git rev-parse HEAD``):
    trailing newlines stripped, the last 16 characters read as hex.
    InputError (value named) if fewer than 16 characters remain or they are not hex."""
    text = rev.rstrip("\n")
    window = text[-16:]
    if len(text) < 16 or not _HEX.fullmatch(window):
        raise InputError("a commit hash of at least 16 hex characters is needed for the swap "
                         "nonce", field="--git-rev", value=rev)
    return int(window, 16)


def page_nonce(offset: int, partial_nonce: int) -> bytes:
    """The 12-byte nonce of the page at data-area ``offset``: BE32(offset) || BE64(nonce)."""
    return offset.to_bytes(4, "big") + partial_nonce.to_bytes(8, "big")


def _cipher(key: bytes) -> AESGCMSIV:
    if len(key) != KEY_LEN:
        raise InputError("an AES-256-GCM-SIV key is 32 bytes", field="swap key",
                         value=len(key))
    try:
        return AESGCMSIV(key)
    except UnsupportedAlgorithm as exc:
        raise BootproofError("AES-256-GCM-SIV is not available: the cryptography package "
                             "must be linked with OpenSSL 3.2 or later (its wheels are)"
                             ) from exc


def seal(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
    """AES-256-GCM-SIV (RFC 8452): ``(ciphertext, tag)``, the ciphertext as long as the
    plaintext."""
    out = _cipher(key).encrypt(nonce, plaintext, aad)
    return out[:-MAC_LEN], out[-MAC_LEN:]


def unseal(key: bytes, nonce: bytes, ciphertext: bytes, tag: bytes, aad: bytes) -> bytes | None:
    """The plaintext, or None when the tag does not authenticate (wrong key or data)."""
    try:
        return _cipher(key).decrypt(nonce, ciphertext + tag, aad)
    except InvalidTag:
        return None


def encrypt_pages(plaintext: bytes, *, partial_nonce: int, key: bytes = ZERO_KEY,
                  aad: bytes = SWAP_AAD) -> tuple[bytes, bytes]:
    """Encrypt ``plaintext`` page by page (the last page zero-padded): ``(ciphertext
    pages, MAC table)``."""
    cipher = _cipher(key)
    pages = -(-len(plaintext) // PAGE)
    cts = bytearray(pages * PAGE)
    tags = bytearray(pages * MAC_LEN)
    view = memoryview(plaintext)
    for i in range(pages):
        chunk = view[i * PAGE:(i + 1) * PAGE]
        if len(chunk) < PAGE:
            chunk = memoryview(bytes(chunk) + bytes(PAGE - len(chunk)))
        out = memoryview(cipher.encrypt(page_nonce(i * PAGE, partial_nonce), chunk, aad))
        cts[i * PAGE:(i + 1) * PAGE] = out[:PAGE]
        tags[i * MAC_LEN:(i + 1) * MAC_LEN] = out[PAGE:]
    return bytes(cts), bytes(tags)


def build_swap_image(block: bytes, *, seed: bytes, partial_nonce: int, semver: SemVer,
                     anti_rollback: int,
                     pubkeys: tuple[tuple[bytes, bytes], ...] = BAO1X_PUBKEY_SLOTS,
                     key: bytes = ZERO_KEY, defile: bool = False) -> bytes:
    """The encrypted, signed swap image of swap args ``block``, byte for byte as
    create-image writes it (``--swap-name``). ``seed`` is the ``--swap-key`` signing key;
    ``key`` the encryption key. ``defile`` corrupts the signed block for negative tests.
    Raises InputError for a bad key or key slots."""
    head = SwapSourceHeader.for_block(len(block), partial_nonce).encode()
    ciphertext, macs = encrypt_pages(block, partial_nonce=partial_nonce, key=key)
    sigblock = bao1x_block((ciphertext, macs), seed, function=FUNCTION_CODES["swap"],
                           anti_rollback=anti_rollback, min_version=NO_VERSION,
                           semver=semver, pubkeys=pubkeys, defile=defile)
    return b"".join((head, bytes(SIG_OFFSET - len(head)), sigblock, ciphertext, macs))


def build_swap_debug_image(block: bytes, *, partial_nonce: int) -> bytes:
    """The plaintext swap image (``--swap-debug-name``): header page, no signature, then
    ``block`` as is."""
    head = SwapSourceHeader.for_block(len(block), partial_nonce).encode()
    return head + bytes(DATA_OFFSET - len(head)) + block


def swap_uf2(image: bytes) -> bytes:
    """The ``.uf2`` written beside ``swap.img``: the whole file at 0x70000000."""
    return uf2.encode(image, base=SWAP_UF2_BASE, family=UF2_FAMILY)


# ---------------------------------------------------------------- reading

ENCRYPTED = "encrypted"
ENCRYPTED_UNSIGNED = "encrypted-unsigned"
DEBUG = "debug"


@dataclass(frozen=True)
class SwapImage:
    """A parsed swap image. ``kind`` is ``encrypted`` (signed, current),
    ``encrypted-unsigned`` (2024-04 to 2025-10) or ``debug`` (plaintext).
    For encrypted kinds the MAC table is at ``DATA_OFFSET + header.mac_offset``."""

    kind: str
    header: SwapSourceHeader
    signature: Bao1xSignature | None
    pages: int
    file_size: int
    warnings: tuple[str, ...] = ()

    @property
    def encrypted(self) -> bool:
        return self.kind != DEBUG

    @property
    def mac_table_offset(self) -> int:
        return DATA_OFFSET + self.header.mac_offset

    def to_json(self) -> dict[str, Any]:
        """The documented JSON form (``inspect --json``)."""
        return {"kind": self.kind, "header": self.header.to_json(), "pages": self.pages,
                "data_offset": DATA_OFFSET,
                "mac_table_offset": self.mac_table_offset if self.encrypted else None,
                "signature": None if self.signature is None else self.signature.to_json(),
                "file_size": self.file_size, "warnings": list(self.warnings)}


def looks_like_swap_image(data: bytes) -> bool:
    """Whether ``data`` starts with a swap header (version 0x01010000) and a header page."""
    return len(data) >= DATA_OFFSET and data[:4] == HEADER_VERSION.to_bytes(4, "little")


def parse_swap_image(data: bytes, *, path: str | None = None) -> SwapImage:
    """Parse a swap image of any kind (nothing is decrypted or verified).

    FormatError for data shorter than the header page, a ``mac_offset`` that is not a
    page multiple or runs past the file, or a bad signature block; what a loader would
    object to (wrong version, trailing bytes) becomes a warning.
    """
    warnings: list[str] = []
    if len(data) < DATA_OFFSET:
        raise FormatError("too short for a swap image (a 4096-byte header page, then data)",
                          path=path, field="file_size", value=len(data))
    header = SwapSourceHeader.decode(data, path=path)
    if header.version != HEADER_VERSION:
        warnings.append(f"header version 0x{header.version:08x}, create-image writes "
                        f"0x{HEADER_VERSION:08x}")
    if header.aad_len > AAD_FIELD:
        warnings.append(f"aad_len {header.aad_len} exceeds the 64-byte AAD field")
    if header.mac_offset % PAGE:
        raise FormatError("mac_offset is not a multiple of 4096", path=path,
                          field="mac_offset", value=header.mac_offset)
    pages = header.pages
    signature: Bao1xSignature | None = None
    if is_bao1x(data, SIG_OFFSET):
        kind = ENCRYPTED
        signature = parse_bao1x(data, offset=SIG_OFFSET, path=path)
        warnings.extend(f"signature block: {w}" for w in signature.warnings)
    elif not any(data[SIG_OFFSET:DATA_OFFSET]) and data[DATA_OFFSET:DATA_OFFSET + 4] == b"XArg":
        kind = DEBUG
    else:
        kind = ENCRYPTED_UNSIGNED
    if kind == DEBUG:
        plain = len(data) - DATA_OFFSET
        if -(-plain // PAGE) != pages:
            warnings.append(f"mac_offset 0x{header.mac_offset:x} does not match the "
                            f"0x{plain:x} bytes of plaintext")
        return SwapImage(kind, header, None, -(-plain // PAGE), len(data), tuple(warnings))
    if pages == 0:
        raise FormatError("mac_offset is 0: no encrypted pages", path=path,
                          field="mac_offset", value=0)
    end = DATA_OFFSET + header.mac_offset + MAC_LEN * pages
    if end > len(data):
        raise FormatError(f"truncated: {pages} pages and their MAC table end at 0x{end:x}, "
                          f"past the end of the file (0x{len(data):x})", path=path,
                          field="mac_offset", value=header.mac_offset)
    if end < len(data) and signature is None:
        warnings.append(f"{len(data) - end} bytes after the MAC table")
    return SwapImage(kind, header, signature, pages, len(data), tuple(warnings))


def decrypt_swap_image(data: bytes, image: SwapImage, *, key: bytes = ZERO_KEY,
                       path: str | None = None) -> bytes:
    """The plaintext swap args block (all pages; a debug image's bytes as they are).

    Raises VerificationError naming the first page that does not authenticate with
    ``key`` (a wrong key, or corrupted data, nonce or AAD), InputError for a key that is
    not 32 bytes, FormatError for an ``aad_len`` over 64.
    """
    if not image.encrypted:
        return data[DATA_OFFSET:]
    aad = image.header.aad_bytes(path=path)
    cipher = _cipher(key)
    view = memoryview(data)
    out = []
    macs = image.mac_table_offset
    for i in range(image.pages):
        start = DATA_OFFSET + i * PAGE
        sealed = bytes(view[start:start + PAGE]) + bytes(view[macs + MAC_LEN * i:
                                                              macs + MAC_LEN * (i + 1)])
        try:
            out.append(cipher.decrypt(page_nonce(i * PAGE, image.header.partial_nonce),
                                      sealed, aad))
        except InvalidTag as exc:
            which = "the zero key" if key == ZERO_KEY else "the key given"
            raise VerificationError(
                f"page {i} (file offset 0x{start:x}) does not decrypt with {which}: wrong "
                "key, or the image was altered", path=path, field="swap page",
                value=i) from exc
    return b"".join(out)

"""Signed Xous images of either format: tell which, verify, strip to the inner image.

Three formats (spec addendum §3) in two modules, each with its layout drawn:
:mod:`~bootproof.builder.xous.signed_precursor` (``loader.bin`` v1, ``xous.img`` v2) and
:mod:`~bootproof.builder.xous.signed_bao1x` (the 768-byte bao1x block); the words they
share are in :mod:`~bootproof.builder.xous.signed_fields`. This is Xous policy (function
codes, the public-key slots, the loader's rules), so it lives in ``builder/xous``; the
generic pieces are :mod:`bootproof.builder.ed25519` and :mod:`bootproof.builder.formats.uf2`.

Parsing never verifies: :func:`parse_signed` returns every field and lists what a loader
would object to as ``warnings``; :func:`verify_signed` checks the signature against the
keys given (default: every key in :data:`~bootproof.builder.xous.keys.KNOWN_KEYS`).
Any byte string gives a parsed record or a :class:`FormatError`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from bootproof.builder import ed25519
from bootproof.builder.errors import FormatError
from bootproof.builder.xous.keys import KNOWN_KEYS, Verified, require_match
from bootproof.builder.xous.signed_bao1x import (
    AAD_MAX,
    Bao1xSignature,
    is_bao1x,
    parse_bao1x,
)
from bootproof.builder.xous.signed_precursor import (
    PRECURSOR_LOADER,
    PrecursorSignature,
    is_precursor,
    parse_precursor,
)

SignedImage = PrecursorSignature | Bao1xSignature


def parse_signed(data: bytes, *, path: str | None = None) -> SignedImage:
    """Parse a signed image of any of the three formats; FormatError if it is none."""
    if is_bao1x(data):
        return parse_bao1x(data, path=path)
    if is_precursor(data):
        return parse_precursor(data, path=path)
    raise FormatError("not a signed Xous image (no Precursor version word, no bao1x magic)",
                      path=path, field="header", value=data[:8])


def inner_image(data: bytes, sig: SignedImage) -> bytes:
    """The payload that was signed (args.bin for ``xous.img``/a bao1x kernel, the
    loader for ``loader.bin``, ciphertext and MACs for a swap image's block)."""
    return data[sig.payload_offset:sig.payload_offset + sig.payload_len]


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


def uf2_name(name: str) -> str:
    """The UF2 file name the tools derive: the last 3 characters replaced by ``uf2``."""
    return name[:-3] + "uf2"

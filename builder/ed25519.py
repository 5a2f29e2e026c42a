"""Ed25519 and Ed25519ph signatures (RFC 8032), and Ed25519 keys in PKCS#8 PEM files.

Why two libraries: ``cryptography`` (OpenSSL) signs and verifies only *pure* Ed25519, and
PyNaCl likewise; the Xous signed images (``xous.img``, bao1x blocks, swap images) use
**Ed25519ph** (RFC 8032 §5.1: SHA-512 prehash, ``dom2(1, context)``). PyCryptodome
(``Crypto.Signature.eddsa``, maintained, C-backed curve arithmetic) implements both
variants: a ``bytes`` message selects pure Ed25519, a ``Crypto.Hash.SHA512`` object
selects Ed25519ph. Every signature here goes through it, so one implementation serves
both. ``cryptography`` is used only to decode the PKCS#8 DER of a key file.

The prehash is a :class:`Prehash` (a running SHA-512) so a caller hashes a large image
once, in pieces, and can show the digest (the loader exports it as
``ROOT_FILESYSTEM_HASH``).

Verification follows PyCryptodome: the cofactored check of RFC 8032 §5.1.7, ``S < L``
enforced. Signatures made by an honest signer verify identically under the cofactorless
check that ed25519-dalek uses; only deliberately crafted small-order points could tell
the two apart.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from pathlib import Path

from Crypto.Hash import SHA512
from Crypto.Signature import eddsa
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    load_der_private_key,
    load_der_public_key,
)

from bootproof.builder.errors import InputError

SEED_LEN = 32
PUBLIC_KEY_LEN = 32
SIGNATURE_LEN = 64
#: The PEM label the Xous tools require for a signing key (PKCS#8).
PEM_LABEL = "PRIVATE KEY"
#: The PEM label of a public key (SubjectPublicKeyInfo, as ``openssl pkey -pubout`` writes).
PUBLIC_PEM_LABEL = "PUBLIC KEY"

_PEM = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END ([A-Z0-9 ]+)-----", re.DOTALL
)


class Prehash:
    """A running SHA-512 of a message, for Ed25519ph (RFC 8032 §5.1 ``PH``)."""

    def __init__(self, data: bytes | bytearray | memoryview = b"") -> None:
        self._h = SHA512.new()
        if data:
            self._h.update(data)

    @classmethod
    def of_parts(cls, parts: Iterable[bytes | bytearray | memoryview]) -> Prehash:
        """The prehash of the concatenation of ``parts``."""
        ph = cls()
        for part in parts:
            ph.update(part)
        return ph

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._h.update(data)

    def digest(self) -> bytes:
        """The 64-byte SHA-512 so far (the prehash can still be extended)."""
        return self._h.digest()

    def _hash_object(self) -> SHA512.SHA512Hash:
        return self._h.copy()


def _check_len(what: str, value: bytes, n: int) -> None:
    if len(value) != n:
        raise InputError(f"an Ed25519 {what} is {n} bytes", field=what, value=len(value))


def public_key(seed: bytes) -> bytes:
    """The 32-byte public key of a 32-byte secret seed. InputError for a wrong length."""
    _check_len("seed", seed, SEED_LEN)
    key = eddsa.import_private_key(seed)
    return bytes(key.public_key().export_key(format="raw"))


def sign(seed: bytes, message: bytes | bytearray | memoryview) -> bytes:
    """Pure Ed25519 (RFC 8032 §5.1.6 without context) of ``message``; deterministic."""
    _check_len("seed", seed, SEED_LEN)
    signer = eddsa.new(eddsa.import_private_key(seed), "rfc8032")
    return bytes(signer.sign(bytes(message)))


def sign_prehashed(seed: bytes, prehash: Prehash, context: bytes = b"") -> bytes:
    """Ed25519ph (RFC 8032 §5.1, ``dom2(1, context)``) of the prehashed message."""
    _check_len("seed", seed, SEED_LEN)
    signer = eddsa.new(eddsa.import_private_key(seed), "rfc8032", context=context)
    return bytes(signer.sign(prehash._hash_object()))


def _verifier(public: bytes, context: bytes | None) -> eddsa.EdDSASigScheme:
    _check_len("public key", public, PUBLIC_KEY_LEN)
    try:
        key = eddsa.import_public_key(public)
    except ValueError as exc:
        raise InputError("not a valid Ed25519 public key (not a curve point)",
                         field="public key", value=public.hex()) from exc
    return eddsa.new(key, "rfc8032", context=context)


def verify(public: bytes, message: bytes | bytearray | memoryview, signature: bytes) -> bool:
    """Whether ``signature`` is a pure Ed25519 signature of ``message`` by ``public``.

    InputError if ``public`` is not a 32-byte curve point (a wrong signature is False).
    """
    verifier = _verifier(public, None)
    try:
        verifier.verify(bytes(message), bytes(signature))
    except ValueError:
        return False
    return True


def verify_prehashed(public: bytes, prehash: Prehash, signature: bytes,
                     context: bytes = b"") -> bool:
    """Whether ``signature`` is an Ed25519ph signature of the prehashed message."""
    verifier = _verifier(public, context)
    try:
        verifier.verify(prehash._hash_object(), bytes(signature))
    except ValueError:
        return False
    return True


def _pem_der(data: bytes, labels: tuple[str, ...], path: str | Path | None) -> tuple[str, bytes]:
    m = _PEM.search(data)
    if m is None:
        raise InputError("not a PEM file (no -----BEGIN ...----- block)", path=path,
                         field="PEM")
    label = m.group(1).decode("ascii")
    if label not in labels or m.group(3) != m.group(1):
        wanted = " or ".join(repr(x) for x in labels)
        raise InputError(f"the key is a {label!r}; a {wanted} is required",
                         path=path, field="PEM label", value=label)
    try:
        return label, base64.b64decode(b"".join(m.group(2).split()), validate=True)
    except binascii.Error as exc:
        raise InputError("the PEM body is not valid base64", path=path,
                         field="PEM body") from exc


def _seed_from_der(der: bytes, path: str | Path | None) -> bytes:
    try:
        key = load_der_private_key(der, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise InputError(f"not a PKCS#8 private key ({exc})", path=path,
                         field="PKCS#8") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError("not an Ed25519 key", path=path, field="PKCS#8 algorithm",
                         value=type(key).__name__)
    # RFC 8410: the PKCS#8 privateKey of an Ed25519 key is the octet string 04 20 <seed>,
    # the bytes the Xous tools take; cryptography has checked that shape.
    return key.private_bytes_raw()


def seed_from_pem(data: bytes, *, path: str | Path | None = None) -> bytes:
    """The 32-byte Ed25519 seed of a PKCS#8 PEM key (``-----BEGIN PRIVATE KEY-----``).

    Like the Xous tools: the first PEM block is used and its label must be
    ``PRIVATE KEY``; the PKCS#8 ``privateKey`` is the octet string ``04 20 <seed>``.
    Raises InputError naming ``path`` for anything else (no PEM, another label, bad
    base64, not an Ed25519 key).
    """
    _, der = _pem_der(data, (PEM_LABEL,), path)
    return _seed_from_der(der, path)


def public_from_pem(data: bytes, *, path: str | Path | None = None) -> bytes:
    """The 32-byte Ed25519 public key of a PEM file: a ``PUBLIC KEY`` (SubjectPublicKeyInfo)
    or a PKCS#8 ``PRIVATE KEY`` (its public half). InputError naming ``path`` otherwise."""
    label, der = _pem_der(data, (PUBLIC_PEM_LABEL, PEM_LABEL), path)
    if label == PEM_LABEL:
        return public_key(_seed_from_der(der, path))
    try:
        key = load_der_public_key(der)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise InputError(f"not a public key ({exc})", path=path, field="PUBLIC KEY") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise InputError("not an Ed25519 key", path=path, field="PUBLIC KEY algorithm",
                         value=type(key).__name__)
    return key.public_bytes_raw()

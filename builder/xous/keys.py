"""The public keys Xous images are signed with, and what a signature check found.

* :data:`KNOWN_KEYS`: the four keys of the bao1x public-key slots (``bao1``, ``bao2``,
  ``beta``, ``dev ``) plus the *testing* key that ``--fake-pubkeys`` puts in slot 3.
* :data:`DEVELOPER_KEY_PEM`: the xous-core developer key (``devkey/dev.key``). It is
  published on purpose so that anyone can build a bootable image: a signature by it
  proves nothing about who made the image, which is why a check that passes with it
  says "developer key" loudly.
* :class:`Verified` (a passed check) and :func:`require_match`, which raises
  :class:`~bootproof.builder.errors.VerificationError` when no key matched.

``VerificationError`` lives in :mod:`bootproof.builder.errors` with the rest of the
hierarchy; the command line gives it exit status 1 (a failed check) rather than 2
(unusable input).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bootproof.builder.errors import VerificationError


@dataclass(frozen=True)
class KnownKey:
    """A public key with a name; ``developer`` marks keys whose secret is public."""

    name: str
    public: bytes
    developer: bool = False


DEVELOPER_KEY_PEM = (
    b"-----BEGIN PRIVATE KEY-----\n"
    b"MC4CAQAwBQYDK2VwBCIEIKindlyNoteThisIsADevKeyDontUseForProduction\n"
    b"-----END PRIVATE KEY-----\n"
)

DEVELOPER_KEY = KnownKey(
    "developer key",
    bytes.fromhex("1c9beae32aeac87507c18094387eff1c74614282affd8152d871352edf3f58bb"),
    developer=True,
)
TESTING_KEY = KnownKey(
    "testing key",
    bytes.fromhex("2d3e578464e22cd27aaf7140759924de1e5f145093c9e1f298875d0918f1cd47"),
    developer=True,
)

#: bao1x public-key slots as the tools write them: (tag, key), slot 0 to 3.
BAO1X_PUBKEY_SLOTS: tuple[tuple[bytes, bytes], ...] = (
    (b"bao1", bytes.fromhex("a87a5f98daabfb512fc3c2e5749b3beb192388d20160a7dd5888fb9da409523a")),
    (b"bao2", bytes.fromhex("79135dc667aff4f7d352b90328788ebf92c786782138b377370b15194e312888")),
    (b"beta", bytes.fromhex("80979929edd04e40124b52cae9ae54b24bdff72a7b8a004c41065bd1402078a7")),
    (b"dev ", DEVELOPER_KEY.public),
)

KNOWN_KEYS: tuple[KnownKey, ...] = (
    KnownKey("bao1", BAO1X_PUBKEY_SLOTS[0][1]),
    KnownKey("bao2", BAO1X_PUBKEY_SLOTS[1][1]),
    KnownKey("beta", BAO1X_PUBKEY_SLOTS[2][1]),
    DEVELOPER_KEY,
    TESTING_KEY,
)


def known_key(public: bytes) -> KnownKey | None:
    """The known key with these bytes, if any."""
    for key in KNOWN_KEYS:
        if key.public == public:
            return key
    return None


def describe_key(public: bytes) -> str:
    """``<hex>`` followed by the key's name in brackets when it is a known key."""
    key = known_key(public)
    return public.hex() if key is None else f"{public.hex()} ({key.name})"


@dataclass(frozen=True)
class Verified:
    """A signature that checked out: which key, by which algorithm, over what.

    ``algorithm`` is ``"Ed25519"``, ``"Ed25519ph"`` or ``"Ed25519 (FIDO2)"``;
    ``digest`` the SHA-512 of the signed region (empty for pure Ed25519).
    """

    public: bytes
    algorithm: str
    signed_offset: int
    signed_len: int
    digest: bytes = b""

    @property
    def key(self) -> KnownKey | None:
        return known_key(self.public)

    @property
    def developer(self) -> bool:
        """True when the key's secret is public (the developer or testing key)."""
        key = self.key
        return key is not None and key.developer

    def to_json(self) -> dict[str, Any]:
        key = self.key
        return {"ok": True, "public_key": self.public.hex(),
                "known_as": None if key is None else key.name, "developer": self.developer,
                "algorithm": self.algorithm, "signed_offset": self.signed_offset,
                "signed_len": self.signed_len, "sha512": self.digest.hex() or None}

    def describe(self) -> str:
        """One line; a developer-key signature is flagged in capitals."""
        text = (f"signature OK ({self.algorithm} over 0x{self.signed_len:x} bytes at "
                f"0x{self.signed_offset:x}) with key {describe_key(self.public)}")
        if self.developer:
            text += ": DEVELOPER KEY, its secret is public: anyone can sign such an image"
        return text


def require_match(checks: Sequence[tuple[bytes, bool]], what: str,
                  path: str | None) -> bytes:
    """The first key whose check passed; else VerificationError listing every key tried.

    ``checks`` pairs each key tried with its outcome, in the order tried.
    """
    for public, ok in checks:
        if ok:
            return public
    tried = "; ".join(describe_key(public) for public, _ in checks)
    raise VerificationError(f"signature does not match key {tried}", path=path, field=what)

"""Ed25519 / Ed25519ph and PKCS#8 keys: RFC 8032 vectors, a second implementation, key files."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from bootproof.builder import ed25519
from bootproof.builder.errors import InputError
from bootproof.builder.xous.keys import DEVELOPER_KEY_PEM

# RFC 8032 §7.3 (Ed25519ph), the vector xous-core also carries in
# loader/ed25519-dalek-loader/tests/ed25519.rs.
PH_SECRET = bytes.fromhex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42")
PH_PUBLIC = bytes.fromhex("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf")
PH_SIGNATURE = bytes.fromhex(
    "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41"
    "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406")

# RFC 8032 §7.1 TEST 1 (pure Ed25519, empty message).
T1_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
T1_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
T1_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555"
    "fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")


def test_rfc8032_ed25519ph_vector() -> None:
    assert ed25519.public_key(PH_SECRET) == PH_PUBLIC
    assert ed25519.sign_prehashed(PH_SECRET, ed25519.Prehash(b"abc")) == PH_SIGNATURE
    assert ed25519.verify_prehashed(PH_PUBLIC, ed25519.Prehash(b"abc"), PH_SIGNATURE)


def test_ed25519ph_prehash_in_parts_equals_whole() -> None:
    parts = ed25519.Prehash.of_parts([b"a", b"", bytearray(b"b"), memoryview(b"c")])
    assert ed25519.verify_prehashed(PH_PUBLIC, parts, PH_SIGNATURE)


def test_ed25519ph_rejects_other_message_context_or_key() -> None:
    assert not ed25519.verify_prehashed(PH_PUBLIC, ed25519.Prehash(b"abd"), PH_SIGNATURE)
    assert not ed25519.verify_prehashed(PH_PUBLIC, ed25519.Prehash(b"abc"), PH_SIGNATURE,
                                        context=b"foo")
    assert not ed25519.verify_prehashed(T1_PUBLIC, ed25519.Prehash(b"abc"), PH_SIGNATURE)
    # Ed25519ph is not pure Ed25519 of the digest, nor of the message
    assert not ed25519.verify(PH_PUBLIC, b"abc", PH_SIGNATURE)


def test_rfc8032_pure_ed25519_vector() -> None:
    assert ed25519.public_key(T1_SECRET) == T1_PUBLIC
    assert ed25519.sign(T1_SECRET, b"") == T1_SIGNATURE
    assert ed25519.verify(T1_PUBLIC, b"", T1_SIGNATURE)
    assert not ed25519.verify(T1_PUBLIC, b"\0", T1_SIGNATURE)


@pytest.mark.parametrize("message", [b"", b"x", bytes(range(256)) * 40])
def test_pure_ed25519_agrees_with_openssl(message: bytes) -> None:
    """cryptography (OpenSSL) is a second, independent Ed25519 implementation."""
    seed = bytes(range(32))
    theirs = Ed25519PrivateKey.from_private_bytes(seed)
    ours = ed25519.sign(seed, message)
    assert ours == theirs.sign(message)  # Ed25519 is deterministic
    Ed25519PublicKey.from_public_bytes(ed25519.public_key(seed)).verify(ours, message)


def test_lengths_and_bad_public_key_are_input_errors() -> None:
    with pytest.raises(InputError, match="32 bytes"):
        ed25519.public_key(bytes(31))
    with pytest.raises(InputError, match="public key"):
        ed25519.verify(bytes(33), b"", bytes(64))
    # y = 2 is not the y coordinate of any curve point
    with pytest.raises(InputError, match="not a valid Ed25519 public key"):
        ed25519.verify((2).to_bytes(32, "little"), b"", bytes(64))
    assert not ed25519.verify(T1_PUBLIC, b"", bytes(63))


def test_developer_key_pem() -> None:
    """Spec addendum §2.9: the published devkey/dev.key, its seed and public key."""
    seed = ed25519.seed_from_pem(DEVELOPER_KEY_PEM)
    assert seed.hex() == "a8a7765c8da2d793862b08b000debca7b20e89ed52c785a2b3eba1db9cb62a27"
    assert ed25519.public_key(seed).hex() == (
        "1c9beae32aeac87507c18094387eff1c74614282affd8152d871352edf3f58bb")


def test_key_written_by_openssl(tmp_path: Path) -> None:
    require_tool("openssl")
    key = tmp_path / "k.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(key)],
                   check=True, capture_output=True)
    pub = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    seed = ed25519.seed_from_pem(key.read_bytes(), path=key)
    assert ed25519.public_key(seed) == pub[-32:]  # SubjectPublicKeyInfo ends in the key


def _pem(label: str, der: bytes) -> bytes:
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN {label}-----\n{body}-----END {label}-----\n".encode()


def test_wrong_pem_label_names_it(tmp_path: Path) -> None:
    der = DEVELOPER_KEY_PEM.split(b"\n")[1]
    pem = _pem("ED25519 PRIVATE KEY", base64.b64decode(der))
    with pytest.raises(InputError) as err:
        ed25519.seed_from_pem(pem, path="k.pem")
    assert "k.pem" in str(err.value) and "ED25519 PRIVATE KEY" in str(err.value)


def test_not_an_ed25519_key() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    with pytest.raises(InputError, match="not an Ed25519 key"):
        ed25519.seed_from_pem(_pem("PRIVATE KEY", der), path="ec.pem")


@pytest.mark.parametrize("data", [
    b"",
    b"just text\n",
    b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
    b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
])
def test_garbage_key_files(data: bytes) -> None:
    with pytest.raises(InputError) as err:
        ed25519.seed_from_pem(data, path="bad.pem")
    assert "bad.pem" in str(err.value)


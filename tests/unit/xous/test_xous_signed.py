"""Signed Xous images: model vectors, round trips, tampering, wrong keys, --defile, FIDO2."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from bootproof.builder import ed25519
from bootproof.builder.errors import FormatError, InputError, OverflowError_, VerificationError
from bootproof.builder.formats import uf2
from bootproof.builder.xous import (
    signed,
    signed_bao1x,
    signed_fields,
    signed_precursor,
    signing_inputs,
)
from bootproof.builder.xous.keys import DEVELOPER_KEY_PEM
from bootproof.builder.xous.semver import SemVer

DEV_SEED = ed25519.seed_from_pem(DEVELOPER_KEY_PEM)
OTHER_SEED = bytes(range(1, 33))
OTHER_PUBLIC = ed25519.public_key(OTHER_SEED)
MINVER = SemVer.parse("v0.9.8-791")
SEMVER = SemVer.parse("v0.10.0-19-g0d934e1")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _precursor(version: int, payload: bytes = bytes(4096), seed: bytes = DEV_SEED,
               **kw: Any) -> bytes:
    return signed_precursor.sign_precursor(payload, seed, version=version,
                                           min_version=MINVER, semver=SEMVER, **kw)


def _bao1x(payload: bytes = bytes(4096), seed: bytes = DEV_SEED, **kw: Any) -> bytes:
    return signed_bao1x.sign_bao1x(payload, seed,
                                   function=signed_bao1x.FUNCTION_CODES["kernel"],
                                   anti_rollback=1, min_version=MINVER, semver=SEMVER, **kw)


# Spec addendum §3.8. These come from the spec author's Python model, NOT from the Rust
# xous-sign-image (which could not be built there); they pin our output to that model.
def test_model_vector_precursor_v2() -> None:
    img = _precursor(2)
    assert len(img) == 8232
    assert img[:8].hex() == "0200000028100000"
    assert _sha(img) == "8c7dd593a02cf3ea3e43b70b318d1dbbfbd52620e4bec36d540b48a435cd2e02"
    assert img[8:16].hex() == "b7c607d42fb91cbb"


def test_model_vector_precursor_v1() -> None:
    img = _precursor(1)
    assert len(img) == 8232
    assert _sha(img) == "44eca5819e34d89d77738340ab013de18def77d22f7463578a2f1bdb47be9bf2"


def test_model_vector_bao1x_kernel() -> None:
    img = _bao1x()
    assert len(img) == 4864
    assert _sha(img) == "47b8f4ac6fb05c83f61d27f45d1ab333a6aa15e5ed7d65536925d735dcfd5534"


def test_jal_encoding() -> None:
    assert signed_fields.jal(4096) == 0x0000106F
    assert signed_fields.jal(768) == 0x3000006F
    for off in (0, 2, 768, 4096, -4, 0xFFFFE, -(1 << 20)):
        assert signed_fields.jal_target(signed_fields.jal(off)) == off
    assert signed_fields.jal_target(0x0000106F | 0x80) is None  # rd = x1, not a plain jump
    with pytest.raises(InputError):
        signed_fields.jal(3)


def test_precursor_round_trip_fields() -> None:
    payload = bytes(range(256)) * 32
    img = _precursor(2, payload)
    sig = signed.parse_signed(img, path="xous.img")
    assert isinstance(sig, signed_precursor.PrecursorSignature)
    assert (sig.kind, sig.version, sig.jump, sig.header_len) == ("precursor-v2", 2, None, 4096)
    assert sig.signed_len == len(payload) + 40
    assert sig.trailer_version == 2 and sig.trailer_len == sig.signed_len - 4
    assert sig.min_version == MINVER and sig.semver == SEMVER
    assert sig.public_key == ed25519.public_key(DEV_SEED)
    assert sig.warnings == ()
    assert signed.inner_image(img, sig) == payload
    verified = signed.verify_signed(img, sig, path="xous.img")
    assert verified.developer and verified.algorithm == "Ed25519ph"
    assert "DEVELOPER KEY" in verified.describe()
    assert verified.digest == hashlib.sha512(img[4096:]).digest()


def test_precursor_v1_is_pure_ed25519_over_the_region() -> None:
    img = _precursor(1, b"\x13" * 100)
    # an independent check with OpenSSL: pure Ed25519 over R = file[4096:]
    Ed25519PublicKey.from_public_bytes(ed25519.public_key(DEV_SEED)).verify(img[8:72],
                                                                            img[4096:])
    sig = signed.parse_signed(img)
    assert sig.kind == "precursor-v1"
    assert signed.verify_signed(img, sig).algorithm == "Ed25519"


def test_precursor_with_jump() -> None:
    img = _precursor(1, bytes(64), with_jump=True)
    assert img[:4] == bytes.fromhex("6f100000")
    sig = signed.parse_signed(img)
    assert isinstance(sig, signed_precursor.PrecursorSignature)
    assert sig.jump == 0x106F and sig.header_len == 4096
    signed.verify_signed(img, sig)
    img2 = _precursor(2, bytes(64), with_jump=True, header_len=768)
    sig2 = signed.parse_signed(img2)
    assert isinstance(sig2, signed_precursor.PrecursorSignature)
    assert sig2.header_len == 768 and sig2.payload_offset == 768
    assert any("does not boot there" in w for w in sig2.warnings)
    signed.verify_signed(img2, sig2)


def test_precursor_other_header_length_needs_telling() -> None:
    img = _precursor(2, bytes(64), header_len=1024)
    sig = signed_precursor.parse_precursor(img, header_len=1024)
    signed.verify_signed(img, sig)
    with pytest.raises(FormatError, match="truncated"):
        signed.parse_signed(img)


def test_bao1x_round_trip_fields() -> None:
    payload = b"XArg" + bytes(4092)
    img = _bao1x(payload)
    sig = signed.parse_signed(img)
    assert isinstance(sig, signed_bao1x.Bao1xSignature)
    assert img[:4] == bytes.fromhex("6f000030")
    assert img[136:144] == b"ymuy3oaB"
    assert sig.version == 0x100 and sig.signed_len == len(payload) + 636
    assert (sig.function, sig.anti_rollback) == ("kernel", 1)
    assert [s.tag for s in sig.pubkeys] == [b"bao1", b"bao2", b"beta", b"dev "]
    assert "developer key" in sig.pubkeys[3].name
    assert sig.toolchain == bytes(20) and sig.padding_zero and sig.warnings == ()
    assert signed.inner_image(img, sig) == payload
    assert signed.verify_signed(img, sig).developer


@pytest.mark.parametrize("make", [lambda: _precursor(1), lambda: _precursor(2),
                                  lambda: _bao1x()], ids=["v1", "v2", "bao1x"])
def test_flipped_signed_byte_fails(make: Callable[[], bytes]) -> None:
    img = bytearray(make())
    img[-100] ^= 0x40
    sig = signed.parse_signed(bytes(img))
    with pytest.raises(VerificationError, match="signature does not match key"):
        signed.verify_signed(bytes(img), sig, [ed25519.public_key(DEV_SEED)])


def test_wrong_key_names_the_key() -> None:
    img = _precursor(2)
    sig = signed.parse_signed(img)
    with pytest.raises(VerificationError) as err:
        signed.verify_signed(img, sig, [OTHER_PUBLIC], path="xous.img")
    text = str(err.value)
    assert f"signature does not match key {OTHER_PUBLIC.hex()}" in text
    assert "xous.img" in text


def test_default_keys_are_all_tried_and_listed() -> None:
    img = _bao1x(seed=OTHER_SEED)
    sig = signed.parse_signed(img)
    with pytest.raises(VerificationError) as err:
        signed.verify_signed(img, sig)
    for name in ("bao1", "bao2", "beta", "developer key", "testing key"):
        assert name in str(err.value)
    verified = signed.verify_signed(img, sig, [OTHER_PUBLIC])
    assert not verified.developer and "DEVELOPER" not in verified.describe()


def test_precursor_defile_flips_one_bit_at_16778() -> None:
    payload = bytes(20000)
    good, bad = _precursor(2, payload), _precursor(2, payload, defile=True)
    diff = [i for i in range(len(good)) if good[i] != bad[i]]
    assert diff == [4096 + 16778] and good[diff[0]] ^ bad[diff[0]] == 1
    with pytest.raises(VerificationError):
        signed.verify_signed(bad, signed.parse_signed(bad))
    with pytest.raises(InputError, match="too small to defile"):
        _precursor(2, bytes(100), defile=True)


def test_bao1x_defile() -> None:
    good, bad = _bao1x(), _bao1x(defile=True)
    diff = [i for i in range(len(good)) if good[i] != bad[i]]
    assert diff == [132 + 220 + 16]
    sig = signed.parse_signed(bad)
    assert isinstance(sig, signed_bao1x.Bao1xSignature)
    assert not sig.padding_zero and any("defile" in w for w in sig.warnings)
    with pytest.raises(VerificationError):
        signed.verify_signed(bad, sig)


def test_bao1x_fido2_variant() -> None:
    """aad_len > 0: pure Ed25519 over aad || SHA-256(SHA-512(region)), signed here with
    OpenSSL so our verifier is checked against another implementation."""
    authdata = bytes.fromhex(
        "e30610e8a162115960fe1ec223e6529c9f4b6e80200dcb5e5c321c8af1e2b1bf050000020f")
    img = bytearray(_bao1x(b"payload!" * 64))
    struct.pack_into("<I", img, 68, len(authdata))
    img[72:72 + len(authdata)] = authdata
    region = bytes(img[132:])
    message = authdata + hashlib.sha256(hashlib.sha512(region).digest()).digest()
    img[4:68] = Ed25519PrivateKey.from_private_bytes(OTHER_SEED).sign(message)
    sig = signed.parse_signed(bytes(img))
    verified = signed.verify_signed(bytes(img), sig, [OTHER_PUBLIC])
    assert verified.algorithm == "Ed25519 (FIDO2)"
    img[200] ^= 1
    with pytest.raises(VerificationError):
        signed.verify_signed(bytes(img), signed.parse_signed(bytes(img)), [OTHER_PUBLIC])


def test_bao1x_kernel_size_limit() -> None:
    limit_payload = signed_bao1x.BAO1X_KERNEL_LIMIT - 768
    assert len(_bao1x(bytes(limit_payload))) == signed_bao1x.BAO1X_KERNEL_LIMIT
    with pytest.raises(OverflowError_, match="does not fit"):
        _bao1x(bytes(limit_payload + 1))
    # the limit is the kernel's: an app of the same size signs
    signed_bao1x.sign_bao1x(bytes(limit_payload + 1), DEV_SEED,
                            function=signed_bao1x.FUNCTION_CODES["app"],
                            anti_rollback=1, min_version=MINVER, semver=SEMVER)


def test_parse_errors() -> None:
    img = _precursor(2)
    with pytest.raises(FormatError) as err:
        signed.parse_signed(img[:-1], path="cut.img")
    assert "cut.img" in str(err.value) and err.value.field == "signed_len"
    with pytest.raises(FormatError, match="not a signed Xous image"):
        signed.parse_signed(b"XArg" + bytes(100))
    with pytest.raises(FormatError, match="bao1x"):
        signed_bao1x.parse_bao1x(bytes(1000))
    bad = bytearray(_bao1x())
    struct.pack_into("<I", bad, 144, 10)
    with pytest.raises(FormatError, match="shorter than the block"):
        signed.parse_signed(bytes(bad))


def test_inconsistent_trailer_is_a_warning() -> None:
    img = bytearray(_precursor(2))
    struct.pack_into("<I", img, len(img) - 8, 1)
    sig = signed.parse_signed(bytes(img) + b"\xff" * 8)
    assert any("trailer version 1" in w for w in sig.warnings)
    assert any("8 bytes after the signed region" in w for w in sig.warnings)


def test_anti_rollback_hjson() -> None:
    text = '{\n  // comment\n  "kernel": "1", // trailing\n  "swap": "7"\n}\n'
    assert signing_inputs.anti_rollback_from_hjson(text, "swap") == 7
    with pytest.raises(InputError) as err:
        signing_inputs.anti_rollback_from_hjson(text, "app", path="signing/anti-rollback.hjson")
    assert "anti-rollback.hjson" in str(err.value) and err.value.field == "app"
    with pytest.raises(InputError, match="decimal"):
        signing_inputs.anti_rollback_from_hjson('{"swap": 1}', "swap")
    with pytest.raises(InputError, match="not JSON"):
        signing_inputs.anti_rollback_from_hjson("{swap: 1}", "swap")


def test_function_codes_and_uf2() -> None:
    assert signed_bao1x.function_code("swap") == 0x8000
    assert signed_bao1x.function_name(0x101) == "updated-kernel"
    assert signed_bao1x.function_name(0x12345) is None
    with pytest.raises(InputError, match="unknown function code"):
        signed_bao1x.function_code("bootloader")
    img = _bao1x()
    decoded = uf2.decode(signed_bao1x.uf2_for(img, "kernel"))
    assert (decoded.base, decoded.family) == (0x6009FD00, 0xA7D76373)
    assert decoded.data == img + bytes(-len(img) % 256)
    assert signed.uf2_name("out/xous.img") == "out/xous.uf2"

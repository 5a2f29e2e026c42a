"""Property tests: the signed-image, swap-image, swap-args, UF2, read-tags and key parsers
fail only with our own errors, whatever the bytes."""

from __future__ import annotations

import functools
import json
import struct
from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from bootproof.builder import ed25519
from bootproof.builder.errors import BootproofError
from bootproof.builder.formats import uf2
from bootproof.builder.xous import (
    read_tags,
    signed,
    signed_bao1x,
    signed_precursor,
    swap_args,
    swap_image,
)
from bootproof.builder.xous.examine import examine
from bootproof.builder.xous.identify import KINDS, identify
from bootproof.builder.xous.keys import DEVELOPER_KEY_PEM
from bootproof.builder.xous.semver import SemVer

SEED = ed25519.seed_from_pem(DEVELOPER_KEY_PEM)
V = SemVer(0, 9, 8, 791)
PROG = swap_args.SwapProgram("p", 0x10000, ((0x10000, 0x40, 5), (0x20000, 0x10, 2)),
                             bytes(range(64)))
BLOCK = swap_args.build_swap_args(0, 0x800000, [PROG])
PAYLOAD = BLOCK[:0x1100]
SAMPLES = {
    "v1": signed_precursor.sign_precursor(PAYLOAD, SEED, version=1, min_version=V, semver=V),
    "v2": signed_precursor.sign_precursor(PAYLOAD, SEED, version=2, min_version=V, semver=V,
                                          with_jump=True, header_len=512),
    "bao1x": signed_bao1x.sign_bao1x(PAYLOAD, SEED, function=0x100, anti_rollback=1,
                                     min_version=V, semver=V),
    "swap": swap_image.build_swap_image(BLOCK, seed=SEED, partial_nonce=7, semver=V,
                                        anti_rollback=1),
    "swap-debug": swap_image.build_swap_debug_image(BLOCK, partial_nonce=7),
    "uf2": swap_image.swap_uf2(swap_image.build_swap_debug_image(BLOCK, partial_nonce=7)),
}


def _own_errors_only(fn: Callable[[], object]) -> None:
    try:
        fn()
    except BootproofError as exc:
        str(exc)  # the message renders


def _signed_pipeline(data: bytes) -> None:
    sig = signed.parse_signed(data, path="fuzz.img")
    assert len(signed.inner_image(data, sig)) == sig.payload_len
    signed.verify_signed(data, sig, path="fuzz.img")


def _swap_pipeline(data: bytes) -> None:
    image = swap_image.parse_swap_image(data, path="fuzz.img")
    signature = image.signature
    if signature is not None:
        _own_errors_only(lambda: signed.verify_signed(data, signature))
    plain = swap_image.decrypt_swap_image(data, image, path="fuzz.img")
    swap_args.decode_swap_args(plain, path="fuzz.img")


def _everything(data: bytes) -> None:
    assert identify(data) in KINDS
    read_tags.read_tags_bytes(data)
    _own_errors_only(lambda: _signed_pipeline(data))
    _own_errors_only(lambda: _swap_pipeline(data))
    _own_errors_only(lambda: swap_args.decode_swap_args(data))
    _own_errors_only(lambda: uf2.decode(data))
    _own_errors_only(lambda: _examined(data))


def _examined(data: bytes) -> None:
    """What `bootproof xous inspect` does with any bytes: a result that renders, or our error."""
    found = examine(data, path="fuzz.img", decrypt_key=None)
    found.to_text()
    json.dumps(found.to_json())
    found.problems()


@settings(deadline=None)
@given(st.binary(max_size=1200))
def test_random_bytes(data: bytes) -> None:
    _everything(data)


@settings(deadline=None)
@given(st.sampled_from([b"\x01\0\0\0", b"\x02\0\0\0", b"\x6f\x10\0\0\x02\0\0\0",
                        b"\0\0\x01\x01", b"XArg", b"UF2\n"]),
       st.binary(max_size=5000))
def test_random_after_magic(magic: bytes, tail: bytes) -> None:
    _everything(magic + tail)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(SAMPLES)), st.data())
def test_mutated_images(name: str, draw: st.DataObject) -> None:
    data = bytearray(SAMPLES[name])
    hot = [0, 4, 8, 12, 16, 68, 132, 136, 144, 148, 0xD00, 0xD00 + 144, 0x1000]
    for _ in range(draw.draw(st.integers(1, 6))):
        pos = draw.draw(st.one_of(st.sampled_from(hot), st.integers(0, len(data) - 1)))
        pos = min(pos, len(data) - 1)
        if draw.draw(st.booleans()):
            data[pos] = draw.draw(st.integers(0, 255))
        else:
            word = draw.draw(st.sampled_from([0, 1, 0xFFFF_FFFF, 0x1000, len(data)]))
            data[pos:pos + 4] = struct.pack("<I", word)[:len(data) - pos]
    cut = draw.draw(st.integers(0, len(data)))
    _everything(bytes(data[:cut]))
    _everything(bytes(data))


@settings(deadline=None)
@given(st.text(max_size=40))
def test_version_and_nonce_text(text: str) -> None:
    _own_errors_only(lambda: SemVer.parse(text))
    _own_errors_only(lambda: swap_image.partial_nonce_from_rev(text))
    _own_errors_only(lambda: SemVer.parse("v" + text))


@settings(deadline=None)
@given(st.binary(max_size=200))
def test_key_files(data: bytes) -> None:
    _own_errors_only(lambda: ed25519.seed_from_pem(data))
    body = b"-----BEGIN PRIVATE KEY-----\n" + data + b"\n-----END PRIVATE KEY-----\n"
    _own_errors_only(lambda: ed25519.seed_from_pem(body))
    for label in (b"PUBLIC KEY", b"PRIVATE KEY"):
        pem = b"-----BEGIN " + label + b"-----\n" + data + b"\n-----END " + label + b"-----\n"
        _own_errors_only(functools.partial(ed25519.public_from_pem, pem))

"""Swap: RFC 8452 vectors, the Swap tag, swap args, encrypted/debug images, UF2, model vectors."""

from __future__ import annotations

import hashlib
import struct
from typing import Any

import pytest
from crc_model import crc16_x25_model

from bootproof.builder import ed25519
from bootproof.builder.errors import FormatError, InputError, VerificationError
from bootproof.builder.formats import uf2
from bootproof.builder.layout import AddressRange, NamedRange
from bootproof.builder.xous import signed, swap_args, swap_image
from bootproof.builder.xous.keys import DEVELOPER_KEY_PEM
from bootproof.builder.xous.semver import SemVer
from bootproof.builder.xous.swap_args import SwapProgram
from bootproof.builder.xous.swap_space import SwapSpace
from bootproof.builder.xous.tags import Swap

DEV_SEED = ed25519.seed_from_pem(DEVELOPER_KEY_PEM)
REV = "0123456789abcdef0123456789abcdef01234567"
NONCE = 0x89ABCDEF01234567
SEMVER = SemVer.parse("v0.10.0-19-g0d934e1")

# RFC 8452 Appendix C.2 (AEAD_AES_256_GCM_SIV) and C.3 (counter wrap, zero key):
# (key, nonce, aad, plaintext, result = ciphertext || tag), transcribed from the RFC.
K1 = "01" + "00" * 31
N1 = "03" + "00" * 11
RFC8452 = [
    (K1, N1, "", "", "07f5f4169bbf55a8400cd47ea6fd400f"),
    (K1, N1, "", "0100000000000000", "c2ef328e5c71c83b843122130f7364b761e0b97427e3df28"),
    (K1, N1, "", "010000000000000000000000",
     "9aab2aeb3faa0a34aea8e2b18ca50da9ae6559e48fd10f6e5c9ca17e"),
    (K1, N1, "", "01000000000000000000000000000000",
     "85a01b63025ba19b7fd3ddfc033b3e76c9eac6fa700942702e90862383c6c366"),
    (K1, N1, "", "01000000000000000000000000000000" "02000000000000000000000000000000",
     "4a6a9db4c8c6549201b9edb53006cba821ec9cf850948a7c86c68ac7539d027f"
     "e819e63abcd020b006a976397632eb5d"),
    (K1, N1, "", "01000000000000000000000000000000" "02000000000000000000000000000000"
     "03000000000000000000000000000000",
     "c00d121893a9fa603f48ccc1ca3c57ce7499245ea0046db16c53c7c66fe717e3"
     "9cf6c748837b61f6ee3adcee17534ed5790bc96880a99ba804bd12c0e6a22cc4"),
    (K1, N1, "01", "0200000000000000", "1de22967237a813291213f267e3b452f02d01ae33e4ec854"),
    (K1, N1, "01", "02000000000000000000000000000000" "03000000000000000000000000000000",
     "07dad364bfc2b9da89116d7bef6daaaf6f255510aa654f920ac81b94e8bad365"
     "aea1bad12702e1965604374aab96dbbc"),
    ("3c535de192eaed3822a2fbbe2ca9dfc88255e14a661b8aa82cc54236093bbc23",
     "688089e55540db1872504e1c",
     "734320ccc9d9bbbb19cb81b2af4ecbc3e72834321f7aa0f70b7282b4f33df23f167541",
     "ced532ce4159b035277d4dfbb7db62968b13cd4eec",
     "626660c26ea6612fb17ad91e8e767639edd6c9faee9d6c7029675b89eaf4ba1ded1a286594"),
    ("00" * 32, "00" * 12, "",
     "00000000000000000000000000000000" "4db923dc793ee6497c76dcc03a98e108",
     "f3f80f2cf0cb2dd9c5984fcda908456cc537703b5ba70324a6793a7bf218d3ea"
     "ffffffff000000000000000000000000"),
]


@pytest.mark.parametrize(("key", "nonce", "aad", "plain", "result"), RFC8452)
def test_rfc8452_aes256_gcm_siv(key: str, nonce: str, aad: str, plain: str,
                                result: str) -> None:
    k, n, a, p = (bytes.fromhex(x) for x in (key, nonce, aad, plain))
    ct, tag = swap_image.seal(k, n, p, a)
    assert (ct + tag).hex() == result
    assert swap_image.unseal(k, n, ct, tag, a) == p
    assert swap_image.unseal(k, n, ct, tag, a + b"x") is None


# Spec addendum §2.9 "model" vectors: produced by the spec author's Python model (checked
# against RFC 8452 and the repository's key constants), NOT by the Rust xous-create-image.
def test_model_vector_one_zero_page() -> None:
    ct, tag = swap_image.seal(swap_image.ZERO_KEY, swap_image.page_nonce(0, NONCE),
                              bytes(4096), b"swap")
    assert ct[:16].hex() == "e45af2bfc8cf200a31f7ce24b5364686"
    assert tag.hex() == "48bde9a17d8e73a862c69fb60fefca90"
    assert hashlib.sha256(ct).hexdigest() == (
        "eae9efc6df8bfcc30a189ecbf02cdac03c1f8fdbe475f1df1846e6689c5bf70d")


def test_model_vector_full_images() -> None:
    block = swap_args.build_swap_args(0, 0x800000, [])
    assert block.hex() == "58417267ae960500" "07000000010000000000000000008000" "53776170"
    img = swap_image.build_swap_image(block, seed=DEV_SEED,
                                      partial_nonce=swap_image.partial_nonce_from_rev(REV),
                                      semver=SEMVER, anti_rollback=1)
    assert len(img) == 8208
    assert hashlib.sha256(img).hexdigest() == (
        "a74d5ad378e6b9ea1f682b0c5f53b99e48ffe9ab45cbb76b27a65c4227f8a1b1")
    assert img[:20].hex() == "0000010189abcdef0123456700100000" "04000000"
    assert img[0x2000:0x2010].hex() == "fe3f06fcef0aa197238f0153a5d4f7ed"
    assert img[0xD84:0xD84 + 24].hex() == (
        "00010000796d7579336f61428c12000000800000" "01000000")
    debug = swap_image.build_swap_debug_image(block, partial_nonce=NONCE)
    assert len(debug) == 4124
    assert hashlib.sha256(debug).hexdigest() == (
        "311e42549bd89fcc020a6622ef3977744989e5a1bd36e3e71feae22dd9117d6d")


@pytest.mark.parametrize(("offset", "size", "crc"), [(0x40200000, 0x400000, 0x4D95),
                                                     (0, 0x800000, 0xE493)])
def test_swap_tag_body(offset: int, size: int, crc: int) -> None:
    """Spec addendum §1.2 examples; the CRC from the tests' own CRC model."""
    body = Swap(NamedRange("Swap", AddressRange(offset, size))).encode()
    assert body == (struct.pack("<2I", offset, size) + b"Swap" + bytes(32)
                    + bytes.fromhex("00002021"))
    assert crc16_x25_model(body) == crc
    assert Swap.decode(body, offset=28) == Swap(NamedRange("Swap", AddressRange(offset, size)))
    with pytest.raises(FormatError):
        Swap.decode(body[:44], offset=28)


def test_swap_ram_figures() -> None:
    d = SwapSpace(NamedRange("Swap", AddressRange(0, 0x800000)), Swap.FLASH_OFFSET, True)
    assert d.pages == 2048
    assert d.usable == 0x800000 - 0x8000  # 2048 MACs of 16 bytes = 8 pages
    assert swap_args.trimmed_ram_size(0x40000000, 0x1000000, 0x40200000) == 0x200000
    assert swap_args.trimmed_ram_size(0x40000000, 0x100000, 0x40200000) == 0x100000
    with pytest.raises(InputError, match="above the start of main RAM"):
        swap_args.trimmed_ram_size(0x40000000, 0x1000000, 0x40000000)


def test_partial_nonce() -> None:
    assert swap_image.partial_nonce_from_rev(REV) == NONCE
    assert swap_image.partial_nonce_from_rev(REV + "\n\n") == NONCE
    assert swap_image.page_nonce(0x3000, NONCE).hex() == "0000300089abcdef01234567"
    for bad in (REV + "\r\n", REV + " ", "89abcdef0123456", REV[:-1] + "z"):
        with pytest.raises(InputError) as err:
            swap_image.partial_nonce_from_rev(bad)
        assert err.value.field == "--git-rev"


PROG_A = SwapProgram("alpha", 0x10000, ((0x10000, 0x1800, 0x05), (0x20000, 0x100, 0x01),
                                        (0x20100, 0x400, 0x02)), b"A" * 0x1900)
PROG_B = SwapProgram("beta", 0x30000, ((0x30000, 0x2000, 0x05),), b"B" * 0x2000)


def test_swap_args_layout() -> None:
    block = swap_args.build_swap_args(0x40200000, 0x400000, [PROG_A, PROG_B])
    length = 28 + (16 + 24) + (16 + 8)
    assert len(block) == 0x1000 + 0x2000 + 0x2000
    assert block[:4] == b"XArg" and struct.unpack_from("<I", block, 8)[0] == length // 4
    assert block[length:0x1000] == bytes(0x1000 - length)
    assert block[0x1000:0x2900] == b"A" * 0x1900 and block[0x2900:0x3000] == bytes(0x700)
    assert block[0x3000:0x5000] == b"B" * 0x2000
    inis_a = block[28:28 + 40]
    assert inis_a[:4] == b"IniS"
    assert struct.unpack_from("<2HII", inis_a, 4) == (crc16_x25_model(inis_a[8:]), 8,
                                                      0x1000, 0x10000)
    assert struct.unpack_from("<2I", inis_a, 16) == (0x10000, 0x05 << 24 | 0x1800)
    args = swap_args.decode_swap_args(block, first_pid=4)
    assert (args.ram_start, args.ram_size, args.ram_name) == (0x40200000, 0x400000, "Swap")
    assert [t.tag for t in args.tags] == ["XArg", "IniS", "IniS"]
    assert [(p.pid, p.load_offset, p.payload_size) for p in args.programs] == [
        (4, 0x1000, 0x1900), (5, 0x3000, 0x2000)]
    assert args.programs[0].sections[2].file_offset is None  # NOCOPY
    assert args.warnings == ()


def test_swap_args_past_page_zero_is_built_but_warned() -> None:
    many = SwapProgram("wide", 0, tuple((0x10000 + 16 * i, 16, 1) for i in range(520)),
                       bytes(16 * 520))
    block = swap_args.build_swap_args(0, 0x800000, [many])
    length = 28 + 16 + 8 * 520
    assert length > 4096 and struct.unpack_from("<I", block, 36)[0] == 0x2000
    args = swap_args.decode_swap_args(block)
    assert any("page 0 only" in w for w in args.warnings)


def test_swap_args_decode_errors_and_warnings() -> None:
    with pytest.raises(FormatError, match="XArg"):
        swap_args.decode_swap_args(b"IniS" + bytes(40), path="x")
    block = bytearray(swap_args.build_swap_args(0, 0x800000, [PROG_B]))
    block[44] ^= 1  # inside the IniS body: its CRC no longer matches
    args = swap_args.decode_swap_args(bytes(block))
    assert any("CRC FAIL" in w for w in args.warnings)
    with pytest.raises(FormatError, match="longer than the data"):
        swap_args.decode_swap_args(bytes(block[:40]))


def _image(programs: list[SwapProgram], **kw: Any) -> tuple[bytes, bytes]:
    block = swap_args.build_swap_args(0, 0x800000, programs)
    return block, swap_image.build_swap_image(block, seed=DEV_SEED, partial_nonce=NONCE,
                                              semver=SEMVER, anti_rollback=1, **kw)


def test_encrypted_round_trip() -> None:
    block, img = _image([PROG_A, PROG_B])
    pages = len(block) // 4096
    assert len(img) == 4096 + 4112 * pages
    parsed = swap_image.parse_swap_image(img, path="swap.img")
    assert parsed.kind == "encrypted" and parsed.pages == pages and parsed.warnings == ()
    assert parsed.header.partial_nonce == NONCE and parsed.header.mac_offset == len(block)
    sig = parsed.signature
    assert sig is not None and sig.offset == 0xD00 and sig.function == "swap"
    assert sig.min_version == SemVer(0, 0, 0)
    assert signed.verify_signed(img, sig).developer
    plain = swap_image.decrypt_swap_image(img, parsed)
    assert plain == block
    args = swap_args.decode_swap_args(plain)
    assert [p.load_offset for p in args.programs] == [0x1000, 0x3000]


def test_wrong_key_and_tampering() -> None:
    _, img = _image([PROG_A])
    parsed = swap_image.parse_swap_image(img)
    sig = parsed.signature
    assert sig is not None
    with pytest.raises(VerificationError, match=r"page 0 .* does not decrypt with the key"):
        swap_image.decrypt_swap_image(img, parsed, key=b"\x01" * 32, path="swap.img")
    for where, page in ((0x1000 + 5, 0), (0x2000 + 7, 1), (0x1000 + parsed.header.mac_offset
                                                          + 16 + 3, 1)):
        bad = bytearray(img)
        bad[where] ^= 0x80
        with pytest.raises(VerificationError, match=f"page {page} "):
            swap_image.decrypt_swap_image(bytes(bad), swap_image.parse_swap_image(bytes(bad)))
        with pytest.raises(VerificationError, match="signature does not match"):
            signed.verify_signed(bytes(bad), sig)
    # the header is not signed, but a changed nonce no longer authenticates
    bad = bytearray(img)
    bad[11] ^= 1
    signed.verify_signed(bytes(bad), sig)
    with pytest.raises(VerificationError, match="page 0"):
        swap_image.decrypt_swap_image(bytes(bad), swap_image.parse_swap_image(bytes(bad)))


def test_defiled_swap_image_fails_its_signature_but_decrypts() -> None:
    block, img = _image([PROG_B], defile=True)
    parsed = swap_image.parse_swap_image(img)
    assert parsed.signature is not None
    with pytest.raises(VerificationError):
        signed.verify_signed(img, parsed.signature)
    assert swap_image.decrypt_swap_image(img, parsed) == block


def test_debug_image() -> None:
    block = swap_args.build_swap_args(0, 0x800000, [PROG_A])
    dbg = swap_image.build_swap_debug_image(block, partial_nonce=NONCE)
    assert len(dbg) == 4096 + len(block) and dbg[0xD00:0x1000] == bytes(0x300)
    parsed = swap_image.parse_swap_image(dbg)
    assert parsed.kind == "debug" and parsed.signature is None and parsed.warnings == ()
    assert swap_image.decrypt_swap_image(dbg, parsed) == block


def test_unsigned_encrypted_variant() -> None:
    """2024-04 .. 2025-10: header page without a signature block, then pages and MACs."""
    block = swap_args.build_swap_args(0, 0x800000, [PROG_A])
    ct, macs = swap_image.encrypt_pages(block, partial_nonce=NONCE)
    head = swap_image.SwapSourceHeader.for_block(len(block), NONCE).encode()
    img = head + bytes(4096 - len(head)) + ct + macs
    parsed = swap_image.parse_swap_image(img)
    assert parsed.kind == "encrypted-unsigned" and parsed.signature is None
    assert swap_image.decrypt_swap_image(img, parsed) == block


def test_parse_errors() -> None:
    _, img = _image([PROG_A])
    with pytest.raises(FormatError, match="truncated"):
        swap_image.parse_swap_image(img[:-1], path="swap.img")
    with pytest.raises(FormatError):
        swap_image.parse_swap_image(img[:4000])
    bad = bytearray(img)
    struct.pack_into("<I", bad, 12, 0x1001)
    with pytest.raises(FormatError, match="multiple of 4096"):
        swap_image.parse_swap_image(bytes(bad))
    bad = bytearray(img)
    struct.pack_into("<I", bad, 16, 65)
    parsed = swap_image.parse_swap_image(bytes(bad))
    assert any("aad_len" in w for w in parsed.warnings)
    with pytest.raises(FormatError, match="aad_len"):
        swap_image.decrypt_swap_image(bytes(bad), parsed)


def test_uf2_wrapper() -> None:
    _, img = _image([PROG_A])
    out = swap_image.swap_uf2(img)
    blocks = -(-len(img) // 256)
    assert len(out) == 512 * blocks
    head = struct.unpack_from("<8I", out, 512 * 3)
    assert head == (0x0A324655, 0x9E5D5157, 0x2000, 0x70000000 + 256 * 3, 256, 3, blocks,
                    0xA7D76373)
    assert out[512 * 3 + 32:512 * 3 + 288] == img[768:1024]
    assert out[512 * 3 + 288:512 * 3 + 508] == bytes(220)
    assert out[512 * 4 - 4:512 * 4] == struct.pack("<I", 0x0AB16F30)
    decoded = uf2.decode(out)
    assert decoded.base == 0x70000000 and decoded.blocks == blocks
    assert decoded.data == img + bytes(-len(img) % 256)
    assert signed.uf2_name("build/swap.img") == "build/swap.uf2"


def test_uf2_decode_errors() -> None:
    good = uf2.encode(b"x" * 600, base=0x1000, family=1)
    for bad, what in ((good[:-1], "whole number"), (b"\0" * 512, "magic"),
                      (good[512:], "found as block")):
        with pytest.raises(FormatError, match=what):
            uf2.decode(bad)


def test_missing_gcm_siv_support_is_our_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """An OpenSSL without AES-GCM-SIV (before 3.2) gives one clear error, cause kept."""
    from cryptography.exceptions import UnsupportedAlgorithm

    from bootproof.builder.errors import BootproofError

    def unsupported(key: bytes) -> None:
        raise UnsupportedAlgorithm("AES-GCM-SIV is not supported by this version of OpenSSL")

    monkeypatch.setattr(swap_image, "AESGCMSIV", unsupported)
    with pytest.raises(BootproofError, match=r"OpenSSL 3\.2") as err:
        swap_image.encrypt_pages(bytes(10), partial_nonce=1)
    assert isinstance(err.value.__cause__, UnsupportedAlgorithm)

"""xous-read-tags output, line for line (spec addendum §4), over bytes and decoded tags."""

from __future__ import annotations

import struct

import pytest
from crc_model import crc16_x25_model
from xousargs_helpers import XOUS_FIXTURES

from bootproof.builder import ed25519
from bootproof.builder.xous import read_tags, swap_args, swap_image
from bootproof.builder.xous.inspect import decode
from bootproof.builder.xous.keys import DEVELOPER_KEY_PEM
from bootproof.builder.xous.semver import SemVer
from bootproof.builder.xous.signed_precursor import sign_precursor

DEFAULT_2020 = (XOUS_FIXTURES / "args-default-2020.bin").read_bytes()

# Spec addendum §4, "verified example" (fixture args-default-2020.bin); the MREx line is
# elided there after four words and completed here from the fixture's 96-byte body.
EXPECTED_2020 = [
    "Found Xous Args Size at offset 8, setting total_words to 208",
    "67724158 (XArg) (20 bytes, crc: 48b0): 00000034 00000001 40000000 01000000 78457253"
    "  CRC: OK",
    "7845524d (MREx) (96 bytes, crc: 671a): e0000000 00001000 69647541 00000000",
    "45696e49 (IniE) (32 bytes, crc: 2aba): 000000d0 00015dae 000100b8 00001b65 00012000"
    " 04003dae 00015dae 04000018  CRC: OK",
    "6e724b58 (XKrn) (28 bytes, crc: 9fb1): 000059fc ffd00000 0000eff4 ffd80000 00002bcc"
    " 00000210 ffd00000  CRC: OK",
]


def _tag(name: bytes, body: bytes, crc: int | None = None) -> bytes:
    crc = crc16_x25_model(body) if crc is None else crc
    return name + struct.pack("<2H", crc, len(body) // 4) + body


def test_fixture_2020_line_for_line() -> None:
    out = read_tags.read_tags_bytes(DEFAULT_2020)
    assert out.error is None
    lines = list(out.lines)
    assert len(lines) == 5
    assert lines[:2] == EXPECTED_2020[:2]
    assert lines[2].startswith(EXPECTED_2020[2] + " ") and lines[2].endswith("  CRC: OK")
    assert len(lines[2].split("): ", 1)[1].split()) == 24 + 2  # 24 words, "CRC:", "OK"
    assert lines[3:] == EXPECTED_2020[3:]
    assert out.text == "".join(line + "\n" for line in lines)


@pytest.mark.parametrize("name", ["args-default-2020.bin", "args-span-page-2020.bin"])
def test_decoded_tags_give_the_same_output(name: str) -> None:
    data = (XOUS_FIXTURES / name).read_bytes()
    layout = decode(data)
    tags = read_tags.raw_tags_from_offsets(
        data, [(t.offset, t.crc16, t.size_words) for t in layout.tags])
    assert read_tags.read_tags(tags) == read_tags.read_tags_bytes(data)


def test_crc_fail_line_shows_the_computed_crc() -> None:
    data = bytearray(DEFAULT_2020)
    data[28 + 8] ^= 0xFF  # first MREx body byte
    body = bytes(data[36:36 + 96])
    line = read_tags.read_tags_bytes(bytes(data)).lines[2]
    assert line.endswith(f"  CRC: FAIL (calc: {crc16_x25_model(body):04x})")
    assert "(96 bytes, crc: 671a)" in line


def test_signed_image_without_stripping_panics_after_one_line() -> None:
    seed = ed25519.seed_from_pem(DEVELOPER_KEY_PEM)
    img = sign_precursor(DEFAULT_2020, seed, version=2, min_version=SemVer(0, 0, 0),
                         semver=SemVer(0, 0, 0))
    out = read_tags.read_tags_bytes(img)
    size = int.from_bytes(img[6:8], "little") * 4
    assert len(out.lines) == 1
    assert out.lines[0].startswith(f"00000002 (\x02\x00\x00\x00) ({size} bytes, crc: ")
    assert out.error == f"exceeded total words (0) with byte_offset of {8 + size}"


def test_stripped_debug_swap_image_reads() -> None:
    prog = swap_args.SwapProgram("p", 0x10000, ((0x10000, 0x100, 5),), bytes(0x100))
    block = swap_args.build_swap_args(0, 0x800000, [prog])
    dbg = swap_image.build_swap_debug_image(block, partial_nonce=1)
    out = read_tags.read_tags_bytes(dbg[4096:])
    assert out.error is None
    assert out.lines[0] == "Found Xous Args Size at offset 8, setting total_words to 52"
    assert out.lines[1].startswith("67724158 (XArg) (20 bytes, crc: ")
    assert out.lines[1].endswith(" 0000000d 00000001 00000000 00800000 70617753  CRC: OK")
    assert out.lines[2].startswith("53696e49 (IniS) (16 bytes, crc: ")
    assert out.lines[2].endswith(": 00001000 00010000 00010000 05000100  CRC: OK")


def test_second_xarg_fires_again_and_stops_on_total() -> None:
    xarg1 = _tag(b"XArg", struct.pack("<4I", 7, 1, 0, 0) + b"SrIn")
    xarg2 = _tag(b"XArg", struct.pack("<4I", 14, 1, 0, 0) + b"SrIn")
    out = read_tags.read_tags_bytes(xarg1 + xarg2 + b"trailing garbage")
    # the first XArg ends exactly at total = 28: the walk stops there
    assert out.error is None and len(out.lines) == 2
    xarg1 = _tag(b"XArg", struct.pack("<4I", 100, 1, 0, 0) + b"SrIn")
    out = read_tags.read_tags_bytes(xarg1 + xarg2 + bytes(100))
    assert [line[:5] for line in out.lines] == ["Found", "67724", "Found", "67724"]
    assert out.lines[2] == "Found Xous Args Size at offset 36, setting total_words to 56"
    assert out.error is None


def test_overrun_and_truncation() -> None:
    xarg = _tag(b"XArg", struct.pack("<4I", 8, 1, 0, 0) + b"SrIn")  # total 32 bytes
    bflg = b"\4\0\0\0"
    out = read_tags.read_tags_bytes(xarg + _tag(b"Bflg", bflg))
    assert out.error == "exceeded total words (32) with byte_offset of 40"
    crc = crc16_x25_model(bflg)
    assert out.lines[-1] == f"676c6642 (Bflg) (4 bytes, crc: {crc:04x}): 00000004  CRC: OK"
    xarg = _tag(b"XArg", struct.pack("<4I", 20, 1, 0, 0) + b"SrIn")
    out = read_tags.read_tags_bytes(xarg + _tag(b"Bflg", b"\4\0\0\0")[:10])
    assert out.error is not None and "truncated" in out.error and len(out.lines) == 2
    out = read_tags.read_tags_bytes(xarg)
    assert out.error is not None and "ends before the tag block" in out.error
    assert read_tags.read_tags_bytes(b"").error is not None


def test_empty_body_and_non_utf8_name() -> None:
    line = read_tags.format_tag_line(b"\xffAB\x00", 0, b"")
    assert line == "004241ff (\ufffdAB\x00) (0 bytes, crc: 0000):  CRC: OK"
    assert read_tags.USAGE.format(argv0="xous-read-tags") == (
        "Usage: xous-read-tags [xous_presign.img]")


@pytest.mark.parametrize("cut", [4, 5, 6, 7])
def test_header_cut_after_its_fourcc_is_truncation_not_an_empty_tag(cut: int) -> None:
    # The file ends inside the next tag's 8-byte header, after its 4 name bytes: the tool
    # fails on it (no line for it); it is not an empty tag with CRC 0000.
    xarg = _tag(b"XArg", struct.pack("<4I", 20, 1, 0, 0) + b"SrIn")
    out = read_tags.read_tags_bytes(xarg + _tag(b"Bflg", b"\4\0\0\0")[:cut])
    assert len(out.lines) == 2
    assert out.error is not None and "truncated" in out.error

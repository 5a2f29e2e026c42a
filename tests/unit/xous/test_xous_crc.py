"""CRC-16/X-25 against published check values and a bit-by-bit model written here."""

from __future__ import annotations

from crc_model import crc16_x25_model
from hypothesis import given, settings
from hypothesis import strategies as st

from bootproof.builder.formats.crc16 import crc16_x25


def test_check_value() -> None:
    assert crc16_x25(b"123456789") == 0x906E
    assert crc16_x25_model(b"123456789") == 0x906E  # the model itself is right


def test_spec_xarg_example() -> None:
    body = bytes.fromhex("34000000 01000000 00000040 00000001 53724578".replace(" ", ""))
    assert crc16_x25(body) == 0x48B0


def test_empty_input() -> None:
    assert crc16_x25(b"") == 0x0000


@settings(deadline=None)
@given(st.binary(max_size=300))
def test_matches_bitwise_definition(data: bytes) -> None:
    assert crc16_x25(data) == crc16_x25_model(data)

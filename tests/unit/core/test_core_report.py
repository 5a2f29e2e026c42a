"""builder/report.py: the one way addresses, sizes and values are shown, hand-computed."""

from __future__ import annotations

import pytest

from bootproof.builder.errors import InputError
from bootproof.builder.report import hex_dec, hexa, size_text


def test_hexa_pads_to_eight_digits_unless_asked() -> None:
    assert hexa(0x1000) == "0x00001000"
    assert hexa(0x1_2345_6789) == "0x123456789"
    assert hexa(0xAB, 4) == "0x00ab"


@pytest.mark.parametrize(("n", "text"), [
    (0, "0x0 (0 B)"), (1023, "0x3ff (1023 B)"), (4096, "0x1000 (4 KiB)"),
    (0x1800, "0x1800 (6 KiB)"), (0x1C00, "0x1c00 (7 KiB)"), (0x1A00, "0x1a00 (6.5 KiB)"),
    (3 << 20, "0x300000 (3 MiB)"), (1 << 30, "0x40000000 (1 GiB)"),
])
def test_size_text(n: int, text: str) -> None:
    assert size_text(n) == text


@pytest.mark.parametrize(("n", "text"), [
    (0, "0x0 (0)"), (31, "0x1f (31)"), (-31, "-0x1f (-31)"), (1 << 32, "0x100000000 (4294967296)"),
])
def test_hex_dec(n: int, text: str) -> None:
    assert hex_dec(n) == text


def test_errors_show_small_values_in_decimal_only_and_large_ones_in_both() -> None:
    assert "=7:" in str(InputError("bad", field="f", value=7))
    assert "=-9:" in str(InputError("bad", field="f", value=-9))
    assert "=0xa (10):" in str(InputError("bad", field="f", value=10))
    assert "=-0xa (-10):" in str(InputError("bad", field="f", value=-10))

"""The 16-byte xous-semver record: spec addendum §3.5 examples and the parse rules."""

from __future__ import annotations

import pytest

from bootproof.builder.errors import FormatError, InputError
from bootproof.builder.xous.semver import NO_VERSION, SemVer


@pytest.mark.parametrize(("text", "hexbytes"), [
    ("v0.9.8-790", "0000 0900 0800 1603 00000000 00000000"),
    ("v0.9.8-791", "0000 0900 0800 1703 00000000 00000000"),
    ("v0.10.0-19-g0d934e1", "0000 0a00 0000 1300 e134d900 01000000"),
    ("v0.0.0", "00" * 16),
    # the crate's own examples
    ("v0.9.8-760-gabcd1234", "0000 0900 0800 f802 3412cdab 01000000"),
    ("v0.9.8-gabcd1234", "0000 0900 0800 0000 3412cdab 01000000"),
])
def test_spec_examples(text: str, hexbytes: str) -> None:
    raw = bytes.fromhex(hexbytes.replace(" ", ""))
    version = SemVer.parse(text)
    assert version.encode() == raw
    assert SemVer.decode(raw) == version


def test_parse_rules() -> None:
    assert SemVer.parse("0.9.8\n") == SemVer(0, 9, 8)  # the leading v is optional
    assert SemVer.parse("v1.2.3-4-gabcd12345678") == SemVer(1, 2, 3, 4, 0xABCD1234)
    assert SemVer.parse("v1.2.3-4") == SemVer(1, 2, 3, 4)
    assert str(SemVer(0, 10, 0, 19, 0xD934E1)) == "v0.10.0-19-gd934e1"
    assert NO_VERSION.encode() == bytes(16)


@pytest.mark.parametrize("text", [
    "v0.10.0-19-g0d934e1-dirty",  # the commit text is '0d934e1-'
    "v0.10.0-g0d934e1-dirty",
    "v0.9",
    "v1",
    "v0.9.x",
    "v70000.0.0",
    "v0.9.8-19-0d934e1",
    "v0.9.8-gxyz",
    "v0.9.8- 1",
    "v0.9.8-gabcd123456",  # a whole hash over 32 bits
    "",
])
def test_malformed(text: str) -> None:
    with pytest.raises(InputError) as err:
        SemVer.parse(text)
    assert err.value.field == "version"


def test_decode_ignores_commit_without_flag_and_checks_length() -> None:
    raw = bytes.fromhex("0000 0900 0800 f802 3412cdab 00000000".replace(" ", ""))
    assert SemVer.decode(raw) == SemVer(0, 9, 8, 760)
    with pytest.raises(FormatError):
        SemVer.decode(raw[:15])


def test_encode_rejects_out_of_range() -> None:
    with pytest.raises(InputError):
        SemVer(0x10000, 0, 0).encode()

"""Property tests: no input makes the args.bin decoder fail with anything but our errors."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from xousargs_helpers import XOUS_FIXTURES

from bootproof.builder.errors import BootproofError
from bootproof.builder.xous.inspect import decode

FIXTURE = (XOUS_FIXTURES / "args-span-page-2020.bin").read_bytes()[:0x400]


def _decode_or_own_error(data: bytes) -> None:
    try:
        lay = decode(data, path="fuzz.bin")
    except BootproofError as exc:
        assert "fuzz.bin" in str(exc)
        return
    # A successful decode must be self-consistent enough to serialise.
    lay.to_json()
    lay.to_table()


@settings(deadline=None)  # a loaded CI machine must not turn into a failure
@given(st.binary(max_size=600))
def test_random_bytes(data: bytes) -> None:
    _decode_or_own_error(data)


@settings(deadline=None)
@given(st.binary(max_size=400))
def test_random_after_xarg_magic(tail: bytes) -> None:
    _decode_or_own_error(b"XArg" + tail)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(FIXTURE) - 1), st.integers(0, 255)),
                min_size=1, max_size=12),
       st.integers(0, len(FIXTURE)))
def test_mutated_fixture(mutations: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(FIXTURE)
    for pos, value in mutations:
        data[pos] = value
    _decode_or_own_error(bytes(data[:cut]))

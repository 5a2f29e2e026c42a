"""Numbers in ImageBuilder configs mean what they mean to the reference.

ImageBuilder sources its config as bash and uses each value in bash arithmetic
(``$(( ))``, ``printf``), in a ``test -lt`` loop, or verbatim in a U-Boot cell. Every
expected value here is computed by bash itself, in the way the reference uses the variable,
never by the code under test.
"""

from __future__ import annotations

import subprocess

import pytest
from conftest import require_tool

from bootproof.builder.errors import ConfigError
from bootproof.builder.xen.shellvars import parse_shell_vars


def bash(script: str) -> str | None:
    """What ``bash -c script`` prints, or None when bash reports an error."""
    require_tool("bash")
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30,
                          check=False)
    if done.returncode != 0 or done.stderr:
        return None
    return done.stdout.strip()


# What bash accepts in $(( )): 0x hex, a leading 0 octal, BASE#DIGITS, decimal.
BASH_NUMBERS = ["010", "0777", "00", "0", "0x1F", "0X1f", "16#ff", "2#101", "36#Z", "37#z",
                "64#@", "64#_", "10#08", " 010 ", "18446744073709551615"]
# What bash refuses there (an error, so the reference fails on it).
BASH_ERRORS = ["08", "09", "0b101", "0o17", "1_000", "2#102", "37#Z", "65#1", "1#1", "0#1",
               "010#7", "08#1"]


@pytest.mark.parametrize("text", BASH_NUMBERS)
def test_arithmetic_reads_numbers_as_bash_does(text: str) -> None:
    expected = bash(f"printf '%u' $(({text}))")
    assert expected is not None
    sv = parse_shell_vars(f"A=$(({text}))\n".encode(), path="c", env={})
    assert int(sv.values["A"]["0"]) % (1 << 64) == int(expected)


@pytest.mark.parametrize("text", BASH_ERRORS)
def test_arithmetic_refuses_what_bash_refuses(text: str) -> None:
    assert bash(f"echo $(({text}))") is None
    with pytest.raises(ConfigError) as err:
        parse_shell_vars(f"X=1\nA=$(({text}))\n".encode(), path="c", env={})
    assert err.value.line == 2


def test_array_index_is_arithmetic() -> None:
    expected = bash("A[010]=k; A[0x3]=h; echo ${!A[@]}")
    sv = parse_shell_vars(b"A[010]=k\nA[0x3]=h\n", path="c", env={})
    assert expected is not None
    assert sorted(sv.values["A"], key=int) == expected.split()

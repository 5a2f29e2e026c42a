"""Numbers in ImageBuilder configs mean what they mean to the reference.

ImageBuilder sources its config as bash and uses each value in bash arithmetic
(``$(( ))``, ``printf``), in a ``test -lt`` loop, or verbatim in a U-Boot cell. Every
expected value here is computed by bash itself, in the way the reference uses the variable,
never by the code under test.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import require_tool
from xen_testlib import HEAD, write

from bootproof.builder.errors import ConfigError
from bootproof.builder.xen.config import load_config
from bootproof.builder.xen.shellvars import parse_shell_vars


def config(tmp_path: Path, text: str) -> Path:
    return write(tmp_path / "config", HEAD + text)


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


@pytest.mark.parametrize("text", ["010", "0x41000000", "16#41000000", "010100000000"])
def test_memory_start_is_read_as_bash_arithmetic(tmp_path: Path, text: str) -> None:
    # The reference: memaddr=$(( $MEMORY_START + $offset )).
    expected = bash(f"MEMORY_START={text}; echo $(( $MEMORY_START + 0 ))")
    assert expected is not None
    cfg = load_config(config(tmp_path, f"MEMORY_START={text}\n"), env={})
    assert cfg.memory_start == int(expected)


def test_octal_config_value_is_a_warning_not_a_surprise(tmp_path: Path) -> None:
    cfg = load_config(config(tmp_path, "MEMORY_START=010\n"), env={})
    assert any("MEMORY_START" in w and "octal" in w for w in cfg.warnings)


@pytest.mark.parametrize("text", ["0256", "0x100", "512"])
def test_domu_mem_is_read_as_bash_arithmetic(tmp_path: Path, text: str) -> None:
    # The reference: DOMU_MEM[$i]=$((${DOMU_MEM[$i]} * 1024)), in KiB.
    kib = bash(f"DOMU_MEM[0]={text}; echo $((${{DOMU_MEM[0]}} * 1024))")
    assert kib is not None
    cfg = load_config(config(tmp_path, f"NUM_DOMUS=1\nDOMU_KERNEL[0]=k\nDOMU_MEM[0]={text}\n"),
                      env={})
    assert cfg.domus[0].mem_mb * 1024 == int(kib)


@pytest.mark.parametrize("text", ["010", "02"])
def test_vcpus_mean_what_u_boot_reads(tmp_path: Path, text: str) -> None:
    # The reference writes `cpus <VALUE>` verbatim; U-Boot reads cells with strtoul base 0,
    # which is what printf %d does with its argument.
    expected = bash(f"printf '%d' {text}")
    assert expected is not None
    cfg = load_config(config(tmp_path, f"NUM_DOMUS=1\nDOMU_KERNEL[0]=k\nDOMU_VCPUS[0]={text}\n"),
                      env={})
    assert cfg.domus[0].vcpus == int(expected)


@pytest.mark.parametrize("text", ["010", "02", " 3 "])
def test_num_domus_is_counted_as_the_reference_loop_counts(tmp_path: Path, text: str) -> None:
    # The reference: i=0; while test $i -lt $NUM_DOMUS; do ...; i=$(( $i + 1 )); done
    count = bash(f"N='{text}'; i=0; while test $i -lt $N; do i=$(( $i + 1 )); done; echo $i")
    assert count is not None
    kernels = "".join(f"DOMU_KERNEL[{i}]=k\n" for i in range(int(count)))
    cfg = load_config(config(tmp_path, f'NUM_DOMUS="{text}"\n{kernels}'), env={})
    assert len(cfg.domus) == int(count)


def test_count_in_hex_is_refused_as_the_reference_test_cannot_read_it(tmp_path: Path) -> None:
    assert bash("test 0x2 -lt 3") is None  # "integer expression expected": no domU at all
    with pytest.raises(ConfigError, match="decimal") as err:
        load_config(config(tmp_path, "NUM_DOMUS=0x2\n"), env={})
    assert err.value.field == "NUM_DOMUS"


def test_cpupool_index_is_compared_as_test_does(tmp_path: Path) -> None:
    # The reference: test "${DOMU_CPUPOOL[$j]}" -eq $i (decimal; 00 is pool 0, 010 pool 10).
    assert bash('C=00; test "$C" -eq 0') == ""
    text = ('NUM_CPUPOOLS=1\nCPUPOOL[0]="cpu@1 null"\nNUM_DOMUS=1\nDOMU_KERNEL[0]=k\n'
            "DOMU_CPUPOOL[0]=00\n")
    assert load_config(config(tmp_path, text), env={}).domus[0].cpupool == 0


@pytest.mark.parametrize("text", ["08", "0x", "0b1"])
def test_config_values_bash_cannot_read_are_errors(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="not a number") as err:
        load_config(config(tmp_path, f"MEMORY_START={text}\n"), env={})
    assert err.value.field == "MEMORY_START"


@pytest.mark.parametrize(("text", "arith"), [("0x2|4", "0x2 | 4"), ("010|control", "010 | 1"),
                                             ("hardware|xenstore", "2 | 4")])
def test_capability_numbers_are_or_ed_as_bash_does(tmp_path: Path, text: str,
                                                  arith: str) -> None:
    # Upstream ORs DOMU_CAPS numbers into the mask with $(( )); control is 1, hardware 2,
    # xenstore 4 (Xen's DOMAIN_CAPS_*).
    expected = bash(f"echo $(( {arith} ))")
    assert expected is not None
    cfg = load_config(config(tmp_path, f'NUM_DOMUS=1\nDOMU_KERNEL[0]=k\nDOMU_CAPS[0]="{text}"\n'),
                      env={})
    assert cfg.domus[0].capability_mask == int(expected)

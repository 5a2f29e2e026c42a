"""The shared pieces: error messages, atomic outputs, integer parsing, report tables, tools."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bootproof.builder.cliutil import EXIT_FAILED, EXIT_TOOL, EXIT_USAGE, run_main
from bootproof.builder.errors import (
    BootproofError,
    ConfigError,
    InputError,
    ToolError,
    VerificationError,
)
from bootproof.builder.fileio import OutputSet, atomic_write
from bootproof.builder.numbers import parse_int
from bootproof.builder.report import size_text, table
from bootproof.builder.tools import run_tool


def test_error_names_file_line_field_and_value() -> None:
    err = ConfigError("unterminated quote", path="cfg", line=7, field="XEN_CMD", value='"abc')
    assert str(err) == "cfg:7: XEN_CMD='\"abc': unterminated quote"


def test_error_shows_numbers_in_hex_and_decimal() -> None:
    err = InputError("kernel must be above 0xff000000", field="text_offset", value=0x80000000)
    assert "0x80000000 (2147483648)" in str(err)


def test_error_shows_negative_numbers_with_sign() -> None:
    assert "-0x10 (-16)" in str(InputError("bad", field="delta", value=-16))
    assert "delta=-1:" in str(InputError("bad", field="delta", value=-1))


def test_error_without_location_is_just_the_message() -> None:
    assert str(InputError("nothing to do")) == "nothing to do"


def test_tool_error_keeps_command_and_output_tail() -> None:
    err = ToolError("mkimage failed", argv=["mkimage", "-l", "x"], output="a\nb\nbad header\n",
                    returncode=1)
    text = str(err)
    assert "mkimage -l x" in text and "exit 1" in text and "bad header" in text


def test_atomic_write_replaces_whole(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    atomic_write(target, b"new contents")
    assert target.read_bytes() == b"new contents"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_output_set_writes_nothing_on_error(tmp_path: Path) -> None:
    keep = tmp_path / "a.txt"
    keep.write_text("user file")
    with pytest.raises(RuntimeError), OutputSet() as out:
        out.write(keep, "replaced")
        out.write(tmp_path / "b.txt", "new")
        raise RuntimeError("late failure")
    assert keep.read_text() == "user file"
    assert sorted(os.listdir(tmp_path)) == ["a.txt"]


def test_output_set_commits_all(tmp_path: Path) -> None:
    with OutputSet() as out:
        out.write(tmp_path / "a", b"1")
        out.write(tmp_path / "b", "2")
    assert (tmp_path / "a").read_bytes() == b"1" and (tmp_path / "b").read_text() == "2"


def test_atomic_write_into_missing_directory_is_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        atomic_write(tmp_path / "nope" / "x", b"")
    assert "nope" in str(info.value)


def test_output_that_is_a_directory_is_input_error(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.mkdir()
    with pytest.raises(InputError) as info:
        atomic_write(target, b"data")
    assert str(target) in str(info.value) and "directory" in str(info.value)
    with pytest.raises(InputError), OutputSet() as out:
        out.write(target, b"data")
    assert target.is_dir() and sorted(os.listdir(tmp_path)) == ["out.bin"]


@pytest.mark.parametrize(
    ("text", "value"),
    [("0x1000", 4096), ("0X10", 16), ("0b101", 5), ("010", 10), ("4_096", 4096), (" 7 ", 7)],
)
def test_parse_int_has_no_octal_surprise(text: str, value: int) -> None:
    assert parse_int(text, field="f") == value


@pytest.mark.parametrize("text", ["0x-5", "-5", "+5", "", "0x", "0b2", "１２", "1e3", "0x1 0"])
def test_parse_int_refuses_signs_and_odd_digits(text: str) -> None:
    with pytest.raises(InputError):
        parse_int(text, field="f")


@pytest.mark.parametrize("text", ["0o17", "0O17", "0o0"])
def test_parse_int_refuses_0o_octal(text: str) -> None:
    """The README promises "0x, 0b or decimal, never octal": 0o is octal too."""
    with pytest.raises(InputError, match="octal"):
        parse_int(text, field="-r")


def test_parse_int_error_names_field_and_value() -> None:
    with pytest.raises(InputError) as info:
        parse_int("0xZZ", field="--ram", path="cmdline")
    assert "--ram='0xZZ'" in str(info.value)


def test_run_main_maps_errors_to_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    def bad_input(argv: object) -> int:
        raise InputError("broken", path="f.csv", field="size", value="x")

    def bad_tool(argv: object) -> int:
        raise ToolError("dtc failed", argv=["dtc"])

    assert run_main("prog", bad_input, None) == EXIT_USAGE
    assert capsys.readouterr().err == "prog: error: f.csv: size='x': broken\n"
    assert run_main("prog", bad_tool, None) == EXIT_TOOL


def test_a_failed_verification_exits_1_not_2(capsys: pytest.CaptureFixture[str]) -> None:
    # A signature or MAC that does not check out is a failed check (1), not bad input (2).
    def bad_signature(argv: object) -> int:
        raise VerificationError("signature does not match key 00", path="xous.img")

    assert run_main("prog", bad_signature, None) == EXIT_FAILED
    assert capsys.readouterr().err == "prog: error: xous.img: signature does not match key 00\n"
    assert issubclass(VerificationError, BootproofError)
    assert not issubclass(VerificationError, InputError)


def test_run_main_error_exit_replaces_every_error_code(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def bad_input(argv: object) -> int:
        raise InputError("broken", field="-d", value="x")

    def bad_tool(argv: object) -> int:
        raise ToolError("mkimage failed", argv=["mkimage"])

    assert run_main("gen", bad_input, None, error_exit=1) == 1
    assert capsys.readouterr().err == "gen: error: -d='x': broken\n"
    assert run_main("gen", bad_tool, None, error_exit=1) == 1
    assert run_main("gen", lambda argv: 0, None, error_exit=1) == 0


def test_table_aligns_columns() -> None:
    text = table(["name", "size"], [["a", 1], ["long", 1000]])
    lines = text.splitlines()
    assert lines[0].split() == ["name", "size"]
    assert lines[2].endswith("   1") and lines[3].endswith("1000")


def test_size_text() -> None:
    assert size_text(4096) == "0x1000 (4 KiB)"
    assert size_text(3 << 20) == "0x300000 (3 MiB)"
    assert size_text(100) == "0x64 (100 B)"


def test_run_tool_returns_output_and_passes_env(tmp_path: Path) -> None:
    code = "import os, sys; print(os.environ['X'], os.getcwd()); print('w', file=sys.stderr)"
    proc = run_tool([sys.executable, "-c", code], cwd=tmp_path, env={"X": "y"})
    assert proc.stdout.split() == ["y", str(tmp_path.resolve())]
    assert proc.stderr == "w\n"


def test_run_tool_failure_keeps_command_status_and_output(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "import sys; print('bad header'); sys.exit(4)"]
    with pytest.raises(ToolError) as info:
        run_tool(argv, path=tmp_path / "in.img")
    err = info.value
    assert (err.argv, err.returncode, err.path) == (argv, 4, str(tmp_path / "in.img"))
    assert err.output == "bad header\n"


def test_run_tool_missing_program_is_a_tool_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-tool")
    with pytest.raises(ToolError, match="program not found") as info:
        run_tool([missing, "-x"])
    assert info.value.argv == [missing, "-x"]


def test_command_line_start_up_leaves_the_build_code_unloaded() -> None:
    # Every `bootproof` run registers all subcommands; building them must not load the
    # ELF reader or the disk builder (`create-image --help` neither).
    code = (
        "import sys, bootproof.harness.cli, bootproof.builder.xous.cli; "
        "bootproof.harness.cli.build_parser(); "
        "print(' '.join(m for m in ('elftools', 'bootproof.builder.elf', "
        "'bootproof.builder.xous.image', 'bootproof.builder.xous.build', "
        "'bootproof.builder.disk.image') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert proc.stdout.strip() == ""

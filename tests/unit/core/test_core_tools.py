"""The one process runner (bootproof.builder.tools.run_tool): every way a run can end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bootproof.builder.errors import ToolError, ToolNotFoundError
from bootproof.builder.tools import LOG_TAIL_CHARS, run_tool

PY = sys.executable


def test_missing_program_is_typed_and_keeps_argv_and_cause(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-tool")
    with pytest.raises(ToolNotFoundError) as info:
        run_tool([missing, "-x"])
    assert info.value.argv == [missing, "-x"]
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_missing_working_directory_is_not_a_missing_program(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    with pytest.raises(ToolError) as info:
        run_tool([PY, "-c", "pass"], cwd=gone)
    assert not isinstance(info.value, ToolNotFoundError)
    assert str(gone) in str(info.value)
    assert info.value.argv == [PY, "-c", "pass"]


def test_program_that_cannot_be_executed(tmp_path: Path) -> None:
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(ToolError, match="cannot run not-executable") as info:
        run_tool([script])
    assert not isinstance(info.value, ToolNotFoundError)
    assert isinstance(info.value.__cause__, PermissionError)


def test_timeout_kills_and_keeps_output_so_far_and_cause() -> None:
    code = "import sys, time; print('started', flush=True); time.sleep(30)"
    with pytest.raises(ToolError, match=r"timed out after 0\.5 s") as info:
        run_tool([PY, "-c", code], timeout=0.5)
    err = info.value
    assert err.argv == [PY, "-c", code]
    assert "started" in err.output
    assert isinstance(err.__cause__, subprocess.TimeoutExpired)


def test_bytes_mode_feeds_stdin_and_returns_bytes() -> None:
    code = "import sys; sys.stdout.buffer.write(sys.stdin.buffer.read()[::-1])"
    proc = run_tool([PY, "-c", code], stdin=b"\x00\xffab", text=False)
    assert proc.stdout == b"ba\xff\x00"


def test_text_mode_feeds_stdin() -> None:
    proc = run_tool([PY, "-c", "import sys; print(sys.stdin.read().upper())"], stdin="abc")
    assert proc.stdout == "ABC\n"


def test_paths_are_accepted_in_argv(tmp_path: Path) -> None:
    script = tmp_path / "show.py"
    script.write_text("import sys; print(sys.argv[1])\n")
    assert run_tool([PY, script, tmp_path]).stdout == f"{tmp_path}\n"


def test_log_mode_appends_command_and_output(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    log.write_text("earlier\n")
    code = "import sys; print('out'); print('err', file=sys.stderr)"
    proc = run_tool([PY, "-c", code], log=log)
    assert (proc.stdout, proc.stderr) == ("", "")
    lines = log.read_text().splitlines()
    assert lines[0] == "earlier"
    assert lines[1] == f"$ {PY} -c {code}"
    assert sorted(lines[2:]) == ["err", "out"]


def test_log_mode_failure_quotes_the_log_tail_and_names_the_log(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    code = f"import sys; print('x' * {2 * LOG_TAIL_CHARS}); print('the real error'); sys.exit(2)"
    with pytest.raises(ToolError) as info:
        run_tool([PY, "-c", code], log=log)
    err = info.value
    assert err.returncode == 2
    assert err.path == str(log)
    assert len(err.output) == LOG_TAIL_CHARS
    assert err.output.endswith("the real error\n")


def test_empty_argv_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        run_tool([])


def test_env_replaces_the_environment() -> None:
    code = "import os; print(sorted(k for k in os.environ if k.startswith('BP_')))"
    proc = run_tool([PY, "-c", code], env={"BP_ONLY": "1", "PATH": os.environ["PATH"]})
    assert proc.stdout == "['BP_ONLY']\n"

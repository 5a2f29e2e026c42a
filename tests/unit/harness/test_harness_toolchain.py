"""find_tool / run_tool: missing programs, failures, timeouts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bootproof.builder.errors import ToolError, ToolNotFoundError
from bootproof.harness.core.errors import InfrastructureError
from bootproof.harness.core.toolchain import APT_PACKAGES, find_tool, run_tool


@pytest.mark.parametrize(
    ("program", "package"),
    [
        ("qemu-system-riscv32", "qemu-system-misc"),
        ("qemu-system-aarch64", "qemu-system-arm"),
        ("riscv64-unknown-elf-gcc", "gcc-riscv64-unknown-elf"),
        ("mkimage", "u-boot-tools"),
        ("dtc", "device-tree-compiler"),
        ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"),
        ("mcopy", "mtools"),
        ("mkfs.vfat", "dosfstools"),
        ("mke2fs", "e2fsprogs"),
    ],
)
def test_missing_tool_names_program_and_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, program: str, package: str
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InfrastructureError) as info:
        find_tool(program)
    assert info.value.program == program
    assert info.value.package == package
    assert program in str(info.value) and package in str(info.value)
    assert APT_PACKAGES[program] == package


def test_unknown_missing_tool_has_no_package(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InfrastructureError) as info:
        find_tool("frobnicate")
    assert info.value.package is None


def test_find_tool_returns_executable() -> None:
    found = find_tool(sys.executable)
    assert found.is_file()


def test_run_tool_success_captures_output() -> None:
    proc = run_tool([sys.executable, "-c", "print('hi')"])
    assert proc.stdout == b"hi\n"


def test_run_tool_failure_keeps_argv_and_output() -> None:
    argv = [sys.executable, "-c", "import sys; print('bad input', file=sys.stderr); sys.exit(4)"]
    with pytest.raises(ToolError) as info:
        run_tool(argv)
    err = info.value
    assert err.argv == argv
    assert err.returncode == 4
    assert "bad input" in err.output
    assert "exit 4" in str(err) and "bad input" in str(err)


def test_run_tool_timeout() -> None:
    with pytest.raises(ToolError, match=r"timed out after 0\.5 s"):
        run_tool([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)


def test_run_tool_cwd(tmp_path: Path) -> None:
    proc = run_tool([sys.executable, "-c", "import os; print(os.getcwd())"], cwd=tmp_path)
    assert Path(proc.stdout.decode().strip()) == tmp_path.resolve()


def test_run_tool_timeout_keeps_the_root_cause() -> None:
    with pytest.raises(ToolError) as info:
        run_tool([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert isinstance(info.value.__cause__, subprocess.TimeoutExpired)


def test_run_tool_missing_program_names_package_argv_and_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InfrastructureError) as info:
        run_tool(["mkimage", "-l", "boot.scr"])
    err = info.value
    assert (err.program, err.package) == ("mkimage", "u-boot-tools")
    assert err.argv == ["mkimage", "-l", "boot.scr"]
    assert isinstance(err.__cause__, ToolNotFoundError)
    assert "install the apt package u-boot-tools" in str(err)


def test_infrastructure_error_is_a_tool_error_with_its_fields() -> None:
    err = InfrastructureError("QEMU exited during start-up", program="qemu-system-aarch64",
                              argv=["qemu-system-aarch64", "-M", "virt"], output="bad -M",
                              returncode=1)
    assert isinstance(err, ToolError)
    assert (err.argv, err.output, err.returncode) == (
        ["qemu-system-aarch64", "-M", "virt"], "bad -M", 1)

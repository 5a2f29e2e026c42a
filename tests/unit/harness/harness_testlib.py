"""Helpers shared by the harness tests: the test board and the tiny RV32 guests.

The guests are assembled from ``guests/*.S`` at test time (never committed as binaries).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bootproof.harness.core.toolchain import run_tool

HERE = Path(__file__).resolve().parent
GUESTS_SRC = HERE / "guests"
TEST_BOARD = HERE / "boards" / "rv32-virt-test.toml"
GUEST_NAMES = ("pass", "fail_exit", "hang", "bad", "ordered", "echo")
CC = "riscv64-unknown-elf-gcc"
QEMU = "qemu-system-riscv32"


def build_guest(name: str, out_dir: Path) -> Path:
    """Assemble and link guest ``name`` at 0x80000000; return the ELF (built once per dir)."""
    elf = out_dir / f"{name}.elf"
    if not elf.exists():
        out_dir.mkdir(parents=True, exist_ok=True)
        run_tool([
            CC, "-march=rv32imac", "-mabi=ilp32", "-nostdlib", "-nostartfiles",
            "-Wl,--no-warn-rwx-segments", "-T", GUESTS_SRC / "guest.ld",
            "-o", elf, GUESTS_SRC / "start.S", GUESTS_SRC / f"{name}.S",
        ])
    return elf


@pytest.fixture(scope="session")
def guest_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory shared by the session where guests are built on first use."""
    return tmp_path_factory.getbasetemp() / "harness-guests"

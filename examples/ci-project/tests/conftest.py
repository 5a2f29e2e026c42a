"""Builds the sample's Xous image from its own sources: the app (firmware/) with the
RISC-V cross compiler, bootproof's test kernel (its sources come with the installed
package), then ``create-image`` with the board's memory map."""

from __future__ import annotations

import importlib.resources
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bootproof.harness.guests.build import build_kernel

FIRMWARE = Path(__file__).resolve().parents[1] / "firmware"
CC = "riscv64-unknown-elf-gcc"
CFLAGS = [
    "-march=rv32imac_zicsr", "-mabi=ilp32", "-mcmodel=medany", "-O2", "-ffreestanding",
    "-fno-builtin", "-nostdlib", "-nostartfiles", "-static", "-Wall", "-Wextra", "-Werror",
    "-Wl,--build-id=none",
]


@dataclass(frozen=True)
class XousImage:
    args_bin: Path
    map_json: Path
    app: Path


def run(argv: list[str | Path]) -> None:
    proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{argv}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}"


@pytest.fixture(scope="session")
def xous_image(tmp_path_factory: pytest.TempPathFactory) -> XousImage:
    out = tmp_path_factory.mktemp("xous")
    if shutil.which(CC) is None:
        pytest.fail(f"{CC} is not installed (Debian: gcc-riscv64-unknown-elf)")
    app = out / "sample_app.elf"
    run([CC, *CFLAGS, "-T", FIRMWARE / "app.ld", "-o", app,
         FIRMWARE / "start.S", FIRMWARE / "app.c", "-lgcc"])
    kernel = build_kernel()  # bootproof's test kernel: starts every init program
    board = importlib.resources.files("bootproof.qemu_configs") / "riscv32-virt"
    create_image = Path(sys.executable).parent / "create-image"
    args_bin, map_json = out / "args.bin", out / "args.json"
    run([create_image, args_bin, "-k", kernel, "-i", app, "-c", str(board / "csr.csv"),
         "--map", map_json])
    return XousImage(args_bin, map_json, app)

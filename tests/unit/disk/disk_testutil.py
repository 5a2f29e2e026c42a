"""Helpers shared by the disk tests: read images back with independent tools."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

TOOL_ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1", "LC_ALL": "C"}


def run(*argv: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True,
                          check=check, env=TOOL_ENV)


def sfdisk_json(image: Path) -> dict[str, Any]:
    table: dict[str, Any] = json.loads(run("sfdisk", "-J", image).stdout)["partitiontable"]
    return table


def slice_partition(image: Path, start_lba: int, sectors: int, out: Path) -> Path:
    """Copy one partition out of a disk image into its own file."""
    with open(image, "rb") as src, open(out, "wb") as dst:
        src.seek(start_lba * 512)
        left = sectors * 512
        while left:
            chunk = src.read(min(left, 1 << 20))
            assert chunk, "image shorter than its partition table says"
            dst.write(chunk)
            left -= len(chunk)
    return out


def debugfs(image: Path, request: str) -> str:
    return run("debugfs", "-R", request, image).stdout


def fat_read(image: Path, path: str, out: Path) -> bytes:
    run("mcopy", "-n", "-i", image, f"::/{path}", out)
    return out.read_bytes()


def ext4_read(image: Path, path: str, out: Path) -> bytes:
    run("debugfs", "-R", f"dump -p /{path} {out}", image)
    return out.read_bytes()


def write_dts(tmp: Path, name: str, source: str) -> Path:
    dts = tmp / f"{name}.dts"
    dts.write_text(source)
    dtb = tmp / f"{name}.dtb"
    run("dtc", "-q", "-I", "dts", "-O", "dtb", "-o", dtb, dts)
    return dtb

"""Helpers shared by the Xen script tests: inputs built at test time, independent checks.

Expectations are checked with the device-tree-compiler tools (``fdtput``, ``fdtget``,
``dtc``), never only with the project's own interpreter.
"""

from __future__ import annotations

import gzip
import shlex
import struct
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def host_dtb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """QEMU virt's own DTB (aarch64, GICv3, virtualization on, 2 CPUs, 2 GiB)."""
    require_tool("qemu-system-aarch64")
    out = tmp_path_factory.mktemp("qemu") / "virt.dtb"
    subprocess.run(
        ["qemu-system-aarch64", "-machine",
         f"virt,virtualization=on,gic-version=3,dumpdtb={out}", "-cpu", "cortex-a57",
         "-smp", "2", "-m", "2G", "-nographic", "-nic", "none"],
        check=True, capture_output=True, timeout=60,
    )
    return out


def make_image(path: Path, size: int, image_size: int = 0) -> Path:
    """A fake arm64 Image: 64-byte header, magic ARM\\x64 at 56, image_size at 16."""
    head = bytearray(64)
    struct.pack_into("<Q", head, 16, image_size or size)
    head[56:60] = b"ARM\x64"
    path.write_bytes(bytes(head) + bytes(size - 64))
    return path


def _newc(name: str, data: bytes, mode: int) -> bytes:
    fields = [1, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0]
    head = b"070701" + b"".join(b"%08X" % f for f in fields)
    blob = head + name.encode() + b"\0"
    blob += bytes(-len(blob) % 4) + data
    return blob + bytes(-len(blob) % 4)


def make_cpio_gz(path: Path, payload: bytes = b"#!/bin/sh\necho hi\n") -> Path:
    """A gzip-compressed newc cpio with one file ``init`` (written in Python)."""
    blob = _newc("init", payload, 0o100755) + _newc("TRAILER!!!", b"", 0)
    path.write_bytes(gzip.compress(blob + bytes(-len(blob) % 512)))
    return path


def dtc_compile(src: Path, out: Path, *extra: str) -> Path:
    require_tool("dtc")
    subprocess.run(["dtc", "-I", "dts", "-O", "dtb", "-o", str(out), *extra, str(src)],
                   check=True, capture_output=True)
    return out


def fdtget(dtb: Path, node: str, prop: str, kind: str = "x") -> list[str]:
    """``fdtget -t KIND``; returns the words printed."""
    require_tool("fdtget")
    r = subprocess.run(["fdtget", "-t", kind, str(dtb), node, prop], capture_output=True,
                       text=True, check=True)
    return r.stdout.split()


def fdtget_cells(dtb: Path, node: str, prop: str) -> list[int]:
    return [int(w, 16) for w in fdtget(dtb, node, prop, "x")]


def fdtget_strings(dtb: Path, node: str, prop: str) -> list[str]:
    """A string list, split on NULs (fdtget -t s joins with spaces)."""
    raw = fdtget(dtb, node, prop, "bx")
    data = bytes(int(b, 16) for b in raw)
    return [s.decode() for s in data.split(b"\0")[:-1]]


def fdt_children(dtb: Path, node: str) -> list[str]:
    require_tool("fdtget")
    r = subprocess.run(["fdtget", "-l", str(dtb), node], capture_output=True, text=True,
                       check=True)
    return r.stdout.split()


def apply_with_fdtput(dtb: Path, source: str) -> None:
    """Replay a script's ``fdt mknod``/``fdt set`` lines on ``dtb`` with fdtput.

    Tokenised with :mod:`shlex` (POSIX rules, like U-Boot's shell for these lines) and
    numbers parsed here, independently of the project's interpreter.
    """
    require_tool("fdtput")
    for line in source.splitlines():
        words = shlex.split(line)
        if words[:2] == ["fdt", "mknod"]:
            parent, name = words[2], words[3]
            subprocess.run(["fdtput", "-c", str(dtb), f"{parent.rstrip('/')}/{name}"],
                           check=True, capture_output=True)
        elif words[:2] == ["fdt", "set"]:
            node, prop, vals = words[2], words[3], words[4:]
            if vals and vals[0].startswith("<"):
                text = " ".join(vals).strip()[1:-1].split()
                nums = [int(t, 16) if t.lower().startswith("0x") else int(t, 10) for t in text]
                argv = ["fdtput", "-t", "x", str(dtb), node, prop, *(f"{n:x}" for n in nums)]
            elif vals:
                argv = ["fdtput", "-t", "s", str(dtb), node, prop, *vals]
            else:
                argv = ["fdtput", str(dtb), node, prop]
            subprocess.run(argv, check=True, capture_output=True)


def dts_text(dtb: Path) -> str:
    require_tool("dtc")
    r = subprocess.run(["dtc", "-I", "dtb", "-O", "dts", str(dtb)], capture_output=True,
                       text=True, check=True)
    return r.stdout


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path

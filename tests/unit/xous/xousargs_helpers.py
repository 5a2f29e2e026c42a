"""Helpers for the Xous tests: cross-compile the guest ELFs, write synthetic ELF32 files.

Imported by the test modules (the directory is on sys.path under pytest's default import
mode); the session fixture ``xous_elfs`` compiles ``guests/`` once per test session.
"""

from __future__ import annotations

import hashlib
import struct
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import FIXTURES, require_tool

GUESTS = Path(__file__).parent / "guests"
XOUS_FIXTURES = FIXTURES / "xous"
CC = "riscv64-unknown-elf-gcc"
CFLAGS = [
    "-march=rv32imac", "-mabi=ilp32", "-nostdlib", "-ffreestanding", "-O1",
    "-msmall-data-limit=0", "-Wl,--build-id=none", "-Wl,--no-warn-rwx-segments",
]

# name -> (source, linker script, extra link flags)
_GUESTS = {
    "kernel": ("kernel.c", "kernel.ld", []),
    "init": ("init.c", "init.ld", []),
    "shell": ("init.c", "init.ld", ["-O2"]),
    "xipodd": ("init.c", "xip.ld", ["-Wl,--defsym=XIP_BASE=0x30000234"]),
    "xippage": ("init.c", "xip.ld", ["-Wl,--defsym=XIP_BASE=0x31000000"]),
    "huge": ("huge.c", "init.ld", []),
}


@pytest.fixture(scope="session")
def xous_elfs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Compile the guest programs once; name -> ELF path (file name = name + '.elf')."""
    require_tool(CC)
    out = tmp_path_factory.mktemp("xous-guests")
    elfs = {}
    for name, (src, ld, extra) in _GUESTS.items():
        target = out / f"{name}.elf"
        argv = [CC, *CFLAGS, *extra, "-T", str(GUESTS / ld), str(GUESTS / src),
                "-o", str(target)]
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, f"{' '.join(argv)}\n{proc.stderr}"
        elfs[name] = target
    return elfs


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class SynSection:
    """A section for :func:`write_elf32`: ``data`` None means NOBITS of ``size`` bytes."""

    name: str
    addr: int
    flags: int  # SHF_*
    data: bytes | None = None
    size: int = 0
    align: int = 4


def write_elf32(path: Path, sections: Sequence[SynSection], *, entry: int,
                machine: int = 243, e_type: int = 2) -> Path:
    """Write a minimal little-endian ELF32 file (no program headers) with ``sections``."""
    names = b"\0" + b"".join(s.name.encode() + b"\0" for s in sections) + b".shstrtab\0"
    body = bytearray()
    offsets = []
    pos = 52
    for s in sections:
        pad = -pos % max(s.align, 1)
        body += bytes(pad)
        pos += pad
        offsets.append(pos)
        if s.data is not None:
            body += s.data
            pos += len(s.data)
    shstr_off = pos
    body += names
    body += bytes(-(52 + len(body)) % 4)
    shoff = 52 + len(body)
    shdrs = [bytes(40)]
    name_pos = 1
    for s, off in zip(sections, offsets, strict=True):
        nobits = s.data is None
        size = s.size if nobits else len(s.data or b"")
        shdrs.append(struct.pack("<10I", name_pos, 8 if nobits else 1, s.flags, s.addr, off,
                                 size, 0, 0, s.align, 0))
        name_pos += len(s.name) + 1
    shdrs.append(struct.pack("<10I", name_pos, 3, 0, 0, shstr_off, len(names), 0, 0, 1, 0))
    ident = b"\x7fELF" + bytes([1, 1, 1]) + bytes(9)
    header = ident + struct.pack("<HHIIIIIHHHHHH", e_type, machine, 1, entry, 0, shoff, 0, 52,
                                 0, 0, 40, len(shdrs), len(shdrs) - 1)
    path.write_bytes(header + bytes(body) + b"".join(shdrs))
    return path

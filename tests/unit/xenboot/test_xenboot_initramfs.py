"""The test initramfs, checked with the system's cpio and gzip tools (independent readers)."""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool

from bootproof.builder.errors import InputError
from bootproof.harness.xen.initramfs import (
    build_initramfs,
    marker_pattern,
    parse_marker,
    write_initramfs,
)

FAKE_BUSYBOX = b"\x7fELF" + bytes(range(256)) * 40


@pytest.fixture
def busybox(tmp_path: Path) -> Path:
    p = tmp_path / "busybox"
    p.write_bytes(FAKE_BUSYBOX)
    return p


def test_same_inputs_same_bytes(busybox: Path, tmp_path: Path) -> None:
    a = build_initramfs(busybox)
    b = write_initramfs(busybox, tmp_path / "initrd").read_bytes()
    assert a == b
    # gzip header: magic, deflate, no flags, MTIME (bytes 4..7) zero
    assert a[:4] == b"\x1f\x8b\x08\x00" and a[4:8] == b"\0\0\0\0"


def test_listing_by_cpio_tool(busybox: Path, tmp_path: Path) -> None:
    require_tool("cpio")
    raw = gzip.decompress(build_initramfs(busybox))
    out = subprocess.run(["cpio", "-itv", "--quiet"], input=raw, capture_output=True,
                         check=True).stdout.decode()
    lines = {line.split()[-1] if "->" not in line else line.split()[-3]: line
             for line in out.splitlines()}
    assert lines["dev/console"].startswith("crw-------")
    assert "5,   1" in lines["dev/console"] or "5, 1" in lines["dev/console"]
    assert lines["dev/null"].startswith("crw-rw-rw-")
    assert lines["init"].startswith("-rwxr-xr-x")
    assert lines["bin/sh"].startswith("lrwxrwxrwx") and lines["bin/sh"].endswith("busybox")
    for line in out.splitlines():  # owned by root, dated at the epoch
        assert " root " in line
        assert "1970" in line


def test_extracted_files_by_cpio_tool(busybox: Path, tmp_path: Path) -> None:
    require_tool("cpio")
    raw = gzip.decompress(build_initramfs(busybox))
    dest = tmp_path / "x"
    dest.mkdir()
    subprocess.run(["cpio", "-id", "--quiet", "--no-absolute-filenames", "bin/busybox", "init"],
                   input=raw, cwd=dest, check=True)
    assert (dest / "bin" / "busybox").read_bytes() == FAKE_BUSYBOX
    init = (dest / "init").read_text()
    assert init.startswith("#!/bin/sh\n")
    assert "marker=*" in init and "poweroff -f" in init and "/proc/iomem" in init


def test_init_script_syntax(busybox: Path, tmp_path: Path) -> None:
    require_tool("sh")
    raw = gzip.decompress(build_initramfs(busybox))
    dest = tmp_path / "x"
    dest.mkdir()
    subprocess.run(["cpio", "-id", "--quiet", "init"], input=raw, cwd=dest, check=True)
    subprocess.run(["sh", "-n", str(dest / "init")], check=True)


def test_not_elf_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "busybox"
    p.write_bytes(b"#!/bin/sh\n")
    with pytest.raises(InputError, match="ELF"):
        build_initramfs(p)
    with pytest.raises(InputError, match="cannot read"):
        build_initramfs(tmp_path / "missing")


def test_marker_parse_and_pattern() -> None:
    line = "(XEN) DOM1: === TESTMARKER DOMU1 UP cpus=2 memtotal_kb=230436 ram=40000000-4fffffff,"\
           "80000000-8fffffff ==="
    rep = parse_marker(line)
    assert rep is not None
    assert (rep.name, rep.cpus, rep.memtotal_kb) == ("DOMU1", 2, 230436)
    assert rep.ram == ((0x40000000, 0x4FFFFFFF), (0x80000000, 0x8FFFFFFF))
    assert rep.ram_bytes == 512 << 20
    import re

    assert re.search(marker_pattern("DOMU1"), line)
    assert not re.search(marker_pattern("DOMU"), line)
    assert parse_marker("no marker here") is None

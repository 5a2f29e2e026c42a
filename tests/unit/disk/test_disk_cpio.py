"""newc cpio: our writer read by GNU cpio, GNU cpio's archives read by our reader."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool
from hypothesis import given, settings
from hypothesis import strategies as st

from bootproof.builder.errors import FormatError
from bootproof.builder.formats.cpio import CpioEntry, Kind, read_newc, write_newc

ENTRIES = [
    CpioEntry("bin", Kind.DIR, 0o755),
    CpioEntry("bin/hello", Kind.FILE, 0o755, b"#!/bin/sh\necho hi\n", uid=1000, gid=100),
    CpioEntry("bin/sh", Kind.SYMLINK, 0o777, b"busybox"),
    CpioEntry("dev", Kind.DIR, 0o755),
    CpioEntry("dev/console", Kind.CHAR, 0o600, rdev_major=5, rdev_minor=1),
    CpioEntry("dev/vda", Kind.BLOCK, 0o660, rdev_major=254, rdev_minor=0),
    CpioEntry("odd", Kind.FILE, 0o644, b"12345"),  # length not a multiple of 4
]


def test_gnu_cpio_lists_our_archive(tmp_path: Path) -> None:
    require_tool("cpio")
    data = write_newc(ENTRIES)
    assert data[:6] == b"070701" and len(data) % 4 == 0
    listing = subprocess.run(["cpio", "-itv", "--quiet", "--numeric-uid-gid"], input=data,
                             capture_output=True, check=True).stdout.decode().splitlines()
    assert [line.split()[0] for line in listing] == [
        "drwxr-xr-x", "-rwxr-xr-x", "lrwxrwxrwx", "drwxr-xr-x", "crw-------", "brw-rw----",
        "-rw-r--r--"]
    assert listing[1].split()[2:4] == ["1000", "100"]
    assert listing[2].endswith("bin/sh -> busybox")
    assert "5,   1" in listing[4] and "254,   0" in listing[5]


def test_gnu_cpio_extracts_our_files(tmp_path: Path) -> None:
    require_tool("cpio")
    data = write_newc([e for e in ENTRIES if e.kind not in (Kind.CHAR, Kind.BLOCK)])
    subprocess.run(["cpio", "-id", "--quiet", "--no-absolute-filenames"], input=data,
                   cwd=tmp_path, check=True)
    assert (tmp_path / "bin/hello").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert os.readlink(tmp_path / "bin/sh") == "busybox"
    assert (tmp_path / "odd").read_bytes() == b"12345"


def test_writer_is_deterministic() -> None:
    assert write_newc(ENTRIES) == write_newc(list(ENTRIES))


def test_reader_reads_gnu_cpio(tmp_path: Path) -> None:
    require_tool("cpio")
    root = tmp_path / "r"
    (root / "d").mkdir(parents=True)
    (root / "d/f").write_bytes(b"x" * 1001)
    (root / "l").symlink_to("d/f")
    (root / "d/f").chmod(0o640)
    listing = b"d\nd/f\nl\n"
    data = subprocess.run(["cpio", "-o", "-H", "newc", "--quiet"], input=listing, cwd=root,
                          capture_output=True, check=True).stdout
    entries = {e.name: e for e in read_newc(data)}
    assert set(entries) == {"d", "d/f", "l"}
    assert entries["d"].kind is Kind.DIR
    assert entries["d/f"].kind is Kind.FILE and entries["d/f"].data == b"x" * 1001
    assert entries["d/f"].perm == 0o640
    assert entries["l"].kind is Kind.SYMLINK and entries["l"].data == b"d/f"


def test_bad_magic_is_a_format_error() -> None:
    data = bytearray(write_newc(ENTRIES))
    data[:6] = b"070707"  # the old portable format, not newc
    with pytest.raises(FormatError, match="bad cpio magic"):
        read_newc(bytes(data), archive="x.cpio")


def test_truncation_is_a_format_error() -> None:
    data = write_newc(ENTRIES)
    cut = data.index(b"#!/bin/sh") + 4  # inside bin/hello's data
    with pytest.raises(FormatError, match="truncated") as info:
        read_newc(data[:cut], archive="x.cpio")
    assert info.value.path == "x.cpio" and info.value.field == "bin/hello"
    with pytest.raises(FormatError, match="truncated"):
        read_newc(data[:-120], archive="x.cpio")  # trailer cut off


def test_bad_hex_field_is_a_format_error() -> None:
    data = bytearray(write_newc(ENTRIES[:1]))
    data[6:14] = b"zzzzzzzz"
    with pytest.raises(FormatError, match="hex"):
        read_newc(bytes(data))


names = st.text(alphabet="abcdefgh_.-0123456789", min_size=1, max_size=20).filter(
    lambda s: s not in (".", ".."))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(names, st.binary(max_size=70), st.integers(0, 0o7777)),
                max_size=8))
def test_round_trip(items: list[tuple[str, bytes, int]]) -> None:
    entries = [CpioEntry(f"f{i}/{n}", Kind.FILE, perm, data, mtime=i)
               for i, (n, data, perm) in enumerate(items)]
    back = read_newc(write_newc(entries))
    assert [(e.name, e.data, e.perm, e.mtime, e.kind) for e in back] == [
        (e.name, e.data, e.perm, e.mtime, e.kind) for e in entries]

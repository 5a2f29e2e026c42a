"""boot.scr as a legacy uImage: byte-identical with mkimage, round trip, CRCs."""

from __future__ import annotations

import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from conftest import require_tool

from bootproof.builder.errors import FormatError, InputError
from bootproof.builder.formats import uimage
from bootproof.builder.reproducible import source_date_epoch

SOURCE = b"tftpb 0x40400000 Image\nfdt addr 0x41800000\nbooti 0x41600000 - 0x41800000\n"


@pytest.mark.parametrize("source", [SOURCE, SOURCE + b"x", SOURCE + b"xy", b"echo\n"])
def test_script_is_byte_identical_with_mkimage(tmp_path: Path, source: bytes) -> None:
    require_tool("mkimage")
    src = tmp_path / "boot.source"
    src.write_bytes(source)
    ref = tmp_path / "ref.scr"
    subprocess.run(
        ["mkimage", "-A", "arm64", "-T", "script", "-C", "none", "-a", "0x40200000",
         "-e", "0x40200000", "-d", str(src), str(ref)],
        check=True, capture_output=True, env={"SOURCE_DATE_EPOCH": "1234567890", "PATH":
                                              "/usr/bin:/bin"},
    )
    ours = uimage.script_image(source, addr=0x40200000, timestamp=1234567890)
    assert ours == ref.read_bytes()


def test_header_fields_and_crcs_computed_independently() -> None:
    blob = uimage.script_image(SOURCE, addr=0x40200000, timestamp=42)
    assert len(blob) == len(SOURCE) + 72
    magic, hcrc, ts, size, load, entry, dcrc = struct.unpack_from(">7I", blob)
    assert (magic, ts, size, load, entry) == (0x27051956, 42, len(SOURCE) + 8, 0x40200000,
                                              0x40200000)
    assert blob[28:32] == bytes([5, 22, 6, 0])  # Linux, AArch64, script, no compression
    assert zlib.crc32(blob[:4] + bytes(4) + blob[8:64]) == hcrc
    assert zlib.crc32(blob[64:]) == dcrc
    assert blob[64:72] == struct.pack(">II", len(SOURCE), 0)


def test_round_trip() -> None:
    blob = uimage.script_image(SOURCE, addr=0x40200000, timestamp=1)
    assert uimage.script_source(blob) == SOURCE
    img = uimage.decode(blob)
    assert (img.load, img.entry, img.type, img.arch) == (0x40200000, 0x40200000, 6, 22)


@pytest.mark.parametrize("offset", [5, 20, 70, -1])
def test_corruption_is_detected(offset: int) -> None:
    blob = bytearray(uimage.script_image(SOURCE, addr=0x40200000, timestamp=1))
    blob[offset] ^= 0x01
    with pytest.raises(FormatError, match="CRC"):
        uimage.decode(bytes(blob), path="boot.scr")


def test_truncated_and_bad_magic() -> None:
    blob = uimage.script_image(SOURCE, addr=0, timestamp=1)
    with pytest.raises(FormatError, match="truncated"):
        uimage.decode(blob[:-3])
    with pytest.raises(FormatError, match="magic"):
        uimage.decode(b"\0" * 64)


def test_source_date_epoch() -> None:
    assert source_date_epoch({"SOURCE_DATE_EPOCH": "99"}) == 99
    assert source_date_epoch({}, default=7) == 7
    assert source_date_epoch({"SOURCE_DATE_EPOCH": ""}, default=7) == 7
    for bad in ("soon", "-1", "0x10", "²", "7" * 5000):
        with pytest.raises(InputError, match="SOURCE_DATE_EPOCH"):
            source_date_epoch({"SOURCE_DATE_EPOCH": bad})


def test_mkimage_lists_our_kernel_image(tmp_path: Path) -> None:
    require_tool("mkimage")
    blob = uimage.encode(b"\0" * 100, load=0x41600000, entry=0x41600000,
                         image_type=uimage.TYPE_KERNEL, arch=uimage.ARCH_ARM64, timestamp=0)
    (tmp_path / "xen.ub").write_bytes(blob)
    out = subprocess.run(["mkimage", "-l", str(tmp_path / "xen.ub")], capture_output=True,
                         text=True, check=True).stdout
    assert "AArch64 Linux Kernel Image" in out
    assert "Load Address: 41600000" in out

"""File identification for the input type checks, on files made by the real tools.

Each sample is also shown to ``file -L`` (what ImageBuilder asks), as an independent view
of what the file is.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tool
from xen_testlib import make_image

from bootproof.builder.formats.executable import arm64_image_size
from bootproof.builder.formats.identify import file_kind


def run(*argv: str, cwd: Path | None = None, stdin: bytes | None = None) -> bytes:
    require_tool(argv[0])
    return subprocess.run(argv, cwd=cwd, input=stdin, capture_output=True, check=True,
                          timeout=60).stdout


def file_says(path: Path) -> str:
    return run("file", "-L", "-b", str(path)).decode().strip()


@pytest.mark.parametrize("fmt", ["newc", "crc", "odc", "bin"])
def test_cpio_archives_of_every_header_format(tmp_path: Path, fmt: str) -> None:
    (tmp_path / "init").write_text("#!/bin/sh\n")
    out = tmp_path / f"rd.{fmt}.cpio"
    out.write_bytes(run("cpio", "-o", "-H", fmt, "--quiet", cwd=tmp_path, stdin=b"init\n"))
    assert "cpio archive" in file_says(out)
    assert file_kind(out) == "cpio"
    gz = tmp_path / "rd.cpio.gz"
    gz.write_bytes(run("gzip", "-9", "-c", str(out)))
    assert file_kind(gz) == "gzip-cpio"
    zst = tmp_path / "rd.cpio.zst"
    run("zstd", "-q", "-f", str(out), "-o", str(zst))
    assert "Zstandard" in file_says(zst) and file_kind(zst) == "zstd"


def test_dtb_uimage_elf_text_empty_and_data(tmp_path: Path) -> None:
    src = tmp_path / "t.dts"
    src.write_text("/dts-v1/;\n/ { compatible = \"t\"; };\n")
    dtb = tmp_path / "t.dtb"
    run("dtc", "-I", "dts", "-O", "dtb", "-o", str(dtb), str(src))
    assert "Device Tree Blob" in file_says(dtb) and file_kind(dtb) == "dtb"
    payload = tmp_path / "payload"
    payload.write_bytes(b"".join(hashlib.sha256(bytes([i])).digest() for i in range(128)))
    uimg = tmp_path / "k.ub"
    run("mkimage", "-A", "arm64", "-T", "kernel", "-C", "none", "-a", "0x40000000", "-e",
        "0x40000000", "-d", str(payload), str(uimg))
    assert "uImage" in file_says(uimg) and file_kind(uimg) == "uimage"
    elf = Path(shutil.which("true") or sys.executable)
    assert "ELF" in file_says(elf) and file_kind(elf) == "elf"
    script = tmp_path / "extra.cmds"
    script.write_text("setenv bootdelay 3\necho hello\n")
    assert "text" in file_says(script) and file_kind(script) == "text"
    (tmp_path / "empty").write_bytes(b"")
    assert file_kind(tmp_path / "empty") == "empty"
    assert file_says(payload) == "data" and file_kind(payload) == "data"


def test_arm64_image_header_and_gzip_of_it(tmp_path: Path) -> None:
    image = make_image(tmp_path / "Image", 8192, image_size=0x300000)
    assert "Aarch64" in file_says(image) or "ARM64" in file_says(image)
    assert file_kind(image) == "arm64-image"
    assert arm64_image_size(image.read_bytes()[:64]) == 0x300000
    assert arm64_image_size(b"\0" * 64) == 0
    gz = tmp_path / "Image.gz"
    gz.write_bytes(run("gzip", "-c", str(image)))
    assert file_kind(gz) == "gzip-arm64-image"

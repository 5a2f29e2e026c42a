"""Sizes on the command line: a number with an optional K/M/G (KiB/MiB/GiB) suffix.

Read by ``create-image``/``bootproof xous build -r OFFSET:SIZE`` and by
``disk_image``/``bootproof xen disk -s MB``; one parser,
:func:`bootproof.builder.numbers.parse_size`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import require_tool

from bootproof.builder.errors import InputError
from bootproof.builder.numbers import parse_size

MIB = 1 << 20


@pytest.mark.parametrize(("text", "value"), [
    ("4096", 4096), ("0x1000", 4096), ("4K", 4096), ("4k", 4096), ("4KiB", 4096),
    ("16M", 16 << 20), ("16m", 16 << 20), ("16MiB", 16 << 20), ("16mib", 16 << 20),
    ("0x10M", 16 << 20), ("0b10M", 2 << 20), ("2G", 2 << 30), ("2GiB", 2 << 30),
    ("1_024K", 1 << 20), (" 16M ", 16 << 20),
])
def test_sizes_in_bytes(text: str, value: int) -> None:
    assert parse_size(text, field="f") == value


@pytest.mark.parametrize(("text", "value"), [("128", 128), ("128M", 128), ("1G", 1024),
                                             ("2048K", 2), ("0x10", 16)])
def test_sizes_in_mib(text: str, value: int) -> None:
    assert parse_size(text, field="-s", unit=MIB) == value


@pytest.mark.parametrize("text", ["", "M", "16X", "16 M B", "16MB", "16B", "1.5M", "-1M",
                                  "16T", "0x", "16Mi", "G16"])
def test_not_a_size(text: str) -> None:
    with pytest.raises(InputError) as exc:
        parse_size(text, field="--ram size")
    assert exc.value.field == "--ram size" and exc.value.value == text


def test_not_a_whole_number_of_units() -> None:
    with pytest.raises(InputError, match="whole number of MiB") as exc:
        parse_size("512K", field="-s", unit=MIB)
    assert exc.value.value == "512K"


def test_disk_image_slack_with_suffix(tmp_path: Path) -> None:
    require_tool("mkfs.vfat", "mcopy", "mmd", "mke2fs", "debugfs")
    from bootproof.builder.disk.cli import main
    from bootproof.builder.formats.cpio import CpioEntry, Kind, write_newc

    d = tmp_path / "in"
    d.mkdir()
    (d / "Image").write_bytes(b"k" * 4096)
    (d / "root.cpio").write_bytes(write_newc([CpioEntry("etc", Kind.DIR, 0o755)]))
    (d / "boot.scr").write_bytes(bytes(80))
    (d / "config").write_text("DOM0_KERNEL=Image\nDOM0_ROOTFS=root.cpio\nNUM_DOMUS=0\n"
                              "UBOOT_SCRIPT=boot.scr\n")
    sizes = {}
    for slack in ("8", "8M", "8MiB", "8192K"):
        out = tmp_path / f"disk-{slack}.json"
        assert main(["-c", str(d / "config"), "-d", str(d), "-o", str(tmp_path / "disk.img"),
                     "-s", slack, "--json", str(out), "-q"]) == 0
        sizes[slack] = [p["sectors"] for p in json.loads(out.read_text())["detail"]["partitions"]]
    # boot: 16 MiB + 2 MiB; rootfs: 2 MiB doubled + 8 MiB slack = 12 MiB = 24576 sectors
    assert set(map(tuple, sizes.values())) == {(36864, 24576)}

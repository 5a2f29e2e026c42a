"""The metadata readers behind ``bootproof diff`` of disk images: partition tables written
by sfdisk, FAT filesystems made by mkfs.vfat and filled by mtools, ext4 by mke2fs. The
expected values are the ones handed to those tools."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import require_tool

from bootproof.builder.errors import FormatError
from bootproof.builder.formats.extfs import read_superblock
from bootproof.builder.formats.fatdir import read_fat
from bootproof.builder.formats.partread import has_label, read_table

ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1", "LC_ALL": "C"}
MIB = 1 << 20


def _run(*argv: str | Path, stdin: str | None = None) -> None:
    subprocess.run([str(a) for a in argv], input=stdin, text=True, check=True,
                   capture_output=True, env=ENV)


def _reader(path: Path) -> Callable[[int, int], bytes]:
    data = path.read_bytes()
    return lambda off, n: data[off:off + n]


def _sparse(path: Path, size: int) -> Path:
    with open(path, "wb") as fh:
        fh.truncate(size)
    return path


def test_dos_label_with_logical_partitions(tmp_path: Path) -> None:
    require_tool("sfdisk")
    disk = _sparse(tmp_path / "d.img", 64 * MIB)
    _run("sfdisk", "-q", disk, stdin="label: dos\nlabel-id: 0x12345678\n"
         "start=2048, size=8192, type=c, bootable\nstart=10240, size=8192, type=83\n"
         "start=18432, size=8192, type=83\nstart=26624, type=5\n"
         "start=28672, size=4096, type=83\nstart=34816, size=4096, type=83\n")
    table = read_table(_reader(disk), 64 * MIB)
    assert table.scheme == "dos" and table.disk_id == "0x12345678"
    got = [(p.number, p.start, p.sectors, p.type, p.bootable) for p in table.partitions]
    assert got == [(1, 2048, 8192, "0x0c", True), (2, 10240, 8192, "0x83", False),
                   (3, 18432, 8192, "0x83", False), (5, 28672, 4096, "0x83", False),
                   (6, 34816, 4096, "0x83", False)]
    assert has_label(disk.read_bytes()[:512])


def test_gpt_label(tmp_path: Path) -> None:
    require_tool("sfdisk")
    disk = _sparse(tmp_path / "g.img", 32 * MIB)
    guid = "0fc63daf-8483-4772-8e79-3d69d8477de4"
    _run("sfdisk", "-q", disk, stdin="label: gpt\n"
         "label-id: 11111111-2222-3333-4444-555555555555\n"
         f"start=2048, size=4096, type={guid}, name=rootfs\n"
         "start=8192, size=2048, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=esp\n")
    table = read_table(_reader(disk), 32 * MIB)
    assert table.scheme == "gpt" and table.disk_id == "11111111-2222-3333-4444-555555555555"
    got = [(p.number, p.start, p.sectors, p.type, p.name) for p in table.partitions]
    assert got == [(1, 2048, 4096, guid, "rootfs"),
                   (2, 8192, 2048, "c12a7328-f81f-11d2-ba4b-00a0c93ec93b", "esp")]


def test_broken_labels_name_the_field(tmp_path: Path) -> None:
    require_tool("sfdisk")
    disk = _sparse(tmp_path / "g.img", 8 * MIB)
    _run("sfdisk", "-q", disk, stdin="label: gpt\nstart=2048, size=2048\n")
    data = bytearray(disk.read_bytes())
    data[512 + 24] ^= 1  # a header byte: the header CRC no longer matches
    with pytest.raises(FormatError) as exc:
        read_table(lambda o, n: bytes(data[o:o + n]), len(data), path="g.img")
    assert exc.value.field == "GPT header CRC32" and "g.img" in str(exc.value)
    with pytest.raises(FormatError) as exc:
        read_table(lambda o, n: bytes(512), 8 * MIB, path="z.img")
    assert exc.value.field == "MBR[510:512]" and exc.value.value == "0000"
    # a partition past the end of a disk cut short
    whole = disk.read_bytes()
    with pytest.raises(FormatError) as exc:
        read_table(lambda o, n: whole[o:o + n], 3000 * 512, path="g.img")
    assert exc.value.field == "partition 1 end sector" and exc.value.value == 4096


@pytest.mark.parametrize("bits", [12, 16, 32])
def test_fat_tree_names_and_sizes(tmp_path: Path, bits: int) -> None:
    require_tool("mkfs.vfat", "mcopy", "mmd")
    size = {12: 4 * MIB, 16: 32 * MIB, 32: 64 * MIB}[bits]
    img = _sparse(tmp_path / "fat.img", size)
    _run("mkfs.vfat", "-F", str(bits), "-n", "BOOTLBL", "-i", "1234abcd", img)
    files = {"Image": 300_000, "boot.scr": 80, "a much longer name.dtb": 131,
             "UPPER.TXT": 5, "sub/dir/deep file": 70_000, "sub/x": 0}
    for name, n in files.items():
        src = tmp_path / "src"
        src.write_bytes(bytes(n))
        parent = name.rpartition("/")[0]
        if parent:
            for k in range(1, parent.count("/") + 2):
                part = "/".join(parent.split("/")[:k])
                subprocess.run(["mmd", "-i", str(img), f"::/{part}"], env=ENV,
                               capture_output=True, check=False)
        _run("mcopy", "-i", img, src, f"::/{name}")
    vol = read_fat(_reader(img))
    assert vol.bits == bits and vol.label == "BOOTLBL" and vol.volume_id == "1234-ABCD"
    assert {f.path: f.size for f in vol.files} == files


def test_fat_reads_only_metadata(tmp_path: Path) -> None:
    """Reading the tree touches the boot sector, the first FAT and directories only:
    never a byte of the file's 8 MiB."""
    require_tool("mkfs.vfat", "mcopy")
    img = _sparse(tmp_path / "fat.img", 64 * MIB)
    _run("mkfs.vfat", "-F", "32", img)
    big = tmp_path / "big"
    big.write_bytes(b"\xab" * (8 * MIB))
    _run("mcopy", "-i", img, big, "::/big")
    data = img.read_bytes()
    total = 0

    def read(off: int, n: int) -> bytes:
        nonlocal total
        total += n
        chunk = data[off:off + n]
        assert b"\xab" * 64 not in chunk
        return chunk

    vol = read_fat(read)
    assert [(f.path, f.size) for f in vol.files] == [("big", 8 * MIB)]
    assert total < 1 * MIB


def test_not_fat_is_a_format_error() -> None:
    with pytest.raises(FormatError) as exc:
        read_fat(lambda o, n: bytes(n), path="p1")
    assert "p1" in str(exc.value) and exc.value.field == "FAT boot sector"


def test_ext4_superblock(tmp_path: Path) -> None:
    require_tool("mke2fs")
    img = _sparse(tmp_path / "e.img", 16 * MIB)
    uid = "d1a2a471-a7ca-5a1f-a53e-5ef1932707d7"
    _run("mke2fs", "-q", "-F", "-t", "ext4", "-L", "vos_2", "-U", uid, "-b", "4096", img)
    sb = read_superblock(_reader(img))
    assert sb is not None
    assert (sb.label, sb.uuid, sb.block_size, sb.blocks) == ("vos_2", uid, 4096, 4096)
    assert 0 < sb.used_bytes < 16 * MIB
    assert read_superblock(lambda o, n: bytes(n)) is None

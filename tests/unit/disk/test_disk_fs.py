"""FAT and ext4 images built on plain files, checked with fsck, mtools and debugfs."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from conftest import require_tool
from disk_testutil import debugfs, ext4_read, fat_read, run

from bootproof.builder.disk import fs
from bootproof.builder.disk.archive import extract_archive
from bootproof.builder.errors import InputError, ToolError
from bootproof.builder.formats.cpio import CpioEntry, Kind, write_newc

MIB = 1 << 20
EPOCH = 1700000000  # 2023-11-14T22:13:20Z


def _sources(tmp: Path) -> list[tuple[str, Path]]:
    (tmp / "in").mkdir()
    a = tmp / "in/Image"
    a.write_bytes(bytes(range(256)) * 4000)
    b = tmp / "in/virt.dtb"
    b.write_bytes(b"\xd0\x0d\xfe\xed" + b"\1" * 500)
    return [("Image", a), ("boot/dtbs/virt.dtb", b)]


def test_fat_holds_the_files(tmp_path: Path) -> None:
    require_tool("mkfs.vfat", "mcopy", "mmd", "mdir", "fsck.vfat")
    files = _sources(tmp_path)
    image = tmp_path / "boot.img"
    bits = fs.make_fat(image, 20 * MIB, files, label="boot", volume_id=0x1234ABCD, epoch=EPOCH)
    assert bits == 16
    assert image.stat().st_size == 20 * MIB
    check = run("fsck.vfat", "-n", image)
    assert check.returncode == 0
    listing = run("mdir", "-i", image, "::/boot/dtbs").stdout
    assert "Volume Serial Number is 1234-ABCD" in listing
    assert "2023-11-14" in listing  # SOURCE_DATE_EPOCH, not today
    for dest, src in files:
        assert fat_read(image, dest, tmp_path / "out") == src.read_bytes()


def test_fat32_from_64_mib(tmp_path: Path) -> None:
    require_tool("mkfs.vfat", "fsck.vfat", "file")
    image = tmp_path / "boot.img"
    assert fs.make_fat(image, 64 * MIB, [], label="boot", volume_id=1, epoch=EPOCH) == 32
    assert "FAT (32 bit)" in run("file", image).stdout
    assert run("fsck.vfat", "-n", image).returncode == 0


def test_fat_is_reproducible(tmp_path: Path) -> None:
    require_tool("mkfs.vfat", "mcopy")
    files = _sources(tmp_path)
    a, b = tmp_path / "a.img", tmp_path / "b.img"
    fs.make_fat(a, 20 * MIB, files, label="boot", volume_id=7, epoch=EPOCH)
    time.sleep(2.1)  # FAT times have 2-second steps: the wall clock must have moved
    files[0][1].touch()  # a newer mtime on the source must not matter
    fs.make_fat(b, 20 * MIB, files, label="boot", volume_id=7, epoch=EPOCH)
    assert a.read_bytes() == b.read_bytes()


def test_fat_too_small_is_a_tool_error(tmp_path: Path) -> None:
    require_tool("mkfs.vfat", "mcopy")
    big = tmp_path / "big"
    big.write_bytes(b"\1" * (3 * MIB))
    with pytest.raises(ToolError, match="mcopy"):
        fs.make_fat(tmp_path / "s.img", 2 * MIB, [("big", big)], label="boot", volume_id=1,
                    epoch=EPOCH)


def _archive(tmp: Path) -> Path:
    path = tmp / "root.cpio"
    path.write_bytes(write_newc([
        CpioEntry("etc", Kind.DIR, 0o755, mtime=EPOCH - 10),
        CpioEntry("etc/shadow", Kind.FILE, 0o640, b"root:*:1::::::\n", uid=0, gid=42,
                  mtime=EPOCH - 20),
        CpioEntry("home", Kind.DIR, 0o755),
        CpioEntry("home/user", Kind.DIR, 0o700, uid=1234, gid=1234),
        CpioEntry("home/user/notes", Kind.FILE, 0o600, b"x" * 70000, uid=1234, gid=1234),
        CpioEntry("bin", Kind.DIR, 0o755),
        CpioEntry("bin/su", Kind.FILE, 0o4755, b"\x7fELF", uid=0, gid=0),
        CpioEntry("bin/sh", Kind.SYMLINK, 0o777, b"/bin/busybox"),
    ]))
    return path


def _ext4(tmp: Path, name: str) -> Path:
    stage = tmp / f"stage-{name}"
    stage.mkdir()
    tree = extract_archive(_archive(tmp), stage)
    image = tmp / f"{name}.img"
    fs.make_ext4(image, 16 * MIB, tree, label="vos_2",
                 fs_uuid=uuid.UUID("3f1c2a7e-0000-4000-8000-000000000002"), epoch=EPOCH)
    return image


def test_ext4_passes_e2fsck_and_keeps_archive_metadata(tmp_path: Path) -> None:
    require_tool("mke2fs", "debugfs", "e2fsck", "dumpe2fs")
    image = _ext4(tmp_path, "a")
    check = run("e2fsck", "-fn", image, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    head = run("dumpe2fs", "-h", image).stdout
    assert "3f1c2a7e-0000-4000-8000-000000000002" in head
    assert "vos_2" in head
    stat = debugfs(image, "stat /etc/shadow")
    assert "Mode:  0640" in stat and "User:     0   Group:    42" in stat
    assert f"mtime: 0x{EPOCH - 20:08x}" in stat
    assert "Mode:  04755" in debugfs(image, "stat /bin/su")
    assert "User:  1234   Group:  1234" in debugfs(image, "stat /home/user/notes")
    assert "/bin/busybox" in debugfs(image, "stat /bin/sh")
    assert ext4_read(image, "home/user/notes", tmp_path / "n") == b"x" * 70000
    listing = debugfs(image, "ls /")
    for name in ("etc", "home", "bin", "lost+found"):
        assert name in listing


def test_ext4_is_reproducible(tmp_path: Path) -> None:
    require_tool("mke2fs", "debugfs")
    a = _ext4(tmp_path, "a")
    b = _ext4(tmp_path, "b")  # a separate staging copy, made later
    assert a.read_bytes() == b.read_bytes()


def test_ext4_too_small_is_a_tool_error(tmp_path: Path) -> None:
    require_tool("mke2fs")
    stage = tmp_path / "s"
    stage.mkdir()
    (tmp_path / "big.cpio").write_bytes(
        write_newc([CpioEntry("big", Kind.FILE, data=b"\1" * (3 * MIB))]))
    tree = extract_archive(tmp_path / "big.cpio", stage)
    with pytest.raises(ToolError, match="mke2fs"):
        fs.make_ext4(tmp_path / "s.img", 2 * MIB, tree, label="x", fs_uuid=uuid.uuid4(),
                     epoch=EPOCH)


def test_ext4_larger_than_any_file_is_an_input_error(tmp_path: Path) -> None:
    stage = tmp_path / "s"
    stage.mkdir()
    (tmp_path / "small.cpio").write_bytes(
        write_newc([CpioEntry("a", Kind.FILE, data=b"a")]))
    tree = extract_archive(tmp_path / "small.cpio", stage)
    with pytest.raises(InputError) as err:
        fs.make_ext4(tmp_path / "huge.img", 1 << 63, tree, label="x", fs_uuid=uuid.uuid4(),
                     epoch=EPOCH)
    assert "huge.img" in str(err.value) and str(1 << 63) in str(err.value)

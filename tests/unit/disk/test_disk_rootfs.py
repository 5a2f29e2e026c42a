"""Rootfs archives as build systems make them, kept in the image, by an unprivileged build.

Every archive here is made by the real tools (``fakeroot`` with ``mknod``, ``chown``,
``chmod``, ``setfattr`` and ``touch``, then GNU ``cpio -o -H newc`` or ``tar --xattrs
--numeric-owner``, then ``gzip``/``bzip2``/``xz``/``zstd``), ``disk_image`` runs as
``nobody`` (tests/rootless.py), and the image is read back with ``debugfs`` and
``e2fsck``, compared field by field with what ``cpio -tv``/``tar -tv`` list.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import require, require_tool
from disk_testutil import (
    EPOCH,
    LISTED_TYPES,
    Inode,
    Listed,
    compress,
    cpio_listing,
    fakeroot,
    inventory,
    minimal_config,
    run,
    slice_partition,
    tar_listing,
    tar_xattr_names,
)
from rootless import rootless_prefix, run_rootless, writable_dir

TOOLS = ("fakeroot", "cpio", "tar", "gzip", "bzip2", "xz", "zstd", "setfattr", "mke2fs",
         "debugfs", "e2fsck", "mkfs.vfat", "mcopy", "mmd", "dtc")
DISK_IMAGE = Path(sys.executable).parent / "disk_image"

CAPABILITY = bytes.fromhex("0100000200200000000000000000000000000000")  # cap_net_raw+ep
LONG_TARGET = "/usr/lib/" + "x" * 70 + "/target"  # too long for a fast symlink
BIG_VALUE = bytes(range(200)) * 3  # goes through a file; fits a 1 KiB xattr block

# The tree a build system would stage: every kind of member, special bits, foreign owners
# (one above 16 bits), device numbers beyond 8 and 16 bits, and extended attributes.
TREE = f"""
mkdir -p bin sbin dev etc/init.d usr/lib home/user tmp var/tmp
printf '\\177ELF busybox stand-in\\n' > bin/busybox
chmod 755 bin/busybox
ln -s busybox bin/sh
ln -s /bin/busybox sbin/init
ln -s ../../bin/busybox usr/lib/relative
ln -s {LONG_TARGET} usr/lib/long
printf 'ping\\n' > bin/ping
chmod 4755 bin/ping
printf 'wall\\n' > bin/wall
chown 0:5 bin/wall
chmod 2755 bin/wall
head -c 70000 /dev/zero | tr '\\0' 'a' > usr/lib/shared
ln usr/lib/shared usr/lib/shared2
chmod 2775 usr/lib
chmod 1777 tmp var/tmp
printf 'dom0\\n' > etc/hostname
printf '#!/bin/sh\\necho up\\n' > etc/init.d/rcS
chmod 750 etc/init.d/rcS
mknod dev/console c 5 1
chmod 600 dev/console
mknod dev/null c 1 3
chmod 666 dev/null
mknod dev/vda b 254 0
chown 0:6 dev/vda
chmod 660 dev/vda
mknod dev/wide c 300 70000
ln dev/null dev/null.hard
ln -P bin/sh bin/sh.hard
mkfifo dev/initctl
chmod 600 dev/initctl
printf 'notes\\n' > home/user/notes
chown 70000:100 home/user home/user/notes
chmod 700 home/user
chmod 640 home/user/notes
chmod 755 .
setfattr -n security.capability -v 0x{CAPABILITY.hex()} bin/ping
setfattr -n user.comment -v "hello world" etc/hostname
setfattr -n user.dir -v 0x00ff01 usr/lib
setfattr -n user.big -v 0x{BIG_VALUE.hex()} etc/init.d/rcS
i=0
find . | LC_ALL=C sort | while read -r p; do
    i=$((i + 61))
    touch -h -d "@$(({EPOCH} + i))" "$p"
done
"""
XATTRS = {"bin/ping": {"security.capability": CAPABILITY},
          "etc/hostname": {"user.comment": b"hello world"},
          "usr/lib": {"user.dir": b"\x00\xff\x01"},
          "etc/init.d/rcS": {"user.big": BIG_VALUE}}


def _made_with(tmp: Path, command: str) -> Path:
    """Stage TREE in ``tmp/src`` and run ``command`` there, in one fakeroot session:
    fakeroot keeps extended attributes in memory only (its saved state holds owners,
    modes and device numbers, not xattrs), so the archiver must run in the same session."""
    src = tmp / "src"
    src.mkdir()
    fakeroot(TREE + command, cwd=src, state=tmp / "fakeroot.state")
    return src


def make_cpio(tmp: Path, tool: str | None) -> tuple[Path, Path]:
    """``find . | cpio -o -H newc`` under fakeroot; (the raw archive, the one to use)."""
    _made_with(tmp, "find . | LC_ALL=C sort | cpio -o -H newc --quiet > ../rootfs.cpio\n")
    raw = tmp / "rootfs.cpio"
    return raw, compress(raw, tool)


def make_tar(tmp: Path, tool: str | None) -> Path:
    """``tar --xattrs --numeric-owner`` as Yocto's IMAGE_CMD:tar runs it, under fakeroot."""
    _made_with(tmp, "tar --xattrs --xattrs-include='*' --numeric-owner -cf ../rootfs.tar .\n")
    return compress(tmp / "rootfs.tar", tool)


def build_image(tmp: Path, archive: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run ``disk_image`` unprivileged on a config whose dom0 rootfs is ``archive``."""
    inputs = tmp / "in"
    inputs.mkdir(exist_ok=True)
    shutil.copy(archive, inputs / archive.name)
    cfg = minimal_config(inputs, archive.name)
    out = writable_dir(tmp / "out")
    return run_rootless([DISK_IMAGE, "-c", cfg, "-d", inputs, "-o", out / "disk.img",
                         "-s", "8", "-q", "--json", out / "disk.json", *extra], cwd=out)


def rootfs_partition(tmp: Path, archive: Path) -> Path:
    """Build the disk from ``archive``, check it, return partition 2 as its own file."""
    proc = build_image(tmp, archive)
    assert proc.returncode == 0, proc.stderr
    layout = json.loads((tmp / "out/disk.json").read_text())["detail"]
    part = layout["partitions"][1]
    image = slice_partition(tmp / "out/disk.img", part["start_lba"], part["sectors"],
                            tmp / "rootfs.img")
    fsck = run("e2fsck", "-fn", image, check=False)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    return image


def _utc(seconds: int, fmt: str) -> str:
    return time.strftime(fmt, time.gmtime(seconds))


def compare(listing: dict[str, Listed], inodes: dict[str, Inode]) -> None:
    """Every listed member is in the image as listed: type, mode, owner, size, device
    numbers, link target, mtime (to the second for tar, the day for cpio)."""
    for name, item in listing.items():
        got = inodes[name]
        where = f"/{name}: listed {item}, image has {got}"
        kind = listing[item.target or ""].type if item.type == "h" else item.type
        assert got.type == LISTED_TYPES[kind], where
        assert got.perm == item.perm, where
        assert (got.uid, got.gid) == (item.uid, item.gid), where
        assert got.rdev == item.rdev, where
        if item.type == "l":
            assert got.target == item.target, where
        if item.type == "h":  # tar: a hard link is the same inode as its source
            assert got.ino == inodes[item.target or ""].ino, where
        elif item.type == "-" and item.size:
            assert got.size == item.size, where
        if ":" in item.date:
            assert _utc(got.mtime, "%Y-%m-%d %H:%M:%S") == item.date, where
        else:
            assert " ".join(_utc(got.mtime, "%b %e %Y").split()) == item.date, where


def _checked_tree_facts(inodes: dict[str, Inode], *, device_links: bool) -> None:
    """Facts of TREE that the listings do not show by themselves. (GNU tar archives the
    two names of a hard-linked device node as two nodes; cpio keeps the link.)"""
    shared, shared2 = inodes["usr/lib/shared"], inodes["usr/lib/shared2"]
    assert shared.ino == shared2.ino and shared.links == 2 and shared.size == 70000
    assert inodes["dev/wide"].rdev == (300, 70000)
    for name in ("dev/null", "bin/sh")[0 if device_links else 1:]:
        # hard links to a device node and to a symlink
        first, second = inodes[name], inodes[f"{name}.hard"]
        assert first.ino == second.ino and first.links == 2, name
    assert inodes["usr/lib/long"].target == LONG_TARGET
    assert inodes["sbin/init"].target == "/bin/busybox"


@pytest.mark.parametrize("tool", [None, "gzip", "xz", "zstd"])
def test_cpio_rootfs_is_kept_field_by_field(tmp_path: Path, tool: str | None) -> None:
    require_tool(*TOOLS)
    raw, archive = make_cpio(tmp_path, tool)
    listing = cpio_listing(raw)
    assert {"dev/console", "dev/vda", "dev/initctl", "bin/ping"} <= set(listing)
    image = rootfs_partition(tmp_path, archive)
    inodes = inventory(image, sorted(listing), tmp_path)
    compare(listing, inodes)
    _checked_tree_facts(inodes, device_links=True)


@pytest.mark.parametrize("tool", [None, "gzip", "bzip2", "xz", "zstd"])
def test_tar_rootfs_is_kept_field_by_field_with_xattrs(tmp_path: Path,
                                                       tool: str | None) -> None:
    require_tool(*TOOLS)
    archive = make_tar(tmp_path, tool)
    listing = tar_listing(archive)
    xattr_names = tar_xattr_names(archive)
    assert xattr_names == {k: set(v) for k, v in XATTRS.items()}  # what the tree set
    image = rootfs_partition(tmp_path, archive)
    inodes = inventory(image, sorted(listing), tmp_path)
    compare(listing, inodes)
    _checked_tree_facts(inodes, device_links=False)
    for name in listing:
        assert inodes[name].xattrs == XATTRS.get(name, {}), name


def test_format_is_read_from_content_not_name(tmp_path: Path) -> None:
    require_tool(*TOOLS)
    (tmp_path / "a").mkdir()
    _raw, xz_cpio = make_cpio(tmp_path / "a", "xz")
    misnamed = tmp_path / "rootfs.tar.gz"  # an xz-compressed cpio, named as a gzip tar
    shutil.copy(xz_cpio, misnamed)
    image = rootfs_partition(tmp_path, misnamed)
    assert inventory(image, ["dev/console"], tmp_path)["dev/console"].rdev == (5, 1)


# The nodes an initramfs needs before anything mounts devtmpfs, as Buildroot's
# device table or a distribution's mkinitramfs make them.
INITRAMFS_NODES = (("console", "c", 5, 1, "600"), ("null", "c", 1, 3, "666"),
                   ("zero", "c", 1, 5, "666"), ("tty", "c", 5, 0, "666"),
                   ("ttyAMA0", "c", 204, 64, "660"), ("hvc0", "c", 229, 0, "660"),
                   ("random", "c", 1, 8, "666"), ("urandom", "c", 1, 9, "666"),
                   ("vda", "b", 254, 0, "660"), ("vda1", "b", 254, 1, "660"))


def _busybox_deb() -> Path:
    from bootproof.harness.core.cache import cache_root
    from bootproof.harness.xen.assets import BUSYBOX_PACKAGE

    debs = sorted((cache_root() / "debs").glob(f"{BUSYBOX_PACKAGE}_*_arm64.deb"))
    require(bool(debs), f"{BUSYBOX_PACKAGE} .deb not in the asset cache (run ci/setup.sh)")
    return debs[-1]


def test_debian_busybox_static_rootfs(tmp_path: Path) -> None:
    require_tool(*TOOLS, "dpkg-deb")
    deb = _busybox_deb()
    src = tmp_path / "src"
    src.mkdir()
    nodes = "\n".join(f"mknod dev/{n} {t} {ma} {mi}\nchmod {m} dev/{n}"
                      for n, t, ma, mi, m in INITRAMFS_NODES)
    fakeroot(f"""
dpkg-deb -x {deb} .
mkdir -p dev proc sys tmp etc
chmod 1777 tmp
for a in sh mount cat echo ls sleep; do ln -s busybox bin/$a; done
printf '#!/bin/sh\\nexec /bin/sh\\n' > init
chmod 755 init
{nodes}
find . -exec touch -h -d @{EPOCH} {{}} +
find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -n > ../rootfs.cpio.gz
""", cwd=src, state=tmp_path / "state")
    archive = tmp_path / "rootfs.cpio.gz"
    raw = tmp_path / "rootfs.cpio"
    with open(archive, "rb") as fh, open(raw, "wb") as out:
        subprocess.run(["gzip", "-dc"], stdin=fh, stdout=out, check=True)
    listing = cpio_listing(raw)
    image = rootfs_partition(tmp_path, archive)
    inodes = inventory(image, sorted(listing), tmp_path)
    compare(listing, inodes)
    for name, kind, major, minor, _mode in INITRAMFS_NODES:
        want = "character special" if kind == "c" else "block special"
        assert (inodes[f"dev/{name}"].type, inodes[f"dev/{name}"].rdev) == (want,
                                                                          (major, minor))
    busybox = tmp_path / "busybox.out"
    run("debugfs", "-R", f"dump /bin/busybox {busybox}", image)
    assert busybox.read_bytes() == (src / "bin/busybox").read_bytes()


def test_commands_really_run_unprivileged(tmp_path: Path) -> None:
    """The wrapper the disk tests use cannot do what a privileged build step would."""
    require_tool("mknod", "id")
    work = writable_dir(tmp_path / "w")
    if rootless_prefix():
        assert run_rootless(["id", "-u"], cwd=work).stdout.strip() != "0"
    proc = run_rootless(["mknod", work / "console", "c", "5", "1"], cwd=work)
    assert proc.returncode != 0 and not (work / "console").exists()
    assert os.access(DISK_IMAGE, os.X_OK)


def _leftovers(tmp: Path) -> list[str]:
    return sorted(p.name for p in (tmp / "out").iterdir())


def test_rootfs_over_the_size_limit_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    require_tool(*TOOLS)
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "zeros", "wb") as fh:
        fh.truncate(48 << 20)
    archive = tmp_path / "bomb.tar.zst"
    subprocess.run(["tar", "--zstd", "--numeric-owner", "-cf", archive, "-C", src, "."],
                   check=True)
    proc = build_image(tmp_path, archive, "--max-rootfs-size", "16")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "bomb.tar.zst" in lines[0] and "zeros" in lines[0] and "--max-rootfs-size" in lines[0]
    assert _leftovers(tmp_path) == []
    # the same archive under the default limit is an ordinary rootfs
    assert build_image(tmp_path, archive).returncode == 0


@pytest.mark.parametrize("value", ["0", "-5", "lots"])
def test_bad_max_rootfs_size_is_refused(tmp_path: Path, value: str) -> None:
    require_tool(*TOOLS)
    _raw, archive = make_cpio(tmp_path, None)
    proc = build_image(tmp_path, archive, "--max-rootfs-size", value)
    assert proc.returncode == 2
    assert "--max-rootfs-size" in proc.stderr and value in proc.stderr
    assert _leftovers(tmp_path) == []


def test_umbrella_command_takes_the_limit(tmp_path: Path) -> None:
    from bootproof.harness.cli import main as bootproof

    with pytest.raises(SystemExit) as info:
        bootproof(["xen", "disk", "--help"])
    assert info.value.code == 0
    assert bootproof(["xen", "disk", "-c", str(tmp_path / "none"), "-d", str(tmp_path),
                      "-o", str(tmp_path / "x.img"), "--max-rootfs-size", "0"]) == 2

"""A disk image from disk_image, booted end to end: U-Boot loads everything from the virtio
disk, Xen boots, dom0 mounts its ext4 rootfs partition as / and reads the xl configs.

Flow: our ``uboot-script-gen -t "load virtio 0:1" -p xen`` makes ``boot.scr``; the
``disk_image`` console script puts it, Xen, the kernel, the DTB and the ramdisks on the FAT
partition under ``xen/``, dom0's rootfs (a ``.cpio.gz``) on partition 2 and a NOBOOT domU's
rootfs (a ``.tar.gz``) on partition 3. QEMU attaches the image as a virtio-blk disk and has
no network, so nothing can come from anywhere else.

dom0's ramdisk only loads the virtio and ext4 modules of the Debian kernel, mounts the
``root=`` device and ``switch_root`` s into it; the ``/sbin/init`` found *on the ext4
partition* then reports what ``/`` is, prints every xl config in ``/etc/xen`` and mounts the
NOBOOT domU's partition named in its config. (The rootfs carries no xl tools, so that
domU's config is checked by content, and its disk by mounting it from dom0.) A booted
dom0less domU, loaded from the same disk, reports with the test initramfs' marker line.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from conftest import require_tool

from bootproof.builder.formats.cpio import CpioEntry, Kind, write_newc
from bootproof.harness.core.boards import load_board
from bootproof.harness.core.deadline import Deadline
from bootproof.harness.core.machine import QemuMachine
from bootproof.harness.xen.assets import ensure_guest_assets
from bootproof.harness.xen.flow import BOARD, UBOOT_BIOS
from bootproof.harness.xen.guests import prepare_guest_set
from bootproof.harness.xen.initramfs import initramfs_entries, marker_pattern
from bootproof.harness.xen.parsers import bad_patterns
from bootproof.harness.xen.scenarios import DOMU_CMD, XEN_CMD, config_text

pytestmark = pytest.mark.e2e

TOOLS = ("qemu-system-aarch64", "mkimage", "dpkg-deb", "apt-get", "mkfs.vfat", "mcopy",
         "mke2fs", "debugfs", "sfdisk")
LOAD = "load virtio 0:1"
PREFIX = "xen"
# load order matters: each module after the ones it depends on (from their .modinfo)
MODULES = ("drivers/virtio/virtio_pci_modern_dev", "drivers/virtio/virtio_pci_legacy_dev",
           "drivers/virtio/virtio_pci", "drivers/block/virtio_blk", "crypto/crc32c_generic",
           "lib/crc16", "fs/mbcache", "fs/jbd2/jbd2", "fs/ext4/ext4")

MOUNT_INIT = """#!/bin/sh
# dom0's ramdisk: load the disk and ext4 drivers, mount root=, switch into it.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in MODULES; do
    insmod "/lib/modules/$m.ko" || echo "=== DISKBOOT insmod $m failed ==="
done
root=
for word in $(cat /proc/cmdline); do
    case "$word" in root=*) root="${word#root=}" ;; esac
done
i=0
while [ ! -b "$root" ] && [ $i -lt 60 ]; do sleep 1; i=$((i + 1)); done
mkdir -p /newroot
if ! mount -t ext4 "$root" /newroot; then
    echo "=== DISKBOOT cannot mount $root ==="
    while true; do sleep 3600; done
fi
mount --move /dev /newroot/dev
umount /sys
umount /proc
exec switch_root /newroot /sbin/init
"""

DOM0_INIT = """#!/bin/sh
# dom0's init, read from the ext4 partition: report the root mount and the xl configs.
mount -t proc proc /proc
mount -t sysfs sysfs /sys
root=$(grep ' / ' /proc/mounts | grep -v rootfs | head -n 1 | cut -d ' ' -f 1-3 | tr ' ' ':')
echo "=== DISKBOOT dom0 root=$root ==="
for f in /etc/xen/*.cfg; do
    sed "s|^|xlcfg $(basename "$f"): |" "$f"
done
echo "=== DISKBOOT xl configs: $(ls /etc/xen | tr '\\n' ' ')==="
dev=$(sed -n 's|^disk = \\[ "\\([^,]*\\),.*|\\1|p' /etc/xen/domU1.cfg)
if mount -t ext4 -o ro "$dev" /mnt; then
    echo "=== DISKBOOT domU1 disk $dev hostname=$(cat /mnt/etc/hostname) ==="
else
    echo "=== DISKBOOT domU1 disk $dev cannot be mounted ==="
fi
while true; do sleep 3600; done
"""

APPLETS = ("sh", "mount", "umount", "cat", "echo", "grep", "sed", "sleep", "tr", "ls", "head",
           "cut", "basename", "insmod", "mkdir", "switch_root")


def _applets(names: tuple[str, ...]) -> list[CpioEntry]:
    return [CpioEntry(f"bin/{a}", Kind.SYMLINK, 0o777, b"busybox") for a in names]


def _dom0_ramdisk(busybox: bytes, modules: Path) -> bytes:
    import gzip

    script = MOUNT_INIT.replace("MODULES", " ".join(Path(m).name for m in MODULES))
    entries = initramfs_entries(busybox, init_script=script)
    have = {e.name for e in entries}
    entries += [e for e in _applets(APPLETS) if e.name not in have]
    entries += [CpioEntry("lib", Kind.DIR, 0o755), CpioEntry("lib/modules", Kind.DIR, 0o755)]
    entries += [CpioEntry(f"lib/modules/{Path(m).name}.ko", Kind.FILE, 0o644,
                          (modules / f"{m}.ko").read_bytes()) for m in MODULES]
    return gzip.compress(write_newc(entries), mtime=0)


def _dom0_rootfs(busybox: bytes) -> bytes:
    """dom0's rootfs archive: no device nodes (devtmpfs is moved in), /sbin/init on ext4."""
    import gzip

    dirs = ("bin", "dev", "etc", "mnt", "proc", "sbin", "sys", "tmp")
    entries = [CpioEntry(d, Kind.DIR, 0o755) for d in dirs]
    entries.append(CpioEntry("bin/busybox", Kind.FILE, 0o755, busybox))
    entries += _applets(APPLETS)
    entries.append(CpioEntry("sbin/init", Kind.FILE, 0o755, DOM0_INIT.encode()))
    return gzip.compress(write_newc(entries), mtime=0)


def _domu_rootfs(path: Path) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in (("etc/hostname", b"domu1-on-disk\n"),):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _run(argv: list[str]) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{argv[0]} failed: {proc.stdout}{proc.stderr}"
    return proc.stdout


def test_xen_boots_from_the_disk_image(tmp_path: Path) -> None:
    require_tool(*TOOLS)
    guests = prepare_guest_set(tmp_path / "d", progress=None)
    assets = ensure_guest_assets(progress=None)
    modules = next((assets.kernel.parent.parent / "lib/modules").iterdir()) / "kernel"
    d = guests.directory
    busybox = assets.busybox.read_bytes()
    (d / "mount.cpio.gz").write_bytes(_dom0_ramdisk(busybox, modules))
    (d / "dom0-rootfs.cpio.gz").write_bytes(_dom0_rootfs(busybox))
    _domu_rootfs(d / "domu1-rootfs.tar.gz")
    config = d / "disk.cfg"
    config.write_text(config_text({
        "MEMORY_START": "0x40000000", "MEMORY_END": "0xC0000000",
        "DEVICE_TREE": guests.dtb, "XEN": guests.xen, "XEN_CMD": XEN_CMD,
        "DOM0_KERNEL": guests.kernel, "DOM0_RAMDISK": "mount.cpio.gz",
        "DOM0_ROOTFS": "dom0-rootfs.cpio.gz",
        # pci=nomsi: Xen gives dom0 no MSI controller here; virtio-pci then uses INTx
        # without first warning about failed MSI-X set-up
        "DOM0_CMD": "console=hvc0 earlycon=xenboot rdinit=/init pci=nomsi root=/dev/vda2",
        "NUM_DOMUS": 2,
        "DOMU_KERNEL": [guests.kernel, guests.kernel],
        "DOMU_RAMDISK": [guests.initrd, None],
        "DOMU_CMD": [f"{DOMU_CMD} marker=DOMU0", None],
        "DOMU_MEM": [256, 128],
        "DOMU_ROOTFS": [None, "domu1-rootfs.tar.gz"],
        "DOMU_NOBOOT": [None, 1],
        "LOAD_CMD": LOAD, "UBOOT_SOURCE": "boot.source", "UBOOT_SCRIPT": "boot.scr",
    }))
    bindir = Path(sys.executable).parent
    out = _run([str(bindir / "uboot-script-gen"), "-c", str(config), "-d", str(d),
                "-t", LOAD, "-p", PREFIX])
    load_line = next(ln.strip() for ln in out.splitlines() if "source" in ln
                     and ln.startswith(LOAD))
    disk = tmp_path / "disk.img"
    report = _run([str(bindir / "disk_image"), "-c", str(config), "-d", str(d), "-t", LOAD,
                   "-p", PREFIX, "-s", "16", "-o", str(disk)])
    assert "/dev/vda2" in report and "/dev/vda3" in report

    board = load_board(BOARD)
    argv = board.argv(extra=["-bios", str(UBOOT_BIOS), "-nic", "none",
                             "-drive", f"if=none,format=raw,file={disk},id=hd0",
                             "-device", "virtio-blk-pci,drive=hd0"])
    deadline = Deadline(480)
    with QemuMachine(argv, log_dir=tmp_path / "logs", name="disk-boot",
                     bad_patterns=bad_patterns()) as machine:
        console = machine.console
        console.expect(r"Hit any key to stop autoboot", deadline, name="U-Boot autoboot")
        console.send(" ")
        console.expect(r"^=> ", deadline, name="U-Boot prompt")
        console.send_line(f"virtio scan; {load_line}", deadline=deadline.child(30))
        console.expect(r"## Executing script at [0-9a-fA-F]+", deadline, name="script loaded")
        console.expect(r"\(XEN\) Xen version \S+", deadline, name="Xen banner")
        root, configs, domu_disk, _ = console.expect_all_any_order([
            r"=== DISKBOOT dom0 root=(\S+) ===",
            r"=== DISKBOOT xl configs: ([^\n]*)===",
            r"=== DISKBOOT domU1 disk ([^\n]*) ===",
            marker_pattern("DOMU0"),
        ], deadline)
        console.drain(1.0)
        log = console.log_text()

    # / is the ext4 partition 2 of the disk, not the ramdisk
    assert root.group(1) == "/dev/vda2:/:ext4"
    assert configs.group(1).split() == ["domU0.cfg", "domU1.cfg"]
    # the NOBOOT domU's config names its real partition, which holds its tar.gz rootfs
    assert domu_disk.group(1) == "/dev/vda3 hostname=domu1-on-disk"
    assert re.search(r'xlcfg domU1\.cfg: disk = \[ "/dev/vda3,raw,xvda,rw" \]', log)
    assert re.search(rf'xlcfg domU1\.cfg: kernel = "/boot/{PREFIX}/{guests.kernel}"', log)
    assert re.search(r"xlcfg domU1\.cfg: memory = 128", log)
    assert re.search(rf'xlcfg domU0\.cfg: ramdisk = "/boot/{PREFIX}/{guests.initrd}"', log)
    assert "DISKBOOT insmod" not in log
    assert "WARNING:" not in log and "cut here" not in log

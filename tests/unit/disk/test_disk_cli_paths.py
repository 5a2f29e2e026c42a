"""disk_image and bootproof xen disk with the paths users type.

Each case runs the installed command from a working directory that is not the config's
directory, with ``-d .``, ``-d ../x`` or absolute paths (:mod:`cli_paths`) for ``-c``,
``-d``, ``-o``, ``-w`` and ``--json``. The inputs hand files to mkfs.vfat/mtools (boot
files, an overlay), to the archive reader (a rootfs made by ``tar``) and to the passthrough
reader (a DTB named relative to ``-d``, which the reference looked up in the working
directory). The image is read back with sfdisk, mtools and debugfs.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cli_paths import MODES, make_tree, run_cli
from conftest import require_tool
from disk_testutil import debugfs, ext4_read, fat_read, run, sfdisk_json, slice_partition, write_dts

TOOLS = ("sfdisk", "mkfs.vfat", "mcopy", "mmd", "mke2fs", "debugfs", "dtc", "tar")

PASSTHROUGH = """/dts-v1/;
/ { #address-cells = <2>; #size-cells = <2>;
    passthrough { compatible = "simple-bus"; ranges; #address-cells = <2>; #size-cells = <2>;
        uart@9040000 { reg = <0x0 0x9040000 0x0 0x1000>; interrupts = <0 8 4>;
            xen,reg = <0x0 0x9040000 0x0 0x1000 0x0 0x9040000>; xen,path = "/pl011@9040000";
        };
    };
};
"""

CONFIG = """\
MEMORY_START=0x40000000
MEMORY_END=0x80000000
DEVICE_TREE=dtbs/virt.dtb
NUM_DT_OVERLAY=1
DT_OVERLAY[0]=dtbs/extra.dtbo
XEN=xen
DOM0_KERNEL=Image
DOM0_ROOTFS=rootfs/dom0.tar.gz
NUM_DOMUS=1
DOMU_KERNEL[0]=Image
DOMU_PASSTHROUGH_DTB[0]=dtbs/uart.dtb
DOMU_NOBOOT[0]=1
UBOOT_SOURCE=boot.source
UBOOT_SCRIPT=boot.scr
"""

COMMANDS = (["disk_image"], ["bootproof", "xen", "disk"])


@pytest.mark.parametrize("command", COMMANDS, ids=["disk_image", "xen-disk"])
@pytest.mark.parametrize("mode", MODES)
def test_disk_image_from_another_directory(tmp_path: Path, mode: str,
                                           command: list[str]) -> None:
    require_tool(*TOOLS)
    t = make_tree(tmp_path, mode)
    d = t.data
    (d / "dtbs").mkdir()
    write_dts(d / "dtbs", "virt", '/dts-v1/;\n/ { compatible = "linux,dummy-virt"; };\n')
    write_dts(d / "dtbs", "uart", PASSTHROUGH)
    (d / "dtbs" / "extra.dtbo").write_bytes((d / "dtbs" / "uart.dtb").read_bytes())
    (d / "Image").write_bytes(b"kernel" * 1000)
    (d / "xen").write_bytes(b"xen" * 1000)
    (d / "boot.source").write_text("echo boot\n")
    (d / "boot.scr").write_bytes(b"\x27\x05\x19\x56" + bytes(76))
    tree = tmp_path / "rootsrc"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "hostname").write_text("dom0\n")
    (d / "rootfs").mkdir()
    subprocess.run(["tar", "--numeric-owner", "-czf", str(d / "rootfs" / "dom0.tar.gz"),
                    "-C", str(tree), "."], check=True)
    (t.conf / "config").write_text(CONFIG)

    image, layout = t.out / "disk.img", t.out / "disk.json"
    r = run_cli([*command, "-c", t.arg(t.conf / "config"), "-d", t.d, "-t", "sd",
                 "-o", t.arg(image), "-w", t.arg(t.work), "--json", t.arg(layout),
                 "-s", "8", "-q"], t.cwd)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert list(t.work.iterdir()) == [], "the -w directory keeps nothing"
    parts = sfdisk_json(image)["partitions"]
    assert len(parts) == 2
    doc = json.loads(layout.read_text())["detail"]
    assert [p["number"] for p in doc["partitions"]] == [1, 2]
    boot = slice_partition(image, parts[0]["start"], parts[0]["size"], tmp_path / "p1")
    for name in ("Image", "xen", "dtbs/virt.dtb", "dtbs/extra.dtbo", "boot.scr"):
        assert fat_read(boot, name, tmp_path / "f") == (d / name).read_bytes(), name
    root = slice_partition(image, parts[1]["start"], parts[1]["size"], tmp_path / "p2")
    assert ext4_read(root, "etc/hostname", tmp_path / "h") == b"dom0\n"
    xl = ext4_read(root, "etc/xen/domU0.cfg", tmp_path / "xl").decode()
    # read from dtbs/uart.dtb under -d: 0x9040000 is page 0x9040, one page
    assert 'iomem = [ "9040,1@9040" ]' in xl and 'device_tree = "/etc/xen/uart.dtb"' in xl
    assert "uart.dtb" in debugfs(root, "ls -l /etc/xen")
    assert run("sfdisk", "-d", image).returncode == 0

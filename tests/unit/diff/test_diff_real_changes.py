"""``bootproof diff`` on real changes made with the real builders, one per target:

* Xous: an init program's ``.rodata`` grows by a page (two ELFs from the cross compiler,
  two args.bin from the builder); the diff is of the two args.bin files;
* Xen: a domU kernel grows past the next 2 MiB boundary; the diff is of the two
  ImageBuilder configs (planned, nothing written);
* disk: the dom0 rootfs grows; the diff is of the two disk images.

Each expected delta is computed from the inputs (pyelftools, the sizes handed to the
builder with the planner's documented rule, sfdisk), not taken from the diff's own code.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, require_tool
from elftools.elf.elffile import ELFFile

from bootproof.builder.diff.inputs import load_disk
from bootproof.builder.disk.image import build_disk
from bootproof.builder.xen.config import load_config
from bootproof.builder.xous.build import build_image
from bootproof.builder.xous.regions import read_svd, reduce_regions
from bootproof.harness.cli import main

MIB = 1 << 20
PAGE = 4096
GUESTS = Path(__file__).parents[1] / "xous" / "guests"
CC = "riscv64-unknown-elf-gcc"
CFLAGS = ["-march=rv32imac", "-mabi=ilp32", "-nostdlib", "-ffreestanding", "-O1",
          "-msmall-data-limit=0", "-Wl,--build-id=none", "-Wl,--no-warn-rwx-segments"]
PROGRAM = """
__attribute__((used)) static const char pad[PAD] = {1};
int value = 42;
void _start(void) { for (;;) value += pad[value % PAD]; }
"""


def _diff(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code = main(["diff", *argv, "--format", "json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out else {}


def _changes(doc: dict[str, Any], space: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(c["name"], c["what"]): c for c in doc["changes"] if c["space"] == space}


# -- Xous ------------------------------------------------------------------------------------


def _cc(tmp: Path, name: str, src: Path, ld: Path, *extra: str) -> Path:
    out = tmp / f"{name}.elf"
    subprocess.run([CC, *CFLAGS, *extra, "-T", str(ld), str(src), "-o", str(out)], check=True,
                   capture_output=True)
    return out


def _rodata(elf: Path) -> int:
    with elf.open("rb") as fh:
        sec = ELFFile(fh).get_section_by_name(".rodata")
        assert sec is not None
        return int(sec.header["sh_size"])


@pytest.mark.cross
def test_xous_program_grows_a_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_tool(CC)
    src = tmp_path / "grow.c"
    src.write_text(PROGRAM)
    kernel = _cc(tmp_path, "kernel", GUESTS / "kernel.c", GUESTS / "kernel.ld")
    shell = _cc(tmp_path, "shell", GUESTS / "init.c", GUESTS / "init.ld")
    memory = reduce_regions(read_svd(FIXTURES / "xous" / "precursor-soc-pvt.svd"), source="svd")
    images = []
    for pad in (64, 64 + PAGE):
        d = tmp_path / f"pad{pad}"
        d.mkdir()
        grow = _cc(d, "grow", src, GUESTS / "init.ld", f"-DPAD={pad}")
        out = d / "args.bin"
        build_image(out, kernel, [("IniE", grow), ("IniE", shell)], memory,
                    map_path=d / "args.json")
        images.append((out, grow))
    (old, old_elf), (new, new_elf) = images
    # the builder's --map and the args.bin decoded hold the same layout
    assert main(["diff", str(old.with_name("args.json")), str(old), "--fail-on", "any"]) == 0
    capsys.readouterr()
    growth = _rodata(new_elf) - _rodata(old_elf)
    assert growth == PAGE  # the ELF itself, read by pyelftools
    code, doc = _diff(capsys, str(old), str(new))
    assert code == 0
    changes = _changes(doc, "args.bin")
    assert changes["grow", "resized"]["delta_bytes"] == growth
    # payloads are page-aligned one after another: whatever the old size s, a payload of
    # s + 4096 bytes ends exactly one page later, so everything after it moves by a page
    moved = {name: c["delta"] for (name, what), c in changes.items() if what == "moved"}
    assert moved == {"shell": PAGE, "kernel": PAGE}
    assert {name for (name, what) in changes if what == "resized"} == {"grow"}
    (space,) = [s for s in doc["spaces"] if s["name"] == "args.bin"]
    assert space["new_headroom"] == space["old_headroom"]  # a bare file: its size grows too
    assert doc["overlaps"] == []
    # the program's first bytes are the same; its tag (sizes, offsets) changed
    assert ("tag IniE", "content") in changes
    assert main(["diff", str(old), str(new), "--fail-on", "move"]) == 1
    assert "move: shell in args.bin by +0x1000" in capsys.readouterr().err
    # the new args.bin signed (Precursor xous.img): diff reads the args.bin inside
    signed = new.with_name("xous.img")
    assert main(["xous", "sign", "--kernel-image", str(new), "--kernel-output", str(signed),
                 "--git-describe", "v0.9.8-791"]) == 0
    capsys.readouterr()
    code, doc = _diff(capsys, str(old), str(signed))
    assert code == 0
    changes = _changes(doc, "args.bin")
    assert changes["grow", "resized"]["delta_bytes"] == growth
    assert {n: c["delta"] for (n, w), c in changes.items() if w == "moved"} == moved


# -- Xen -------------------------------------------------------------------------------------

DTS = """/dts-v1/;
/ { #address-cells = <2>; #size-cells = <2>; compatible = "linux,dummy-virt";
    memory@40000000 { device_type = "memory"; reg = <0x0 0x40000000 0x0 0x80000000>; };
    chosen { };
};
"""


def _arm64_image(path: Path, size: int) -> Path:
    head = bytearray(64)
    head[16:24] = size.to_bytes(8, "little")  # image_size: what the kernel takes in RAM
    head[56:60] = b"ARM\x64"
    path.write_bytes(bytes(head) + bytes(size - 64))
    return path


def _round(n: int, align: int) -> int:
    return -(-n // align) * align


def test_xen_domu_kernel_grows_past_2mib(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    require_tool("dtc")
    d = tmp_path / "bin"
    d.mkdir()
    subprocess.run(["dtc", "-I", "dts", "-O", "dtb", "-o", str(d / "virt.dtb")],
                   input=DTS.encode(), check=True, capture_output=True)
    _arm64_image(d / "Image", 0x400000)
    (d / "xen").write_bytes(bytes(0x100000))
    (d / "initrd").write_bytes(gzip.compress(b"070701" + bytes(1000)))
    old_size, new_size = 0x1F0000, 0x210000  # 2 MiB - 64 KiB, then 2 MiB + 64 KiB
    _arm64_image(d / "small", old_size)
    _arm64_image(d / "big", new_size)
    base = ("MEMORY_START=0x40000000\nMEMORY_END=0xC0000000\nLOAD_CMD=tftpb\n"
            "DEVICE_TREE=virt.dtb\nXEN=xen\nDOM0_KERNEL=Image\nNUM_DOMUS=2\n"
            "DOMU_KERNEL[1]=Image\nDOMU_RAMDISK[1]=initrd\nDOMU_RAMDISK[0]=initrd\n"
            "UBOOT_SOURCE=boot.source\nUBOOT_SCRIPT=boot.scr\n")
    (d / "old.cfg").write_text(base + "DOMU_KERNEL[0]=small\n")
    (d / "new.cfg").write_text(base + "DOMU_KERNEL[0]=big\n")
    before = sorted(os.listdir(d))
    code, doc = _diff(capsys, str(d / "old.cfg"), str(d / "new.cfg"))
    assert sorted(os.listdir(d)) == before  # planned only: nothing written
    # what `xen script --map` writes and the config planned by diff hold the same layout
    assert main(["xen", "script", "-c", str(d / "old.cfg"), "-d", str(d), "--map",
                 str(tmp_path / "old.map.json")]) == 0
    capsys.readouterr()
    assert main(["diff", str(tmp_path / "old.map.json"), str(d / "old.cfg"), "--fail-on",
                 "any"]) == 0, capsys.readouterr()
    capsys.readouterr()
    assert code == 0
    changes = _changes(doc, "ram")
    align = 2 * MIB  # ImageBuilder's default ADDRESS_ALIGN
    step = _round(new_size, align) - _round(old_size, align)
    assert step == 2 * MIB
    kernel = changes["domU0-kernel", "resized"]
    assert kernel["delta_bytes"] == new_size - old_size
    kernel_start = kernel["old"]["start"]
    assert kernel["new"]["start"] == kernel_start  # the kernel itself stays
    moved = {name: c for (name, what), c in changes.items() if what == "moved"}
    assert moved, "the modules after the kernel must move"
    for name, c in moved.items():
        assert c["delta_bytes"] == step, name
        assert c["old"]["start"] > kernel_start, name
    # every module placed after the kernel moved; the modules before stayed
    assert {"domU0-ramdisk", "domU1-kernel", "domU1-ramdisk"} <= set(moved)
    (ram,) = doc["spaces"]
    assert ram["headroom_delta_bytes"] == -step
    assert doc["overlaps"] == []
    assert main(["diff", str(d / "old.cfg"), str(d / "new.cfg"), "--fail-on", "grow"]) == 1
    assert "grow: domU0-kernel in ram by +0x20000" in capsys.readouterr().err
    assert main(["diff", str(d / "old.cfg"), str(d / "new.cfg"), "--fail-on",
                 "headroom-below=2G"]) == 1  # less than all of RAM is free


def test_xen_config_directory_options(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """--old-dir/--new-dir: one config, two directories (the base and the change)."""
    require_tool("dtc")
    cfg = tmp_path / "config"
    cfg.write_text("MEMORY_START=0x40000000\nMEMORY_END=0xC0000000\nLOAD_CMD=tftpb\n"
                   "DEVICE_TREE=virt.dtb\nXEN=xen\nDOM0_KERNEL=Image\nNUM_DOMUS=0\n"
                   "UBOOT_SOURCE=boot.source\n")
    for name, size in (("a", 0x300000), ("b", 0x500000)):
        d = tmp_path / name
        d.mkdir()
        subprocess.run(["dtc", "-I", "dts", "-O", "dtb", "-o", str(d / "virt.dtb")],
                       input=DTS.encode(), check=True, capture_output=True)
        _arm64_image(d / "Image", size)
        (d / "xen").write_bytes(name.encode() * 0x80000)  # same size, other bytes
    code, doc = _diff(capsys, str(cfg), str(cfg), "--old-dir", str(tmp_path / "a"),
                      "--new-dir", str(tmp_path / "b"))
    assert code == 0
    changes = _changes(doc, "ram")
    assert changes["dom0-kernel", "resized"]["delta_bytes"] == 0x200000
    content = changes["xen", "content"]
    assert content["old"]["sha256"] == hashlib.sha256(b"a" * 0x80000).hexdigest()
    assert content["new"]["sha256"] == hashlib.sha256(b"b" * 0x80000).hexdigest()
    assert main(["diff", str(cfg), str(cfg), "--old-dir", str(tmp_path / "a"),
                 "--new-dir", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "--new-dir" in err and "nope" in err
    # the config's own directory (the default) has no Xen binary: the error names it
    assert main(["diff", str(cfg), str(cfg)]) == 2
    assert "XEN='xen': file does not exist" in capsys.readouterr().err


# -- disk ------------------------------------------------------------------------------------


def _sfdisk(image: Path) -> list[dict[str, Any]]:
    out = subprocess.run(["sfdisk", "-J", str(image)], capture_output=True, text=True,
                         check=True).stdout
    parts: list[dict[str, Any]] = json.loads(out)["partitiontable"]["partitions"]
    return parts


def _inputs(d: Path, blob: int) -> Path:
    d.mkdir()
    (d / "Image").write_bytes(bytes(range(256)) * 1024)
    (d / "xen").write_bytes(bytes(range(256)) * 256)
    subprocess.run(["dtc", "-I", "dts", "-O", "dtb", "-o", str(d / "virt.dtb")],
                   input=DTS.encode(), check=True, capture_output=True)
    (d / "boot.source").write_text("echo boot\n")
    (d / "boot.scr").write_bytes(b"\x27\x05\x19\x56" + bytes(76))
    root = d / "root"
    (root / "usr").mkdir(parents=True)
    (root / "usr" / "blob").write_bytes(os.urandom(blob))
    with tarfile.open(d / "dom0.tar.gz", "w:gz") as tar:
        tar.add(root, arcname=".")
    (root / "usr" / "blob").write_bytes(b"domu")
    with tarfile.open(d / "domu.tar.gz", "w:gz") as tar:
        tar.add(root, arcname=".")
    cfg = d / "config"
    cfg.write_text("MEMORY_START=0x40000000\nMEMORY_END=0xC0000000\n"
                   "LOAD_CMD=\"load virtio 0:1\"\nDEVICE_TREE=virt.dtb\nXEN=xen\n"
                   "DOM0_KERNEL=Image\nDOM0_ROOTFS=dom0.tar.gz\nNUM_DOMUS=1\n"
                   "DOMU_KERNEL[0]=Image\nDOMU_ROOTFS[0]=domu.tar.gz\nDOMU_NOBOOT[0]=1\n"
                   "UBOOT_SOURCE=boot.source\nUBOOT_SCRIPT=boot.scr\n")
    return cfg


def test_disk_rootfs_grows_a_partition(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    require_tool("sfdisk", "mkfs.vfat", "mcopy", "mmd", "mke2fs", "debugfs", "dtc")
    images = []
    for name, blob in (("old", 1 * MIB), ("new", 5 * MIB)):
        cfg = _inputs(tmp_path / name, blob)
        out = tmp_path / f"{name}.img"
        build_disk(load_config(cfg), tmp_path / name, out, slack_mib=8,
                   json_path=tmp_path / f"{name}.json")
        images.append(out)
    old, new = images
    # the builder's --json and the image read back (metadata only) hold the same layout
    assert main(["diff", str(tmp_path / "old.json"), str(old), "--fail-on", "any"]) == 0
    capsys.readouterr()
    a, b = _sfdisk(old), _sfdisk(new)
    grow = b[1]["size"] - a[1]["size"]
    shift = b[2]["start"] - a[2]["start"]
    assert grow > 0 and shift == grow  # what sfdisk reads: partition 2 grew, 3 moved
    assert [p["start"] for p in a[:2]] == [p["start"] for p in b[:2]]
    disk_growth = new.stat().st_size - old.stat().st_size
    code, doc = _diff(capsys, str(old), str(new))
    assert code == 0
    changes = _changes(doc, "disk")
    assert changes["partition 2", "resized"]["delta"] == grow
    assert changes["partition 2", "resized"]["delta_bytes"] == grow * 512
    assert changes["partition 3", "moved"]["delta"] == shift
    assert {(n, w) for (n, w) in changes if w in ("moved", "resized")} == {
        ("partition 2", "resized"), ("partition 3", "moved")}
    (disk,) = [s for s in doc["spaces"] if s["name"] == "disk"]
    # the disk grows with the partition: the room after the last one is the same
    assert disk_growth == grow * 512
    assert disk["headroom_delta"] == 0
    # the boot partition holds the same files: nothing changed in it
    assert not [c for c in doc["changes"] if c["space"].startswith("partition1")]
    assert main(["diff", str(old), str(new), "--fail-on", "move"]) == 1
    assert "move: partition 3 in disk" in capsys.readouterr().err


@pytest.mark.parametrize(("extra", "prefix", "item"), [
    ("GPT=y\n", "/boot/xen", "gpt backup"),
    ("NUM_DOMUS=4\nDOMU_KERNEL[1]=Image\nDOMU_ROOTFS[1]=domu.tar.gz\nDOMU_NOBOOT[1]=1\n"
     "DOMU_KERNEL[2]=Image\nDOMU_ROOTFS[2]=domu.tar.gz\nDOMU_NOBOOT[2]=1\n"
     "DOMU_KERNEL[3]=Image\nDOMU_ROOTFS[3]=domu.tar.gz\nDOMU_NOBOOT[3]=1\n", "", "ebr 6"),
], ids=["gpt-prefix", "dos-logical"])
def test_disk_image_reads_back_as_its_json(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           extra: str, prefix: str, item: str) -> None:
    """The image read back (label, FAT tree, superblocks) and the builder's --json agree,
    for a GPT with the boot files in a subdirectory and for a DOS label with logical
    partitions (EBRs)."""
    require_tool("sfdisk", "mkfs.vfat", "mcopy", "mmd", "mke2fs", "debugfs", "dtc")
    cfg = _inputs(tmp_path / "in", 4096)
    with cfg.open("a") as fh:
        fh.write(extra)
    image, doc = tmp_path / "d.img", tmp_path / "d.json"
    build_disk(load_config(cfg), tmp_path / "in", image, slack_mib=8, prefix=prefix,
               json_path=doc)
    code, got = _diff(capsys, str(doc), str(image))
    assert code == 0 and got["changes"] == [] and got["overlaps"] == []
    layout = load_disk(image)
    disk = layout.space("disk")
    assert disk is not None and disk.find(item) is not None
    files = layout.space("partition1")
    assert files is not None
    names = {i.name for i in files.items}
    want = f"{prefix.strip('/')}/Image" if prefix else "Image"
    assert want in names, names

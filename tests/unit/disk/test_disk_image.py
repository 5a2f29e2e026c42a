"""The whole disk_image pipeline, checked with sfdisk, fsck.vfat, mtools, e2fsck and debugfs."""

from __future__ import annotations

import gzip
import json
import tarfile
from pathlib import Path

import jsonschema
import pytest
from conftest import require_tool
from disk_testutil import (
    debugfs,
    ext4_read,
    fat_read,
    run,
    sfdisk_json,
    slice_partition,
    write_dts,
)

from bootproof.builder.disk.cli import main
from bootproof.builder.disk.plan import (
    boot_partition_bytes,
    plan_partitions,
    rootfs_partition_bytes,
)
from bootproof.builder.formats.cpio import CpioEntry, Kind, write_newc
from bootproof.builder.layout.model import schema_text

MIB = 1 << 20
TOOLS = ("sfdisk", "mkfs.vfat", "mcopy", "mmd", "fsck.vfat", "mke2fs", "debugfs", "e2fsck",
         "dtc")

PASSTHROUGH = """/dts-v1/;
/ { #address-cells = <2>; #size-cells = <2>;
    passthrough { compatible = "simple-bus"; ranges; #address-cells = <2>; #size-cells = <2>;
        uart@9040000 { reg = <0x0 0x9040000 0x0 0x1000>; interrupts = <0 8 4>;
            xen,reg = <0x0 0x9040000 0x0 0x1000 0x0 0x9040000>; xen,path = "/pl011@9040000";
        };
    };
};
"""


def _blob(n: int, seed: int) -> bytes:
    return bytes((i * 7 + seed) & 0xFF for i in range(n))


def _inputs(d: Path, *, extra: str = "") -> Path:
    """A -d directory and config: dom0 (tar.gz rootfs), domU0 booted with a passthrough DTB,
    domU1 NOBOOT with a cpio.gz rootfs."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "Image").write_bytes(_blob(300_000, 1))
    (d / "xen").write_bytes(_blob(100_000, 2))
    write_dts(d, "virt", '/dts-v1/;\n/ { compatible = "linux,dummy-virt"; chosen { }; };\n')
    write_dts(d, "uart", PASSTHROUGH)
    (d / "initrd").write_bytes(write_newc([CpioEntry("init", Kind.FILE, 0o755, b"#!/bin/sh\n")]))
    (d / "boot.source").write_text("echo boot\n")
    (d / "boot.scr").write_bytes(b"\x27\x05\x19\x56" + _blob(76, 3))
    root = d / "rootsrc"
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc/hostname").write_text("dom0\n")
    (root / "sbin").mkdir(exist_ok=True)
    (root / "sbin/init").write_bytes(_blob(5000, 4))
    def fixed(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime = 1_600_000_000  # the archive, and so the image, must not depend on today
        return info

    with tarfile.open(d / "dom0.tar.gz", "w:gz") as tar:
        tar.add(root, arcname=".", filter=fixed)
    (d / "domu1.cpio.gz").write_bytes(gzip.compress(write_newc([
        CpioEntry("etc", Kind.DIR, 0o755),
        CpioEntry("etc/hostname", Kind.FILE, 0o644, b"domu1\n"),
        CpioEntry("bin", Kind.DIR, 0o755),
        CpioEntry("bin/sh", Kind.SYMLINK, 0o777, b"busybox"),
    ]), mtime=0))
    cfg = d / "config"
    cfg.write_text(
        "MEMORY_START=0x40000000\nMEMORY_END=0x80000000\n"
        'LOAD_CMD="load virtio 0:1"\nDEVICE_TREE=virt.dtb\nXEN=xen\n'
        "DOM0_KERNEL=Image\nDOM0_ROOTFS=dom0.tar.gz\nNUM_DOMUS=2\n"
        "DOMU_KERNEL[0]=Image\nDOMU_RAMDISK[0]=initrd\nDOMU_PASSTHROUGH_DTB[0]=uart.dtb\n"
        'DOMU_CMD[0]="console=ttyAMA0 rdinit=/init"\n'
        "DOMU_KERNEL[1]=Image\nDOMU_ROOTFS[1]=domu1.cpio.gz\nDOMU_NOBOOT[1]=1\n"
        "DOMU_MEM[1]=256\nDOMU_VCPUS[1]=2\n"
        "UBOOT_SOURCE=boot.source\nUBOOT_SCRIPT=boot.scr\n" + extra)
    return cfg


def _build(tmp: Path, *args: str, out: str = "disk.img", extra: str = "") -> tuple[int, Path]:
    cfg = _inputs(tmp / "in", extra=extra)
    image = tmp / out
    code = main(["-c", str(cfg), "-d", str(tmp / "in"), "-o", str(image), "-s", "8", *args])
    return code, image


# Hand-computed sizes for the inputs above:
#   boot files: Image 300000 (named by DOM0_KERNEL, DOMU_KERNEL[0] and [1]: counted 3 times,
#   as the reference does) + virt.dtb + boot.scr 80 + boot.source 10 + xen 100000 + initrd
#   + uart.dtb: well under 2 MiB, so boot = 16 MiB + 2 MiB = 18 MiB = 36864 sectors;
#   each rootfs is a few KiB: 2 MiB rounded, x2 = 4 MiB, + 8 MiB slack = 12 MiB = 24576;
#   disk = 18 + 12 + 12 + 16 = 58 MiB = 118784 sectors.
BOOT_SECTORS, ROOT_SECTORS, DISK_SECTORS = 36864, 24576, 118784


def test_layout_read_back_with_independent_tools(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    require_tool(*TOOLS)
    code, image = _build(tmp_path, "--json", str(tmp_path / "layout.json"))
    assert code == 0
    assert image.stat().st_size == DISK_SECTORS * 512
    table = sfdisk_json(image)
    assert table["label"] == "dos"
    parts = [(p["start"], p["size"], p["type"]) for p in table["partitions"]]
    assert parts == [(2048, BOOT_SECTORS, "e"), (2048 + BOOT_SECTORS, ROOT_SECTORS, "83"),
                     (2048 + BOOT_SECTORS + ROOT_SECTORS, ROOT_SECTORS, "83")]
    report = capsys.readouterr().out
    assert "dom0.tar.gz" in report and "/dev/vda3" in report
    doc = json.loads((tmp_path / "layout.json").read_text())
    jsonschema.validate(doc, json.loads(schema_text()))
    layout = doc["detail"]  # the disk JSON of earlier versions, whole
    assert [p["start_lba"] for p in layout["partitions"]] == [s for s, _, _ in parts]
    (disk, files) = doc["spaces"]  # the sectors sfdisk read, and the boot partition's files
    assert (disk["name"], disk["unit"], disk["size"]) == ("disk", "sector", DISK_SECTORS)
    assert [(i["name"], i["start"], i["size"]) for i in disk["items"]] == [
        ("mbr", 0, 1), *((f"partition {n}", s, k) for n, (s, k, _) in enumerate(parts, 1))]
    src = tmp_path / "in"
    assert files["name"] == "partition1" and {i["name"]: i["size"] for i in files["items"]} == {
        n: (src / n).stat().st_size
        for n in ("Image", "xen", "virt.dtb", "uart.dtb", "initrd", "boot.scr", "boot.source")}
    assert [p["device"] for p in layout["partitions"]] == ["/dev/vda1", "/dev/vda2",
                                                           "/dev/vda3"]

    boot = slice_partition(image, 2048, BOOT_SECTORS, tmp_path / "p1")
    assert run("fsck.vfat", "-n", boot).returncode == 0
    for name in ("Image", "xen", "virt.dtb", "uart.dtb", "initrd", "boot.scr", "boot.source"):
        assert fat_read(boot, name, tmp_path / "f") == (src / name).read_bytes(), name

    dom0 = slice_partition(image, 2048 + BOOT_SECTORS, ROOT_SECTORS, tmp_path / "p2")
    fsck = run("e2fsck", "-fn", dom0, check=False)
    assert fsck.returncode == 0, fsck.stdout
    assert ext4_read(dom0, "sbin/init", tmp_path / "x") == (src / "rootsrc/sbin/init").read_bytes()
    listing = debugfs(dom0, "ls /etc/xen")
    for name in ("domU0.cfg", "domU1.cfg", "uart.dtb"):
        assert name in listing
    assert ext4_read(dom0, "etc/xen/uart.dtb", tmp_path / "u") == (src / "uart.dtb").read_bytes()
    cfg0 = ext4_read(dom0, "etc/xen/domU0.cfg", tmp_path / "c0").decode().splitlines()
    assert 'kernel = "/boot/Image"' in cfg0 and 'ramdisk = "/boot/initrd"' in cfg0
    assert 'extra = "console=ttyAMA0 rdinit=/init root=/dev/ram0"' in cfg0
    assert 'iomem = [ "9040,1@9040" ]' in cfg0 and "irqs = [ 40 ]" in cfg0
    assert 'dtdev = [ "/pl011@9040000" ]' in cfg0
    cfg1 = ext4_read(dom0, "etc/xen/domU1.cfg", tmp_path / "c1").decode().splitlines()
    assert "memory = 256" in cfg1 and "vcpus = 2" in cfg1
    assert 'disk = [ "/dev/vda3,raw,xvda,rw" ]' in cfg1  # the partition really holding it
    assert 'extra = "console=hvc0 root=/dev/xvda"' in cfg1

    domu = slice_partition(image, 2048 + BOOT_SECTORS + ROOT_SECTORS, ROOT_SECTORS,
                           tmp_path / "p3")
    assert run("e2fsck", "-fn", domu, check=False).returncode == 0
    assert ext4_read(domu, "etc/hostname", tmp_path / "h") == b"domu1\n"
    assert "busybox" in debugfs(domu, "stat /bin/sh")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c0", "c1", "disk.img", "f", "h",
                                                          "in", "layout.json", "p1", "p2",
                                                          "p3", "u", "x"]


def test_two_builds_are_byte_identical(tmp_path: Path) -> None:
    require_tool(*TOOLS)
    code_a, a = _build(tmp_path / "a", "-q")
    code_b, b = _build(tmp_path / "b", "-q")  # fresh inputs, later mtimes, same content
    assert code_a == code_b == 0
    assert a.read_bytes() == b.read_bytes()


def test_gpt_prefix_and_power_of_two(tmp_path: Path) -> None:
    require_tool(*TOOLS)
    code, image = _build(tmp_path, "-a", "-p", "/boot/xen", "-q", extra="GPT=y\n")
    assert code == 0
    assert image.stat().st_size == 64 * MIB  # 58 MiB rounded up to a power of two
    table = sfdisk_json(image)
    assert table["label"] == "gpt"
    assert [p.get("name") for p in table["partitions"]] == ["boot", "Linux2", "Linux3"]
    assert "No errors detected" in run("sfdisk", "--verify", image).stdout
    boot = slice_partition(image, 2048, BOOT_SECTORS, tmp_path / "p1")
    assert fat_read(boot, "boot/xen/Image", tmp_path / "f") == (tmp_path / "in/Image").read_bytes()
    dom0 = slice_partition(image, 2048 + BOOT_SECTORS, ROOT_SECTORS, tmp_path / "p2")
    text = ext4_read(dom0, "etc/xen/domU1.cfg", tmp_path / "c").decode()
    assert 'kernel = "/boot/boot/xen/Image"' in text


def _no_leftovers(tmp: Path) -> None:
    assert sorted(p.name for p in tmp.iterdir()) == ["in"]


def test_missing_file_is_an_error_and_leaves_nothing(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    require_tool(*TOOLS)
    code, _ = _build(tmp_path, extra="DOMU_KERNEL[1]=nope/Image\n")
    assert code == 2
    err = capsys.readouterr().err
    assert "DOMU_KERNEL[1]" in err and "nope/Image" in err
    _no_leftovers(tmp_path)


@pytest.mark.parametrize("prefix", ["a b", "x;reset", "$boot"])
def test_prefix_the_boot_script_could_not_use_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], prefix: str) -> None:
    code, _ = _build(tmp_path, "-p", prefix)
    assert code == 2
    err = capsys.readouterr().err
    assert "-p=" in err and prefix in err and "prefix" in err
    _no_leftovers(tmp_path)


def test_hostile_rootfs_is_an_error_and_leaves_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_tool(*TOOLS)
    evil = tmp_path / "in" / "evil.cpio"
    evil.parent.mkdir(parents=True)
    evil.write_bytes(write_newc([CpioEntry("../../escaped", Kind.FILE, data=b"x")]))
    code, _ = _build(tmp_path, extra="DOMU_ROOTFS[1]=evil.cpio\n")
    assert code == 2
    err = capsys.readouterr().err
    assert "evil.cpio" in err and "'..'" in err
    _no_leftovers(tmp_path)
    assert not (tmp_path.parent / "escaped").exists()


def test_truncated_rootfs_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_tool(*TOOLS)
    _inputs(tmp_path / "in")
    cut = tmp_path / "in" / "cut.cpio.gz"
    cut.write_bytes((tmp_path / "in" / "domu1.cpio.gz").read_bytes()[:-20])
    code, _ = _build(tmp_path, extra="DOMU_ROOTFS[1]=cut.cpio.gz\n")
    assert code == 2
    assert "cut.cpio.gz" in capsys.readouterr().err
    _no_leftovers(tmp_path)


def test_more_rootfs_than_primary_slots_go_logical(tmp_path: Path) -> None:
    require_tool(*TOOLS)
    extra = ("NUM_DOMUS=4\nDOMU_KERNEL[2]=Image\nDOMU_ROOTFS[2]=domu1.cpio.gz\n"
             "DOMU_NOBOOT[2]=1\nDOMU_KERNEL[3]=Image\nDOMU_ROOTFS[3]=dom0.tar.gz\n"
             "DOMU_NOBOOT[3]=1\n")
    code, image = _build(tmp_path, "-q", "--json", str(tmp_path / "l.json"), extra=extra)
    assert code == 0
    got = sfdisk_json(image)["partitions"]
    # boot, dom0, domU1 primary; slot 4 extended; domU2, domU3 logical 5 and 6, each
    # 1 MiB (2048 sectors) after the previous partition, where its EBR is
    p3_end = 2048 + BOOT_SECTORS + 2 * ROOT_SECTORS
    assert [(p["node"][-1], p["start"], p["type"]) for p in got] == [
        ("1", 2048, "e"), ("2", 2048 + BOOT_SECTORS, "83"),
        ("3", 2048 + BOOT_SECTORS + ROOT_SECTORS, "83"), ("4", p3_end, "f"),
        ("5", p3_end + 2048, "83"), ("6", p3_end + 2048 + ROOT_SECTORS + 2048, "83")]
    assert "No errors detected" in run("sfdisk", "--verify", image).stdout
    layout = json.loads((tmp_path / "l.json").read_text())["detail"]
    assert [p["number"] for p in layout["partitions"]] == [1, 2, 3, 5, 6]
    # 18 + 4 x 12 MiB partitions, 2 EBR gaps of 1 MiB, 16 MiB headroom = 84 MiB
    assert layout["size_bytes"] == 84 * MIB
    dom0 = slice_partition(image, 2048 + BOOT_SECTORS, ROOT_SECTORS, tmp_path / "p2")
    cfg3 = ext4_read(dom0, "etc/xen/domU3.cfg", tmp_path / "c3").decode()
    assert 'disk = [ "/dev/vda6,raw,xvda,rw" ]' in cfg3
    last = slice_partition(image, got[5]["start"], got[5]["size"], tmp_path / "p6")
    assert run("e2fsck", "-fn", last, check=False).returncode == 0
    assert ext4_read(last, "etc/hostname", tmp_path / "h") == b"dom0\n"


def test_bad_slack_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _inputs(tmp_path / "in")
    assert main(["-c", str(cfg), "-d", str(tmp_path / "in"), "-o", str(tmp_path / "x.img"),
                 "-s", "0"]) == 2
    assert "-s" in capsys.readouterr().err


def test_slack_past_a_dos_label_is_refused_before_building(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _inputs(tmp_path / "in")
    slack = 1 << 20  # 1 TiB per rootfs partition, two of them: over the DOS label's 2 TiB
    assert main(["-c", str(cfg), "-d", str(tmp_path / "in"), "-o", str(tmp_path / "x.img"),
                 "-w", str(tmp_path), "-s", str(slack)]) == 2
    err = capsys.readouterr().err
    assert f"-s={slack:#x} ({slack})" in err and "DOS" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_sizes_follow_the_reference() -> None:
    # The reference's trace (spec section 5): 3 MiB extracted -> 4 MiB, x2 = 8, + 128 = 136.
    assert rootfs_partition_bytes(3 * MIB, 128) == 136 * MIB
    assert rootfs_partition_bytes(4 * MIB + 1, 128) == (12 + 128) * MIB
    # boot: files + 16 MiB rounded up to 2 MiB
    assert boot_partition_bytes(23 * MIB + 5) == 40 * MIB
    # that trace's image: 40 + 136 + 132 + 16 = 324 MiB
    placed, sectors = plan_partitions([40 * MIB, 136 * MIB, 132 * MIB], pow2=False)
    assert sectors == 324 * 2048
    assert placed == [(2048, 40 * 2048), (2048 + 40 * 2048, 136 * 2048),
                      (2048 + 176 * 2048, 132 * 2048)]
    assert plan_partitions([40 * MIB, 136 * MIB, 132 * MIB], pow2=True)[1] == 512 * 2048


def test_umbrella_command_builds_the_same_image(tmp_path: Path) -> None:
    require_tool(*TOOLS)
    from bootproof.harness.cli import main as bootproof

    code, image = _build(tmp_path / "a", "-q")
    assert code == 0
    cfg = _inputs(tmp_path / "b" / "in")
    other = tmp_path / "b" / "disk.img"
    assert bootproof(["xen", "disk", "-c", str(cfg), "-d", str(tmp_path / "b" / "in"),
                      "-o", str(other), "-s", "8", "-q"]) == 0
    assert other.read_bytes() == image.read_bytes()


def test_linux_mode_rootfs_takes_partition_2(tmp_path: Path) -> None:
    require_tool(*TOOLS)
    d = tmp_path / "in"
    _inputs(d)
    cfg = d / "linux.cfg"
    cfg.write_text("MEMORY_START=0x40000000\nMEMORY_END=0x80000000\nDEVICE_TREE=virt.dtb\n"
                   'LOAD_CMD="load mmc 0:1"\nLINUX=Image\nLINUX_ROOTFS=domu1.cpio.gz\n'
                   "UBOOT_SOURCE=boot.source\nUBOOT_SCRIPT=boot.scr\n")
    image = tmp_path / "l.img"
    assert main(["-c", str(cfg), "-d", str(d), "-o", str(image), "-s", "8", "-q",
                 "--json", str(tmp_path / "l.json")]) == 0
    layout = json.loads((tmp_path / "l.json").read_text())["detail"]
    assert [(p["role"], p["device"]) for p in layout["partitions"]] == [
        ("boot", "/dev/mmcblk0p1"), ("linux", "/dev/mmcblk0p2")]
    assert layout["xl_configs"] == []
    part = sfdisk_json(image)["partitions"][1]
    domu = slice_partition(image, part["start"], part["size"], tmp_path / "p2")
    assert ext4_read(domu, "etc/hostname", tmp_path / "h") == b"domu1\n"


def test_output_never_overwrites_an_input(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    require_tool(*TOOLS)
    cfg = _inputs(tmp_path / "in")
    kernel = tmp_path / "in" / "Image"
    before = kernel.read_bytes()
    assert main(["-c", str(cfg), "-d", str(tmp_path / "in"), "-o", str(kernel), "-s", "8"]) == 2
    assert "overwrite" in capsys.readouterr().err
    assert kernel.read_bytes() == before


def test_layout_json_never_overwrites_an_input_or_the_image(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_tool(*TOOLS)
    cfg = _inputs(tmp_path / "in")
    before = cfg.read_bytes()
    base = ["-c", str(cfg), "-d", str(tmp_path / "in"), "-s", "8", "-q"]
    image = tmp_path / "disk.img"
    assert main([*base, "-o", str(image), "--json", str(cfg)]) == 2
    assert "--json" in capsys.readouterr().err
    assert cfg.read_bytes() == before
    assert main([*base, "-o", str(image), "--json", str(image)]) == 2
    assert "--json" in capsys.readouterr().err
    _no_leftovers(tmp_path)


def test_layout_json_that_cannot_be_written_leaves_no_image(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_tool(*TOOLS)
    code, image = _build(tmp_path, "--json", str(tmp_path / "missing" / "layout.json"))
    assert code == 2 and "missing" in capsys.readouterr().err
    assert not image.exists()
    _no_leftovers(tmp_path)


def test_work_dir_is_used_and_cleaned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_tool(*TOOLS)
    work = tmp_path / "work"
    code, _ = _build(tmp_path, "-w", str(work))
    assert code == 2 and "-w" in capsys.readouterr().err
    work.mkdir()
    code, image = _build(tmp_path, "-w", str(work), "-q")
    assert code == 0 and image.is_file()
    assert list(work.iterdir()) == []


def test_domu_names_name_the_xl_configs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_tool(*TOOLS)
    code, _ = _build(tmp_path / "a", "-q", "--json", str(tmp_path / "a.json"),
                     extra='DOMU_NAME[1]="storage"\n')
    assert code == 0
    assert json.loads((tmp_path / "a.json").read_text())["detail"]["xl_configs"] == ["domU0.cfg",
                                                                          "storage.cfg"]
    code, _ = _build(tmp_path / "b", extra='DOMU_NAME[1]="../evil"\n')
    assert code == 2 and "DOMU_NAME[1]" in capsys.readouterr().err

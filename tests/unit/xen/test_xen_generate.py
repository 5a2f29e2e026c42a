"""End-to-end generation on QEMU's real DTB, checked with dtc/fdtput/fdtget.

Every test replays the generated ``fdt`` commands on the DTB with ``fdtput`` (an
independent implementation of the same libfdt operations U-Boot uses) and reads the
result with ``fdtget``/``dtc``; expectations come from the config and the layout's
hand-checkable rules, not from the generator's own output.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import require_tool
from xen_testlib import (
    DATA,
    DOM0,
    EPOCH,
    HEAD,
    TWO_DOMUS,
    Gen,
    booted,
    dtc_compile,
    dts_text,
    fdt_children,
    fdtget_cells,
    fdtget_strings,
    gen,
    host_dtb,
    reg,
    work,
)

from bootproof.builder.errors import ConfigError, InputError, LayoutError, OverflowError_
from bootproof.builder.formats import uimage
from bootproof.builder.formats.fdt import DeviceTree
from bootproof.builder.xen import fdtcmd
from bootproof.builder.xen.config import load_config
from bootproof.builder.xen.generator import generate
from bootproof.builder.xen.steps import GenerateOptions

__all__ = ["gen", "host_dtb", "work"]

def test_dom0_and_two_domus(work: Path, gen: Gen) -> None:
    res = gen(TWO_DOMUS)
    lay = res.layout
    dtb = booted(work, res)
    assert fdtget_strings(dtb, "/chosen", "xen,xen-bootargs") == [
        "console=dtuart dtuart=/pl011@9000000 dom0_mem=512M bootscrub=0"]
    assert fdtget_cells(dtb, "/chosen", "#address-cells") == [2]
    k = lay.find("dom0-kernel")
    assert k is not None and k.size == 0x700000  # arm64 header image_size > file size
    assert fdtget_strings(dtb, k.dt_node, "compatible") == [  # type: ignore[arg-type]
        "xen,linux-zimage", "xen,multiboot-module", "multiboot,module"]
    assert fdtget_cells(dtb, k.dt_node, "reg") == reg(k)  # type: ignore[arg-type]
    assert k.dt_node == f"/chosen/dom0@{k.addr:X}"
    assert fdtget_strings(dtb, "/chosen", "xen,dom0-bootargs") == [
        "console=hvc0 rdinit=/init root=/dev/ram0"]
    rd = lay.find("dom0-ramdisk")
    assert rd is not None and rd.size == (work / "rootfs.cpio.gz").stat().st_size
    assert fdtget_cells(dtb, rd.dt_node, "reg") == reg(rd)  # type: ignore[arg-type]
    # DomUs in index order in the tree (Xen creates them in tree order: domU0 = d1).
    chosen = fdt_children(dtb, "/chosen")
    assert chosen.index("domU0") < chosen.index("domU1")
    assert fdtget_strings(dtb, "/chosen/domU0", "compatible") == ["xen,domain"]
    assert fdtget_cells(dtb, "/chosen/domU0", "memory") == [0, 256 * 1024]
    assert fdtget_cells(dtb, "/chosen/domU1", "memory") == [0, 512 * 1024]
    assert fdtget_cells(dtb, "/chosen/domU1", "cpus") == [2]
    assert fdtget_strings(dtb, "/chosen/domU0", "xen,enhanced") == ["enabled"]
    assert fdtget_strings(dtb, "/chosen/domU1", "vpl011") == ["pl011"]  # per domU
    for i, kfile in ((0, "Image"), (1, "Image-small")):
        km = lay.find("domU-kernel", i)
        assert km is not None and km.file == kfile
        assert km.dt_node == f"/chosen/domU{i}/module@{km.addr:X}"
        assert fdtget_strings(dtb, km.dt_node, "compatible") == [
            "multiboot,kernel", "multiboot,module"]
        assert fdtget_cells(dtb, km.dt_node, "reg") == reg(km)
    assert fdtget_strings(dtb, lay.find("domU-kernel", 0).dt_node, "bootargs") == [  # type: ignore[arg-type, union-attr]
        "console=ttyAMA0 marker=DOMU0"]
    rm = lay.find("domU-ramdisk", 0)
    assert fdtget_strings(dtb, rm.dt_node, "compatible") == [  # type: ignore[arg-type, union-attr]
        "multiboot,ramdisk", "multiboot,module"]
    # Loads: every module at its address, in the reference's order; the boot line.
    lines = res.source.splitlines()
    loads = [ln for ln in lines if ln.startswith("tftpb ")]
    assert loads == [f"tftpb 0x{m.addr:X} {m.file}" for m in lay.modules]
    assert [m.role for m in lay.modules] == ["dom0-kernel", "dom0-ramdisk", "domU-kernel",
                                             "domU-ramdisk", "domU-kernel", "xen", "dtb"]
    x, d = lay.find("xen"), lay.find("dtb")
    assert lines[-2:] == ["setenv fdt_high 0xffffffffffffffff",
                          f"booti 0x{x.addr:X} - 0x{d.addr:X}"]  # type: ignore[union-attr]
    assert f"fdt addr 0x{d.addr:X}" in lines  # type: ignore[union-attr]
    for a, b in zip(lay.modules, lay.modules[1:], strict=False):
        assert b.addr >= a.end and b.addr % 0x200000 == 0


def test_interpreter_matches_fdtput(work: Path, gen: Gen) -> None:
    res = gen(TWO_DOMUS + 'NUM_CPUPOOLS=1\nCPUPOOL[0]="cpu@1 null"\nDOMU_CPUPOOL[1]=0\n')
    by_fdtput = booted(work, res)
    tree = DeviceTree.load(work / "virt.dtb")
    fdtcmd.apply(tree, fdtcmd.parse_script(res.source))
    (work / "interp.dtb").write_bytes(tree.to_bytes())
    assert dts_text(work / "interp.dtb") == dts_text(by_fdtput)


def test_boot_scr_round_trip_and_mkimage(work: Path, gen: Gen) -> None:
    res = gen(TWO_DOMUS)
    scr = (work / "boot.scr").read_bytes()
    src = (work / "boot.source").read_bytes()
    assert uimage.script_source(scr) == src == res.source.encode()
    assert uimage.decode(scr).load == res.layout.script_addr == 0x40200000


def test_boot_scr_equals_mkimage(work: Path, gen: Gen) -> None:
    require_tool("mkimage")
    gen(TWO_DOMUS)
    subprocess.run(["mkimage", "-A", "arm64", "-T", "script", "-C", "none", "-a",
                    "0x40200000", "-e", "0x40200000", "-d", "boot.source", "ref.scr"],
                   cwd=work, check=True, capture_output=True,
                   env={**EPOCH, "PATH": "/usr/bin:/bin"})
    assert (work / "ref.scr").read_bytes() == (work / "boot.scr").read_bytes()


def test_reproducible(work: Path, gen: Gen) -> None:
    gen(TWO_DOMUS)
    first = (work / "boot.scr").read_bytes()
    gen(TWO_DOMUS)
    assert (work / "boot.scr").read_bytes() == first


def test_cpupools_use_dtb_phandles_in_hex(work: Path, gen: Gen) -> None:
    res = gen(TWO_DOMUS + 'NUM_CPUPOOLS=1\nCPUPOOL[0]="cpu@1 null"\nDOMU_CPUPOOL[1]=0\n')
    original = fdtget_cells(work / "virt.dtb", "/cpus/cpu@1", "phandle")[0]
    # upstream 2024-01 (spec #21): a phandle the DTB has is used with 0x, never set again
    assert "fdt set /cpus/cpu@1 phandle" not in res.source
    assert f"fdt set /chosen/cpupool_0 cpupool-cpus < 0x{original:x}>" in res.source.splitlines()
    dtb = booted(work, res)
    assert fdtget_cells(dtb, "/cpus/cpu@1", "phandle") == [original]  # unchanged
    assert fdtget_strings(dtb, "/chosen/cpupool_0", "compatible") == ["xen,cpupool"]
    assert fdtget_cells(dtb, "/chosen/cpupool_0", "cpupool-cpus") == [original]
    assert fdtget_strings(dtb, "/chosen/cpupool_0", "cpupool-sched") == ["null"]
    pool = fdtget_cells(dtb, "/chosen/cpupool_0", "phandle")[0]
    assert pool not in DeviceTree.load(work / "virt.dtb").phandles()
    assert fdtget_cells(dtb, "/chosen/domU1", "domain-cpupool") == [pool]


def test_cpupool_with_unknown_cpu(gen: Gen) -> None:
    with pytest.raises(ConfigError, match="no such cpu"):
        gen(TWO_DOMUS + 'NUM_CPUPOOLS=1\nCPUPOOL[0]="cpu@7"\n')


def test_binding_features(work: Path, gen: Gen) -> None:
    res = gen(DOM0 + """\
XEN_STATIC_HEAP="0x60000000 0x1000000"
NUM_DOMUS=4
DOMU_KERNEL[0]=Image-small
DOMU_STATIC_MEM[0]="0x50000000 0x8000000 0x100000000 0x4000000"
DOMU_COLORS[0]=0-3
DOMU_VIOMMU[0]=1
DOMU_NR_SPIS[0]=96
DOMU_P2M_MEM_MB[0]=8
DOMU_PASSTHROUGH[0]=enabled
DOMU_CAPS[0]="hardware|xenstore"
DOMU_SHARED_MEM[0]="shm-a 0x70000000 0x10000000 0x200000"
DOMU_VCPU_HARD_AFFINITY[0,0]="1"
DOMU_KERNEL[1]=Image-small
DOMU_PASSTHROUGH_DTB[1]=eth0.dtb
DOMU_PASSTHROUGH_PATHS[1]="/pl061@9030000"
DOMU_SHARED_MEM[1]="shm-b 0x20000000 0x100000"
DOMU_DIRECT_MAP[1]=0
DOMU_ENHANCED[1]=0
DOMU_KERNEL[2]=Image-small
DOMU_NOBOOT[2]=1
DOMU_PASSTHROUGH_PATHS[2]="/pl031@9010000"
DOMU_ROOTFS[3]=rootfs.cpio.gz
""")
    dtb = booted(work, res)
    assert fdtget_cells(dtb, "/chosen", "xen,static-heap") == [0, 0x60000000, 0, 0x1000000]
    d0 = "/chosen/domU0"
    assert fdtget_cells(dtb, d0, "xen,static-mem") == [0, 0x50000000, 0, 0x8000000,
                                                       1, 0, 0, 0x4000000]
    assert fdtget_cells(dtb, d0, "memory") == [0, (0x8000000 + 0x4000000) >> 10]
    props = set(DeviceTree.load(dtb).prop_names(d0))
    assert {"direct-map", "viommu", "vpl011"} <= props
    assert fdtget_cells(dtb, d0, "colors") == [0xF]
    assert fdtget_cells(dtb, d0, "nr_spis") == [96]
    assert fdtget_cells(dtb, d0, "xen,domain-p2m-mem-mb") == [8]
    assert fdtget_strings(dtb, d0, "passthrough") == ["enabled"]
    assert fdtget_cells(dtb, d0, "capabilities") == [2 | 4]
    shm = f"{d0}/shared-mem@0x70000000"  # upstream: the host address as typed
    assert fdtget_strings(dtb, shm, "compatible") == ["xen,domain-shared-memory-v1"]
    assert fdtget_strings(dtb, shm, "xen,shm-id") == ["shm-a"]
    assert fdtget_cells(dtb, shm, "xen,shared-mem") == [0, 0x70000000, 0, 0x10000000,
                                                        0, 0x200000]
    assert fdtget_cells(dtb, "/chosen/domU1/shared-mem-shm-b", "xen,shared-mem") == [
        0, 0x20000000, 0, 0x100000]
    assert fdtget_strings(dtb, f"{d0}/vcpu0", "compatible") == ["xen,vcpu"]
    assert fdtget_cells(dtb, f"{d0}/vcpu0", "id") == [0]
    assert fdtget_strings(dtb, f"{d0}/vcpu0", "hard-affinity") == ["1"]
    d1 = set(DeviceTree.load(dtb).prop_names("/chosen/domU1"))
    assert "xen,enhanced" not in d1 and "direct-map" not in d1
    pt = res.layout.find("domU-dtb", 1)
    assert pt is not None and pt.size == (work / "eth0.dtb").stat().st_size
    assert fdtget_strings(dtb, pt.dt_node, "compatible") == [  # type: ignore[arg-type]
        "multiboot,device-tree", "multiboot,module"]
    assert fdtget_cells(dtb, pt.dt_node, "reg") == reg(pt)  # type: ignore[arg-type]
    # Passthrough paths are marked even for a NOBOOT domU, which is not created.
    assert "xen,passthrough" in DeviceTree.load(dtb).prop_names("/pl061@9030000")
    assert "xen,passthrough" in DeviceTree.load(dtb).prop_names("/pl031@9010000")
    chosen = fdt_children(dtb, "/chosen")
    assert "domU2" not in chosen and "domU3" not in chosen
    assert not any(m.domu in (2, 3) for m in res.layout.modules)
    assert any("Skipping DomU[3]" in w for w in res.warnings)


def test_true_dom0less(work: Path, gen: Gen) -> None:
    res = gen("NUM_DOMUS=1\nDOMU_KERNEL[0]=Image\nDOM0_MEM=700\n")
    dtb = booted(work, res)
    assert not any(n.startswith("dom0") for n in fdt_children(dtb, "/chosen"))
    bootargs = fdtget_strings(dtb, "/chosen", "xen,xen-bootargs")[0]
    assert "dom0" not in bootargs and "console=dtuart" in bootargs
    assert "xen,enhanced" not in DeviceTree.load(dtb).prop_names("/chosen/domU0")


def test_linux_mode(work: Path, gen: Gen) -> None:
    (work / "config").write_text(HEAD.replace("XEN=xen\n", "") + "LINUX=Image\n"
                                 "LINUX_RAMDISK=rootfs.cpio.gz\nLINUX_CMD=console=ttyAMA0\n")
    res = generate(load_config(work / "config", env={}), work, GenerateOptions(env=EPOCH))
    dtb = booted(work, res)
    rd = res.layout.find("linux-ramdisk")
    assert rd is not None
    assert fdtget_strings(dtb, "/chosen", "bootargs") == ["console=ttyAMA0 root=/dev/ram0"]
    assert fdtget_cells(dtb, "/chosen", "linux,initrd-start") == [rd.addr]
    assert fdtget_cells(dtb, "/chosen", "linux,initrd-end") == [rd.addr + rd.size]
    k, d = res.layout.find("linux-kernel"), res.layout.find("dtb")
    assert res.source.splitlines()[-1] == f"booti 0x{k.addr:X} - 0x{d.addr:X}"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("boot_cmd", "last"),
    [("booti", ["booti {x} - {d}"]), ("bootz", ["bootz {x} - {d}"]),
     ("bootefi", ["bootefi {x}  {d}"]),  # upstream 2024-07: "-" dropped, two blanks
     ("bootm", ["bootm {x} - {d}"]),
     ("none", ["setenv host_kernel_addr {x}", "setenv host_fdt_addr {d}"])],
)
def test_boot_commands(work: Path, gen: Gen, boot_cmd: str, last: list[str]) -> None:
    res = gen(f"BOOT_CMD={boot_cmd}\n" + DOM0)
    x, d = res.layout.find("xen"), res.layout.find("dtb")
    assert x is not None and d is not None
    want = [ln.format(x=f"0x{x.addr:X}", d=f"0x{d.addr:X}") for ln in last]
    assert res.source.splitlines()[-len(want):] == want
    if boot_cmd == "bootm":
        assert x.file == "xen.ub"
        img = uimage.decode((work / "xen.ub").read_bytes())
        assert (img.arch, img.type, img.load, img.entry) == (22, 2, x.addr, x.addr)
        assert img.data == (work / "xen").read_bytes()
        assert x.size == (work / "xen").stat().st_size + 64


def test_prefix_and_load_alias(work: Path, gen: Gen) -> None:
    res = gen(DOM0, load_cmd="sd", prefix="/boot/")
    assert "load mmc 0:1 0x40400000 /boot/Image" in res.source.splitlines()
    assert res.hints == ("Generated uboot script boot.scr, to be loaded at address 0x40200000:",
                         "load mmc 0:1 0x40200000 /boot/boot.scr; source 0x40200000")


def test_dom0_rootfs_root_device(gen: Gen) -> None:
    res = gen(DOM0 + "DOM0_ROOTFS=rootfs.cpio.gz\n", load_cmd="sd")
    assert 'root=/dev/mmcblk0p2"' in res.source
    res = gen(DOM0 + "DOM0_ROOTFS=rootfs.cpio.gz\n", load_cmd="scsi")
    assert 'root=/dev/sda2"' in res.source


def test_fdtedit_offline_copy(work: Path, gen: Gen) -> None:
    res = gen(TWO_DOMUS + "FDTEDIT=virt-edited.dtb\n")
    text = dts_text(work / "virt-edited.dtb")  # dtc decompiles it without -f
    assert "\\#" not in text and "#address-cells" in text
    assert text == dts_text(booted(work, res))  # the same tree a board ends up with
    assert "fdt mknod" in res.source  # non-FIT: the script still edits at boot


def test_overlays_applied_at_boot(work: Path, gen: Gen) -> None:
    res = gen(DOM0 + "NUM_DT_OVERLAY=1\nDT_OVERLAY[0]=ovl.dtbo\n")
    ov, d = res.layout.find("overlay"), res.layout.find("dtb")
    assert ov is not None and d is not None and ov.addr < d.addr
    lines = res.source.splitlines()
    assert lines.index(f"fdt apply 0x{ov.addr:X}") == lines.index(f"fdt addr 0x{d.addr:X}") + 2
    assert any("fdt apply" in n for n in res.notes)


def test_overlays_merged_offline(work: Path, gen: Gen) -> None:
    res = gen(DOM0 + "NUM_DT_OVERLAY=1\nDT_OVERLAY[0]=ovl.dtbo\n", merge_overlays=True)
    assert "fdt apply" not in res.source
    d = res.layout.find("dtb")
    assert d is not None and d.file == "virt-overlays.dtb"
    assert res.layout.find("overlay") is None
    assert fdtget_strings(work / "virt-overlays.dtb", "/bootproof-test", "compatible") == [
        "bootproof,overlay-test"]
    assert any("merged offline into virt-overlays.dtb" in n for n in res.notes)
    booted(work, res, "virt-overlays.dtb")  # the edits apply on the merged DTB


def test_bitstream_size_in_hex(work: Path, gen: Gen) -> None:
    (work / "fpga.bit").write_bytes(b"\x55" * 1000)
    res = gen(DOM0 + "BITSTREAM=fpga.bit\n")
    b, d = res.layout.find("bitstream"), res.layout.find("dtb")
    assert b is not None and d is not None and b.addr > d.addr
    lines = res.source.splitlines()
    i = lines.index(f"tftpb 0x{b.addr:X} fpga.bit")
    assert lines[i + 1] == f"fpga load 0 0x{b.addr:X} 0x3E8"  # 1000 bytes


def test_append_extra_cmds(work: Path, gen: Gen) -> None:
    (work / "extra.txt").write_text("echo one\necho two\n")
    res = gen(DOM0 + "APPEND_EXTRA_CMDS=extra.txt\n")
    assert res.source.splitlines()[-4:-1] == ["setenv fdt_high 0xffffffffffffffff",
                                              "echo one", "echo two"]


def test_resize_room_for_64_domus(work: Path, gen: Gen) -> None:
    body = DOM0 + "NUM_DOMUS=64\n" + "".join(
        f"DOMU_KERNEL[{i}]=Image-small\nDOMU_CMD[{i}]=\"console=ttyAMA0 marker=DOMU{i}\"\n"
        for i in range(64))
    res = gen(body)
    arg = next(ln for ln in res.source.splitlines() if ln.startswith("fdt resize")).split()[2]
    assert arg.startswith("0x")  # U-Boot's fdt resize parses its argument as hex
    resize = int(arg, 16)
    assert resize > 0x1024  # the reference's "1024" (0x1024 bytes) would overflow
    edited = booted(work, res)
    # Minimal blob sizes via dtc (independent of our encoder); U-Boot also adds a 16-byte
    # memreserve entry for the blob itself.
    def packed(p: Path) -> int:
        out = p.with_suffix(".min")
        subprocess.run(["dtc", "-I", "dtb", "-O", "dtb", "-o", str(out), str(p)], check=True,
                       capture_output=True)
        return out.stat().st_size
    assert packed(edited) - packed(work / "virt.dtb") + 16 <= resize


def test_errors_write_nothing(work: Path) -> None:
    (work / "config").write_text(HEAD.replace("0x80000000", "0x40A00000") + DOM0)
    before = sorted(p.name for p in work.iterdir())
    cfg = load_config(work / "config", env={})
    with pytest.raises(OverflowError_, match="not enough memory"):
        generate(cfg, work, GenerateOptions(map_file=work / "map.json"))
    (work / "config").write_text(HEAD.replace("UBOOT_SOURCE=boot.source\n", "") + DOM0)
    with pytest.raises(ConfigError, match="UBOOT_SOURCE"):
        generate(load_config(work / "config", env={}), work)
    # (PASSTHROUGH_DTS_REPO is supported since issue 11: a repository that is not there)
    (work / "config").write_text(HEAD + DOM0 + "PASSTHROUGH_DTS_REPO=/srv/dts\nNUM_DOMUS=1\n"
                                 'DOMU_KERNEL[0]=Image\nDOMU_PASSTHROUGH_PATHS[0]="/pl061@9030000"\n')
    with pytest.raises(InputError, match="not a directory"):
        generate(load_config(work / "config", env={}), work)
    (work / "config").write_text(HEAD.replace("0x80000000", "0x40A00000") + DOM0 +
                                 "NUM_DT_OVERLAY=1\nDT_OVERLAY[0]=ovl.dtbo\nFDTEDIT=e.dtb\n")
    with pytest.raises(LayoutError):
        generate(load_config(work / "config", env={}), work,
                 GenerateOptions(merge_overlays=True))
    assert sorted(p.name for p in work.iterdir()) == before


def test_no_subprocess_on_default_path(gen: Gen, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*a: object, **k: object) -> None:
        raise AssertionError(f"subprocess spawned: {a}")
    monkeypatch.setattr(subprocess, "Popen", refuse)
    res = gen(TWO_DOMUS + 'NUM_CPUPOOLS=1\nCPUPOOL[0]="cpu@1"\nDOMU_CPUPOOL[0]=0\n'
              "FDTEDIT=e.dtb\n")
    assert res.written


def test_map_file(work: Path, gen: Gen) -> None:
    import json

    res = gen(TWO_DOMUS, map_file=work / "map.json")
    doc = json.loads((work / "map.json").read_text())["detail"]
    assert [(m["role"], m["addr"], m["size"], m["file"], m["dt_node"]) for m in doc["modules"]] \
        == [(m.role, m.addr, m.size, m.file, m.dt_node) for m in res.layout.modules]
    assert doc["domids"] == {"domU0": 1, "domU1": 2}


def test_reserved_memory_from_the_dtb(work: Path, gen: Gen) -> None:
    dtc_compile(DATA / "board-reserved.dts", work / "virt.dtb")
    res = gen(DOM0 + "NUM_DOMUS=1\nDOMU_KERNEL[0]=Image-small\n")
    taken = [(0x40400000, 0x40500000), (0x40E00000, 0x40E01000)]
    for m in res.layout.modules:
        for lo, hi in taken:
            assert m.end <= lo or m.addr >= hi, (m, hex(lo))
    assert res.layout.modules[0].addr == 0x40600000  # first slot 0x40400000 is taken
    booted(work, res)


def test_memory_end_beyond_dtb_ram(work: Path, gen: Gen) -> None:
    dtc_compile(DATA / "board-reserved.dts", work / "virt.dtb")
    big = "".join(f"DOMU_KERNEL[{i}]=Image\n" for i in range(70))
    with pytest.raises(LayoutError, match="outside the device tree's /memory"):
        gen(DOM0 + "NUM_DOMUS=70\n" + big)


def test_dtb_without_chosen(work: Path, gen: Gen) -> None:
    src = work / "nochosen.dts"
    src.write_text((DATA / "board-reserved.dts").read_text().replace("\tchosen {\n\t};\n", ""))
    dtc_compile(src, work / "virt.dtb")
    assert "chosen" not in fdt_children(work / "virt.dtb", "/")
    res = gen(DOM0)
    assert res.source.count("fdt mknod / chosen") == 1
    dtb = booted(work, res)
    assert fdtget_strings(dtb, "/chosen", "xen,dom0-bootargs")


def test_overlay_mode_in_map(work: Path, gen: Gen) -> None:
    assert gen(DOM0).layout.overlay_mode == "none"
    ovl = DOM0 + "NUM_DT_OVERLAY=1\nDT_OVERLAY[0]=ovl.dtbo\n"
    assert gen(ovl).layout.overlay_mode == "boot"
    assert gen(ovl, merge_overlays=True).layout.overlay_mode == "merge"


def test_passthrough_path_must_exist(gen: Gen) -> None:
    with pytest.raises(ConfigError, match="no such node") as err:
        gen(DOM0 + 'NUM_DOMUS=1\nDOMU_KERNEL[0]=Image\nDOMU_PASSTHROUGH_PATHS[0]="/nope@0"\n')
    assert err.value.field == "DOMU_PASSTHROUGH_PATHS[0]"


@pytest.mark.parametrize("extra", ["FDTEDIT=virt.dtb\n", "FDTEDIT=Image\n"])
def test_outputs_never_overwrite_inputs(work: Path, gen: Gen, extra: str) -> None:
    before = {p.name: p.read_bytes() for p in work.iterdir()}
    with pytest.raises(ConfigError, match="overwrite an input"):
        gen(DOM0 + extra)
    with pytest.raises(ConfigError, match="overwrite an input"):
        gen(DOM0, map_file=work / "config")
    after = {p.name: p.read_bytes() for p in work.iterdir()}
    assert {k: v for k, v in after.items() if k != "config"} == before


@pytest.mark.parametrize(("extra", "map_name"), [
    ("UBOOT_SOURCE=boot.scr\n", None),  # the script's source and its uImage in one file
    ("", "boot.source"),
    ("", "boot.scr"),
])
def test_two_outputs_never_share_a_file(work: Path, gen: Gen, extra: str,
                                        map_name: str | None) -> None:
    before = {p.name: p.read_bytes() for p in work.iterdir()}
    kw = {"map_file": work / map_name} if map_name else {}
    with pytest.raises(ConfigError, match="same file") as info:
        gen(DOM0 + extra, **kw)
    assert str(info.value.value).endswith(map_name or "boot.scr")
    after = {p.name: p.read_bytes() for p in work.iterdir()}
    assert {k: v for k, v in after.items() if k != "config"} == before


def test_xsm_policy_module(work: Path, gen: Gen) -> None:
    (work / "policy.bin").write_bytes(b"\x8c\xff\x7c\xf9" + bytes(5000))
    res = gen(DOM0 + "XEN_POLICY=policy.bin\n")
    pol, xen = res.layout.find("xen-policy"), res.layout.find("xen")
    assert pol is not None and xen is not None and pol.addr < xen.addr
    assert pol.dt_node == f"/chosen/xen-policy@{pol.addr:X}"  # upstream's node name
    dtb = booted(work, res)
    assert fdtget_strings(dtb, pol.dt_node, "compatible") == ["xen,xsm-policy",
                                                              "multiboot,module"]
    assert fdtget_cells(dtb, pol.dt_node, "reg") == reg(pol)


def test_unsafe_prefix(gen: Gen) -> None:
    with pytest.raises(InputError, match="prefix"):
        gen(DOM0, prefix="/boot; reset")

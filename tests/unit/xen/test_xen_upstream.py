"""Upstream ImageBuilder 2022-2025 (shared spec imagebuilder-upstream.md): the exact lines.

Every expected line here is copied from the spec's worked examples or built from the rule
it states (section numbers in each test), never from the generator's output. Where
bootproof differs on purpose (``fdt resize``, domUs created in reverse order), the test
says so and checks that line by its own rule.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tool
from xen_testlib import (
    DATA,
    DOM0,
    EPOCH,
    HEAD,
    Gen,
    booted,
    dtc_compile,
    fdtget_cells,
    fdtget_strings,
    gen,
    host_dtb,
    make_cpio_gz,
    make_image,
    work,
)
from xen_testlib import RUN04_CONFIG as PLAN_CI_CONFIG

from bootproof.builder.errors import ConfigError, InputError
from bootproof.builder.formats.fdt import DeviceTree
from bootproof.builder.xen.config import load_config
from bootproof.builder.xen.config.overrides import with_overrides
from bootproof.builder.xen.generator import generate
from bootproof.builder.xen.plan import FileInfo, plan
from bootproof.builder.xen.steps import GenerateOptions, GenerateResult

__all__ = ["gen", "host_dtb", "work"]

#: Xen's CI dom0less config (imagebuilder.md section 7, step 3), as CI writes it: its
#: domU 1 values too, which NUM_DOMUS=1 leaves unread.
CI_CONFIG = PLAN_CI_CONFIG + "DOMU_KERNEL[1]=Image\nDOMU_RAMDISK[1]=initrd\nDOMU_MEM[1]=256\n"


def _block(name: str) -> list[str]:
    """Spec 2.1.2: the 5 lines after each ``<load_cmd> ${memaddr} FILE`` in -s mode."""
    return [f"setenv {name}_addr ${{memaddr}}",
            f"setenv {name}_size ${{filesize}}",
            "setexpr memaddr ${memaddr} \\+ ${filesize}",
            "setexpr memaddr ${memaddr} \\+ 0x1FFFFF",
            "setexpr memaddr ${memaddr} \\& 0xFFFFFFFFFFE00000"]


def _reg(node: str, name: str) -> list[str]:
    """Spec 2.1.3: a module's ``reg`` computed by U-Boot."""
    return [f"setexpr addr_hi ${{{name}_addr}} / 0x100000000",
            f"setexpr addr_lo ${{{name}_addr}} \\& 0xFFFFFFFF",
            f"setexpr size_hi ${{{name}_size}} / 0x100000000",
            f"setexpr size_lo ${{{name}_size}} \\& 0xFFFFFFFF",
            f"fdt set {node} reg <0x${{addr_hi}} 0x${{addr_lo}} 0x${{size_hi}} 0x${{size_lo}}>"]


def _run(tmp: Path, text: str, *, calc: bool = False, load_cmd: str | None = None,
         env: dict[str, str] | None = None) -> GenerateResult:
    (tmp / "config").write_text(text)
    cfg = with_overrides(load_config(tmp / "config", env={}), load_cmd=load_cmd)
    return generate(cfg, tmp, GenerateOptions(env=env or EPOCH, calc=calc))


# -- 2.1 -s ------------------------------------------------------------------------------

def test_calc_worked_example_2_1_7(tmp_path: Path) -> None:
    """The spec's worked example, the Xen CI config with ``-t tftp -s``; no binary exists
    yet (the point of -s)."""
    res = _run(tmp_path, CI_CONFIG, calc=True, load_cmd="tftp")
    want = [
        "setenv memaddr 0x40400000",
        "tftpb ${memaddr} Image", *_block("dom0_linux"),
        "tftpb ${memaddr} dom0-rootfs.cpio.gz", *_block("dom0_ramdisk"),
        "tftpb ${memaddr} Image", *_block("domU0_kernel"),
        "tftpb ${memaddr} initrd", *_block("domU0_ramdisk"),
        "tftpb ${memaddr} xen", *_block("host_kernel"),
        "tftpb ${memaddr} virt.dtb", *_block("host_fdt"),
        "fdt addr ${host_fdt_addr}",
        "fdt resize 1024",
        "fdt set /chosen \\#address-cells <0x2>",
        "fdt set /chosen \\#size-cells <0x2>",
        'fdt set /chosen xen,xen-bootargs "console=dtuart dom0_mem=512M console_timestamps=boot"',
        "fdt mknod /chosen dom0@40400000",
        'fdt set /chosen/dom0@40400000 compatible  "xen,linux-zimage" "xen,multiboot-module" '
        '"multiboot,module"',
        *_reg("/chosen/dom0@40400000", "dom0_linux"),
        'fdt set /chosen xen,dom0-bootargs "console=hvc0 earlycon=xen earlyprintk=xen '
        'clk_ignore_unused root=/dev/ram0"',
        "fdt mknod /chosen dom0-ramdisk@40600000",
        'fdt set /chosen/dom0-ramdisk@40600000 compatible  "xen,linux-initrd" '
        '"xen,multiboot-module" "multiboot,module"',
        *_reg("/chosen/dom0-ramdisk@40600000", "dom0_ramdisk"),
        "fdt mknod /chosen domU0",
        'fdt set /chosen/domU0 compatible "xen,domain"',
        "fdt set /chosen/domU0 \\#address-cells <0x2>",
        "fdt set /chosen/domU0 \\#size-cells <0x2>",
        "fdt set /chosen/domU0 memory <0x0 0x40000 >",
        "fdt set /chosen/domU0 cpus <1>",
        "fdt set /chosen/domU0 vpl011 <0x1>",
        'fdt set /chosen/domU0 xen,enhanced "enabled"',
        "fdt mknod /chosen/domU0 module@40800000",
        'fdt set /chosen/domU0/module@40800000 compatible  "multiboot,kernel" "multiboot,module"',
        *_reg("/chosen/domU0/module@40800000", "domU0_kernel"),
        'fdt set /chosen/domU0/module@40800000 bootargs "console=ttyAMA0"',
        "fdt mknod /chosen/domU0 module@40A00000",
        'fdt set /chosen/domU0/module@40A00000 compatible  "multiboot,ramdisk" "multiboot,module"',
        *_reg("/chosen/domU0/module@40A00000", "domU0_ramdisk"),
        "setenv fdt_high 0xffffffffffffffff",
        "booti ${host_kernel_addr} - ${host_fdt_addr}",
    ]
    got = res.source.splitlines()
    # On purpose different: fdt resize gets the room the edits need, in hex (U-Boot reads
    # upstream's 1024 as 0x1024 bytes), never less than upstream's.
    i = want.index("fdt resize 1024")
    assert re.fullmatch(r"fdt resize 0x[0-9a-f]+", got[i])
    assert int(got[i].split()[-1], 16) >= 0x1024
    assert got[:i] + got[i + 1:] == want[:i] + want[i + 1:]
    assert res.hints == ("Generated uboot script boot.scr, to be loaded at address 0x40200000:",
                         "tftpb 0x40200000 boot.scr; source 0x40200000")
    assert res.layout.calc


def test_calc_type_checks_files_that_exist(work: Path) -> None:
    """2.1.5: with -s a missing file is fine, an existing one is still type-checked."""
    (work / "initrd").write_text("not a cpio\n")
    with pytest.raises(InputError, match="expected a cpio") as info:
        _run(work, CI_CONFIG, calc=True)
    assert info.value.field == "DOMU_RAMDISK[0]"


@pytest.mark.parametrize(("extra", "field", "message"), [
    ("BOOT_CMD=bootm\n", "BOOT_CMD", "bootm is not compatible with -s"),
    ("FDTEDIT=edited.dtb\n", "FDTEDIT", "-s cannot be used with FDTEDIT"),
    ("FIT=boot.fit\n", "FIT", "-s cannot be used with FIT"),
])
def test_calc_refuses_what_it_cannot_do(tmp_path: Path, extra: str, field: str,
                                        message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        _run(tmp_path, CI_CONFIG + extra, calc=True)
    assert info.value.field == field
    assert not (tmp_path / "boot.scr").exists() and not (tmp_path / "boot.source").exists()


def test_calc_boot_commands_overlays_and_bitstream(work: Path) -> None:
    """2.1.4 and 2.12: bootefi's two blanks, BOOT_CMD=none writes nothing, overlays and
    the bitstream use the variables."""
    extra = ("NUM_DT_OVERLAY=1\nDT_OVERLAY[0]=ovl.dtbo\nBITSTREAM=bit.bin\n")
    (work / "bit.bin").write_bytes(bytes(range(256)) * 4)
    lines = _run(work, HEAD + DOM0 + extra + "BOOT_CMD=bootefi\n", calc=True).source.splitlines()
    assert lines[-1] == "bootefi ${host_kernel_addr}  ${host_fdt_addr}"
    assert "fdt apply ${host_fdto0_addr}" in lines
    assert "tftpb ${memaddr} ovl.dtbo" in lines and "setenv host_fdto0_addr ${memaddr}" in lines
    assert "fpga load 0 ${fpga_bitstream_addr} ${fpga_bitstream_size}" in lines
    lines = _run(work, HEAD + DOM0 + "BOOT_CMD=none\n", calc=True).source.splitlines()
    assert lines[-1] == "setenv fdt_high 0xffffffffffffffff"
    assert not any(ln.startswith("setenv host_kernel_addr 0x") for ln in lines)


def test_calc_flag_in_the_command_line(work: Path) -> None:
    """2.1: ``-s`` and its help line."""
    exe = Path(sys.executable).parent / "uboot-script-gen"
    out = subprocess.run([str(exe), "-h"], capture_output=True, text=True, check=True).stdout
    assert "let U-Boot calculate binary images load addresses/sizes dynamically" in \
        " ".join(out.split())
    (work / "config").write_text(HEAD + DOM0)
    r = subprocess.run([str(exe), "-c", "config", "-d", ".", "-s"], cwd=work,
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert (work / "boot.source").read_text().startswith("setenv memaddr 0x40400000\n")


# -- 2.2 per-image load commands -----------------------------------------------------------

PER_IMAGE = CI_CONFIG.replace("LOAD_CMD=tftpb\n", "") + """\
XEN_LOAD="ext4load mmc 0:1"
DOM0_LOAD="ext4load mmc 0:2"
DOMU_LOAD[0]="ext4load mmc 0:3"
"""


def _ci_files(d: Path) -> None:
    make_image(d / "Image", 0x583039)
    make_cpio_gz(d / "dom0-rootfs.cpio.gz")
    make_cpio_gz(d / "initrd", b"domU\n")
    make_image(d / "xen", 0x108A08)


def test_per_image_load_commands_2_2(work: Path) -> None:
    _ci_files(work)
    res = _run(work, PER_IMAGE)
    loads = [ln for ln in res.source.splitlines() if ln.startswith("ext4load")]
    want = ["ext4load mmc 0:2 <A1> Image", "ext4load mmc 0:2 <A2> dom0-rootfs.cpio.gz",
            "ext4load mmc 0:3 <A3> Image", "ext4load mmc 0:3 <A4> initrd",
            "ext4load mmc 0:1 <A5> xen", "ext4load mmc 0:1 <A6> virt.dtb"]
    assert [re.sub(r"0x[0-9A-F]+", "<A>", ln) for ln in loads] == \
        [re.sub(r"<A\d>", "<A>", ln) for ln in want]
    assert [int(ln.split()[3], 16) for ln in loads] == [m.addr for m in res.layout.modules]
    assert [m.load_cmd for m in res.layout.modules] == [" ".join(w.split()[:3]) for w in want]
    # -s: the same commands, at ${memaddr}
    calc = _run(work, PER_IMAGE, calc=True).source.splitlines()
    assert "ext4load mmc 0:3 ${memaddr} initrd" in calc
    assert "ext4load mmc 0:1 ${memaddr} virt.dtb" in calc


@pytest.mark.parametrize(("drop", "message"), [
    ('DOM0_LOAD="ext4load mmc 0:2"\n', "Neither DOM0_LOAD nor LOAD_CMD is specified"),
    ('DOMU_LOAD[0]="ext4load mmc 0:3"\n', "Neither DOMU_LOAD[] nor LOAD_CMD is specified"),
    ('XEN_LOAD="ext4load mmc 0:1"\n', "Neither XEN_LOAD nor LOAD_CMD is specified"),
])
def test_per_image_load_command_missing(work: Path, drop: str, message: str) -> None:
    _ci_files(work)
    with pytest.raises(ConfigError, match=re.escape(message)):
        _run(work, PER_IMAGE.replace(drop, ""))
    # -t sets LOAD_CMD, which every missing one falls back to
    res = _run(work, PER_IMAGE.replace(drop, ""), load_cmd="tftp")
    assert any(ln.startswith("tftpb 0x") for ln in res.source.splitlines())


def test_dom0_load_names_the_rootfs_device(work: Path) -> None:
    """2.2: with DOM0_ROOTFS and no root=, the device comes from DOM0_LOAD."""
    _ci_files(work)
    make_cpio_gz(work / "rootfs.cpio.gz")
    res = _run(work, PER_IMAGE + "DOM0_ROOTFS=rootfs.cpio.gz\n")
    assert fdtget_strings(booted(work, res), "/chosen", "xen,dom0-bootargs")[0].endswith(
        " root=/dev/mmcblk0p3")


# -- 2.3 DEVICE_TREE optional ---------------------------------------------------------------

def test_device_tree_optional_with_calc_2_3(tmp_path: Path) -> None:
    text = CI_CONFIG.replace("DEVICE_TREE=virt.dtb\n", "")
    with pytest.raises(ConfigError, match="DEVICE_TREE is unset and -s is not specified"):
        _run(tmp_path, text)
    lines = _run(tmp_path, text, calc=True).source.splitlines()
    assert lines[:2] == ["setenv host_fdt_addr ${fdtcontroladdr}", "setenv memaddr 0x40400000"]
    assert not any("virt.dtb" in ln or "host_fdt_size" in ln for ln in lines)
    assert "fdt addr ${host_fdt_addr}" in lines
    assert lines[-1] == "booti ${host_kernel_addr} - ${host_fdt_addr}"
    with pytest.raises(ConfigError, match="needs DEVICE_TREE"):
        _run(tmp_path, text + 'NUM_CPUPOOLS=1\nCPUPOOL[0]="cpu@1 null"\n', calc=True)


# -- 2.4 static event channels --------------------------------------------------------------

EVTCHN = """\
NUM_DOMUS=2
DOMU_KERNEL[0]=Image-small
DOMU_KERNEL[1]=Image-small
DOMU_ENHANCED[0]=2
DOMU_ENHANCED[1]=2
DOMU_STATIC_EVTCHNS[0]="10 1 11; 12 1 13"
DOMU_STATIC_EVTCHNS[1]="11 0 10; 13 0 12;"
"""

#: The spec's verified output for the example (bash replay), per domU.
EVTCHN_LINES = {
    0: """\
fdt mknod /chosen/domU0 evtchn@10
fdt set /chosen/domU0/evtchn@10 phandle <0xfffffffe>
fdt set /chosen/domU0/evtchn@10 compatible "xen,evtchn-v1"
fdt set /chosen/domU0/evtchn@10 xen,evtchn <10 0xfffffffd>
fdt mknod /chosen/domU0 evtchn@12
fdt set /chosen/domU0/evtchn@12 phandle <0xfffffffc>
fdt set /chosen/domU0/evtchn@12 compatible "xen,evtchn-v1"
fdt set /chosen/domU0/evtchn@12 xen,evtchn <12 0xfffffffb>""",
    1: """\
fdt mknod /chosen/domU1 evtchn@11
fdt set /chosen/domU1/evtchn@11 phandle <0xfffffffd>
fdt set /chosen/domU1/evtchn@11 compatible "xen,evtchn-v1"
fdt set /chosen/domU1/evtchn@11 xen,evtchn <11 0xfffffffe>
fdt mknod /chosen/domU1 evtchn@13
fdt set /chosen/domU1/evtchn@13 phandle <0xfffffffb>
fdt set /chosen/domU1/evtchn@13 compatible "xen,evtchn-v1"
fdt set /chosen/domU1/evtchn@13 xen,evtchn <13 0xfffffffc>""",
}


def test_static_evtchns_2_4(work: Path, gen: Gen) -> None:
    res = gen(EVTCHN)
    lines = res.source.splitlines()
    for i, block in EVTCHN_LINES.items():
        mine = [ln for ln in lines if f"/chosen/domU{i} evtchn" in ln or
                f"/chosen/domU{i}/evtchn" in ln]
        assert mine == block.splitlines()
        # after the domU's properties, before its kernel module
        first = lines.index(mine[0])
        assert lines[first - 1] == f'fdt set /chosen/domU{i} xen,enhanced "no-xenstore"'
        assert lines[first + len(mine)].startswith(f"fdt mknod /chosen/domU{i} module@")
    # and in the tree as U-Boot leaves it (replayed with fdtput), each end points back
    dtb = booted(work, res)
    for a, b in (("domU0/evtchn@10", "domU1/evtchn@11"), ("domU0/evtchn@12", "domU1/evtchn@13")):
        pa, pb = (fdtget_cells(dtb, f"/chosen/{n}", "phandle")[0] for n in (a, b))
        assert fdtget_cells(dtb, f"/chosen/{a}", "xen,evtchn")[1] == pb
        assert fdtget_cells(dtb, f"/chosen/{b}", "xen,evtchn")[1] == pa


def test_evtchns_and_cpupools_share_the_countdown(work: Path, gen: Gen) -> None:
    """2.4: cpupools take their phandles after every event-channel phandle."""
    res = gen(EVTCHN + 'NUM_CPUPOOLS=1\nCPUPOOL[0]="cpu@1 null"\nDOMU_CPUPOOL[1]=0\n')
    assert "fdt set /chosen/cpupool_0 phandle <0xfffffffa>" in res.source.splitlines()
    assert "fdt set /chosen/domU1 domain-cpupool <0xfffffffa>" in res.source.splitlines()


@pytest.mark.parametrize(("defs", "message"), [
    ('"a;;b"', "Malformed evtchn definition: 'a'"),
    ('"10 0 10"', "Invalid evtchn definition"),
    ('"10 1 11 12"', "Extra words"),
    ('"10 1 1024"', "above 1023"),
    ('"10 1 14"', "must list the mirrored definition '14 0 10'"),
    ('"10 7 11"', "domU 7 does not exist"),
    ('"10 01 11"', "plain decimal"),
])
def test_evtchn_errors(gen: Gen, defs: str, message: str) -> None:
    text = EVTCHN.replace('"10 1 11; 12 1 13"', defs)
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        gen(text)
    assert info.value.field == "DOMU_STATIC_EVTCHNS[0]"


# -- 2.5 vCPU affinity, associative keys ---------------------------------------------------

def test_vcpu_hard_affinity_2_5(work: Path, gen: Gen) -> None:
    res = gen(DOM0 + """\
NUM_DOMUS=1
DOMU_KERNEL[0]=Image-small
DOMU_VCPUS[0]=3
DOMU_VCPU_HARD_AFFINITY[0,0]="1,4-7"
DOMU_VCPU_HARD_AFFINITY[0,2]=3
DOMU_COLORS[0]=0-3
""")
    lines = res.source.splitlines()
    i = lines.index("fdt set /chosen/domU0 colors <0xf>")
    assert lines[i + 1:i + 9] == [
        "fdt mknod /chosen/domU0 vcpu0",
        'fdt set /chosen/domU0/vcpu0 compatible  "xen,vcpu"',
        "fdt set /chosen/domU0/vcpu0 id <0>",
        'fdt set /chosen/domU0/vcpu0 hard-affinity "1,4-7"',
        "fdt mknod /chosen/domU0 vcpu2",
        'fdt set /chosen/domU0/vcpu2 compatible  "xen,vcpu"',
        "fdt set /chosen/domU0/vcpu2 id <2>",
        'fdt set /chosen/domU0/vcpu2 hard-affinity "3"',
    ]
    assert fdtget_strings(booted(work, res), "/chosen/domU0/vcpu0", "compatible") == ["xen,vcpu"]


def test_affinity_keys_are_text_as_bash_declare_a(tmp_path: Path) -> None:
    """bash keeps an associative array's key as written: ``[0,01]`` is not ``[0,1]``, and
    ImageBuilder looks up only ``"$i,$v"``. ``$((...))`` and ``$VAR`` are expanded first."""
    text = """\
NUM_DOMUS=1
DOMU_KERNEL[0]=Image
DOMU_VCPUS[0]=2
V=1
DOMU_VCPU_HARD_AFFINITY[0,01]="5"
DOMU_VCPU_HARD_AFFINITY[$((0)),$V]="1"
DOMU_VCPU_HARD_AFFINITY[0+0,0]="0"
"""
    (tmp_path / "config").write_text(HEAD + text)
    cfg = load_config(tmp_path / "config", env={})
    assert cfg.variables["DOMU_VCPU_HARD_AFFINITY"].keys() == {"0,01", "0,1", "0+0,0"}
    assert cfg.domus[0].vcpu_affinity == ((1, "1"),)
    ignored = [w for w in cfg.warnings if "looks up keys written 'i,n'" in w]
    assert len(ignored) == 2 and "[0,01]" in ignored[0] and "[0+0,0]" in ignored[1]


def test_affinity_key_never_executes(tmp_path: Path) -> None:
    sentinel = tmp_path / "ran"
    (tmp_path / "config").write_text(HEAD + f'DOMU_VCPU_HARD_AFFINITY[$(touch {sentinel}),0]=1\n')
    with pytest.raises(ConfigError, match="command substitution"):
        load_config(tmp_path / "config", env={})
    assert not sentinel.exists()


# -- 2.6-2.10: small properties -------------------------------------------------------------

def test_domu_properties_in_upstream_order_3(gen: Gen) -> None:
    """Section 3's order: memory, cpus, static-mem, direct-map, vpl011, nr_spis,
    xen,enhanced, grant limits, capabilities, trap-unmapped-accesses, domid, passthrough,
    xen,domain-p2m-mem-mb, shared-mem node, colors."""
    res = gen(DOM0 + """\
NUM_DOMUS=1
DOMU_KERNEL[0]=Image-small
DOMU_STATIC_MEM[0]="0x50000000 0x10000000"
DOMU_NR_SPIS[0]=96
DOMU_GRANT_VER[0]=1
DOMU_GRANT_FRAMES[0]=64
DOMU_MAPTRACK_FRAMES[0]=1024
DOMU_CAPS[0]="Control|XENSTORE"
DOMU_TRAP_UNMAP[0]=0
DOMU_DOMID[0]=5
DOMU_PASSTHROUGH_PROP[0]=enabled
DOMU_P2M_MEM_MB[0]=16
DOMU_SHARED_MEM[0]="my-shm 0x50000000 0x6000000 0x10000000"
DOMU_COLORS[0]=0-1
""")
    n = "fdt set /chosen/domU0"
    want = [
        f"{n} memory <0x0 0x40000 >",
        f"{n} cpus <1>",
        f"{n} xen,static-mem <0x0 0x50000000 0x0 0x10000000>",
        f"{n} direct-map",
        f"{n} vpl011 <0x1>",
        f"{n} nr_spis <96>",
        f'{n} xen,enhanced "enabled"',
        f"{n} max_grant_version <1>",
        f"{n} max_grant_frames <64>",
        f"{n} max_maptrack_frames <1024>",
        f"{n} capabilities <5>",
        f"{n} trap-unmapped-accesses <0>",
        f"{n} domid <5>",
        f'{n} passthrough "enabled"',
        f"{n} xen,domain-p2m-mem-mb <16>",
        "fdt mknod /chosen/domU0 shared-mem@0x50000000",
        'fdt set /chosen/domU0/shared-mem@0x50000000 compatible "xen,domain-shared-memory-v1"',
        'fdt set /chosen/domU0/shared-mem@0x50000000 xen,shm-id "my-shm"',
        # 2.11: each value as two 0x%X cells, each pair followed by a blank
        "fdt set /chosen/domU0/shared-mem@0x50000000 xen,shared-mem "
        "<0x0 0x50000000  0x0 0x6000000  0x0 0x10000000 >",
        f"{n} colors <0x3>",
    ]
    lines = res.source.splitlines()
    start = lines.index(want[0])
    assert lines[start:start + len(want)] == want


def test_shared_mem_without_host_address_2_11(gen: Gen) -> None:
    lines = gen(DOM0 + 'NUM_DOMUS=1\nDOMU_KERNEL[0]=Image-small\n'
                'DOMU_SHARED_MEM[0]="shm1 0x6000000 0x10000000"\n').source.splitlines()
    assert lines[lines.index("fdt mknod /chosen/domU0 shared-mem-shm1") + 3] == \
        "fdt set /chosen/domU0/shared-mem-shm1 xen,shared-mem <0x0 0x6000000  0x0 0x10000000 >"


def test_dbg_fdt_print_chosen_2_6(work: Path, gen: Gen) -> None:
    (work / "extra.txt").write_text("echo extra\n")
    lines = gen(DOM0 + "DBG_FDT_PRINT_CHOSEN=1\nAPPEND_EXTRA_CMDS=extra.txt\n").source.splitlines()
    assert lines[-4:-1] == ["setenv fdt_high 0xffffffffffffffff", "fdt print /chosen",
                            "echo extra"]
    assert "fdt print /chosen" not in gen(DOM0).source


@pytest.mark.parametrize(("var", "value", "message"), [
    ("DOMU_TRAP_UNMAP", "2", "expected 0 or 1"),
    ("DOMU_PASSTHROUGH_PROP", "yes", "the only value ImageBuilder reads is 'enabled'"),
    ("DOMU_CAPS", "root", "expected control|hardware|xenstore|dom0"),
])
def test_small_property_errors(gen: Gen, var: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        gen(DOM0 + f"NUM_DOMUS=1\nDOMU_KERNEL[0]=Image-small\n{var}[0]={value}\n")
    assert info.value.field == f"{var}[0]"


@pytest.mark.parametrize(("caps", "value"), [("none", 0), ("domain0", 7), ("DOM0", 7),
                                             ("hardware|0x10", 18)])
def test_capability_words_2_15(gen: Gen, caps: str, value: int) -> None:
    lines = gen(DOM0 + f'NUM_DOMUS=1\nDOMU_KERNEL[0]=Image-small\nDOMU_CAPS[0]="{caps}"\n'
                ).source.splitlines()
    assert f"fdt set /chosen/domU0 capabilities <{value}>" in lines


def test_enhanced_2_2_10(gen: Gen) -> None:
    """2/5: DOMU_ENHANCED=2 is "no-xenstore" without dom0; with a dom0 upstream's
    "enabled" rule fires first (warned)."""
    base = "NUM_DOMUS=1\nDOMU_KERNEL[0]=Image-small\nDOMU_ENHANCED[0]=2\n"
    assert 'fdt set /chosen/domU0 xen,enhanced "no-xenstore"' in gen(base).source.splitlines()
    res = gen(DOM0 + base)
    assert 'fdt set /chosen/domU0 xen,enhanced "enabled"' in res.source.splitlines()
    assert any("DOMU_ENHANCED[0]=2 with a dom0" in w for w in res.warnings)


@pytest.mark.parametrize(("extra", "vpl011", "bootargs"), [
    ("", "fdt set /chosen/domU0 vpl011 <0x1>", "console=ttyAMA0"),  # upstream default
    ("DOMU_VPL011[0]=1\n", "fdt set /chosen/domU0 vpl011 <0x1>", "console=ttyAMA0"),
    ("DOMU_VPL011[0]=0\n", None, ""),  # 4/5: no vpl011, no default console
    ('DOMU_VUART_PL011[0]=1\n', 'fdt set /chosen/domU0 vpl011 "pl011"', "console=ttyAMA0"),
    ("DOMU_VUART_PL011[0]=0\n", "fdt set /chosen/domU0 vpl011", "console=ttyAMA0"),
    ("DOMU_VUART_PL011[0]=1\nDOMU_VPL011[0]=0\n", None, ""),  # upstream's variable wins
])
def test_vpl011_both_vocabularies_2_10(gen: Gen, extra: str, vpl011: str | None,
                                       bootargs: str) -> None:
    res = gen(DOM0 + "NUM_DOMUS=1\nDOMU_KERNEL[0]=Image-small\nDOMU_NR_SPIS[0]=32\n" + extra)
    lines = res.source.splitlines()
    spis = lines.index("fdt set /chosen/domU0 nr_spis <32>")
    if vpl011 is None:
        assert not any(" vpl011" in ln for ln in lines)
    else:
        assert lines[spis - 1] == vpl011  # nr_spis right after vpl011
    kernel = next(ln for ln in lines if ln.endswith(" bootargs " + f'"{bootargs}"'))
    assert kernel.startswith("fdt set /chosen/domU0/module@")
    assert ("DOMU_VUART_PL011[0] ignored" in " ".join(res.warnings)) == ("VPL011[0]=0" in extra
                                                                        and "VUART" in extra)


def test_uimage_and_zstd_inputs_2_10_2_14(work: Path, gen: Gen) -> None:
    """1/5: a uImage kernel (mkimage-made, also gzipped) is accepted, sized by the file;
    2024-12: zstd-compressed kernels and cpio ramdisks are checked by their content and
    keep the compressed size."""
    require_tool("mkimage", "zstd")
    subprocess.run(["mkimage", "-A", "arm64", "-O", "linux", "-T", "kernel", "-C", "none",
                    "-a", "0x40400000", "-e", "0x40400000", "-d", str(work / "Image-small"),
                    str(work / "uImage")], check=True, capture_output=True)
    subprocess.run(["gzip", "-k", "-n", str(work / "uImage")], check=True)
    subprocess.run(["gunzip", "-k", "-f", str(work / "rootfs.cpio.gz")], check=True)
    subprocess.run(["zstd", "-q", "-f", str(work / "rootfs.cpio"), "-o",
                    str(work / "rootfs.cpio.zst")], check=True)
    subprocess.run(["zstd", "-q", "-f", str(work / "Image-small"), "-o",
                    str(work / "Image.zst")], check=True)
    res = gen("DOM0_KERNEL=uImage\nDOM0_RAMDISK=rootfs.cpio.zst\nNUM_DOMUS=1\n"
              "DOMU_KERNEL[0]=uImage.gz\nDOMU_RAMDISK[0]=rootfs.cpio.zst\n")
    k, rd = res.layout.find("dom0-kernel"), res.layout.find("dom0-ramdisk")
    assert k is not None and k.size == (work / "uImage").stat().st_size
    assert rd is not None and rd.size == (work / "rootfs.cpio.zst").stat().st_size
    (work / "notcpio.zst").write_bytes(subprocess.run(
        ["zstd", "-q", "-c"], input=b"hello world\n" * 10, capture_output=True,
        check=True).stdout)
    with pytest.raises(InputError, match="is zstd-text, expected a cpio") as info:
        gen(DOM0.replace("rootfs.cpio.gz", "notcpio.zst"))
    assert info.value.field == "DOM0_RAMDISK"
    assert gen("DOM0_KERNEL=Image.zst\n").layout.find("dom0-kernel") is not None


# -- 2.13 UBOOT_SOURCE ----------------------------------------------------------------------

def test_uboot_source_rules_2_13(work: Path) -> None:
    head = HEAD.replace("UBOOT_SOURCE=boot.source\nUBOOT_SCRIPT=boot.scr\n", "")
    with pytest.raises(ConfigError, match=re.escape(
            "UBOOT_SOURCE not set, either specify it in the config or set it with the -o "
            "option")):
        _run(work, head + DOM0)
    res = _run(work, head + DOM0 + "UBOOT_SOURCE=my.source\n")
    assert res.hints[0].startswith("Generated uboot script my.scr,")
    assert (work / "my.scr").is_file()
    _run(work, head + DOM0 + "UBOOT_SOURCE=plain\n")
    assert (work / "plain.scr").is_file() and (work / "plain").is_file()


# -- 2.16 reserved memory -------------------------------------------------------------------

def test_reserved_memory_as_upstream_2_16(tmp_path: Path) -> None:
    """The rule (``candidate <= end and candidate + size >= start`` moves the candidate to
    ``align_down(end + 2M)``), worked by hand on the CI layout (imagebuilder.md section 2)
    with a reserved region whose end is 2 MiB aligned: [0x40A00000, 0x40C00000).

    dom0 Image at 0x40400000, size 0x583039: the next candidate is 0x40A00000, which
    touches the region, so the ramdisk goes to align_down(0x40C00000 + 0x200000) =
    0x40E00000 (bootproof's old rule, align_up(end), gave 0x40C00000). Then domU0's Image
    at align2M(0x40E00000 + 0x301595) = 0x41200000, its initrd at 0x41800000, xen at
    0x41A00000, the DTB at 0x41C00000.
    """
    (tmp_path / "config").write_text(CI_CONFIG)
    cfg = load_config(tmp_path / "config", env={})
    sizes = {"Image": FileInfo(0x583039), "dom0-rootfs.cpio.gz": FileInfo(0x301595),
             "initrd": FileInfo(0x100512), "xen": FileInfo(0x108A08),
             "virt.dtb": FileInfo(0xE32, 0, 0xE32)}
    from bootproof.builder.layout import AddressRange
    layout = plan(cfg, sizes, reserved=[(AddressRange(0x40A00000, 0x200000),
                                         "/reserved-memory/fw@40a00000")])
    assert [m.addr for m in layout.modules] == [0x40400000, 0x40E00000, 0x41200000,
                                                0x41800000, 0x41A00000, 0x41C00000]
    # Touching counts (bounds inclusive): a region starting right where the ramdisk would
    # end moves it to align_down(0x40D02595 + 0x200000) = 0x40E00000.
    layout = plan(cfg, sizes, reserved=[(AddressRange(0x40A00000 + 0x301595, 0x1000),
                                         "/reserved-memory/x")])
    rd = layout.find("dom0-ramdisk")
    assert rd is not None and rd.addr == 0x40E00000
    # One byte less and it fits before the region.
    layout = plan(cfg, sizes, reserved=[(AddressRange(0x40A00000 + 0x301596, 0x1000),
                                         "/reserved-memory/x")])
    rd = layout.find("dom0-ramdisk")
    assert rd is not None and rd.addr == 0x40A00000


def test_reserved_memory_from_a_dtb_with_calc_is_not_avoided(work: Path, gen: Gen) -> None:
    """2.1.2: -s does not avoid reserved memory (upstream's TODO): the user is warned."""
    dtc_compile(DATA / "board-reserved.dts", work / "virt.dtb")
    (work / "config").write_text(HEAD + DOM0)
    res = generate(load_config(work / "config", env={}), work,
                   GenerateOptions(env=EPOCH, calc=True))
    assert any("without avoiding /reserved-memory/firmware@40400000" in w
               for w in res.warnings)


# -- Xen versions ---------------------------------------------------------------------------

def test_notes_name_the_xen_that_reads_a_property(work: Path) -> None:
    """A property Xen 4.17 ignores is still written, with one line on stderr naming the
    release that reads it."""
    (work / "config").write_text(HEAD + DOM0 + """\
NUM_DOMUS=2
DOMU_KERNEL[0]=Image-small
DOMU_KERNEL[1]=Image-small
DOMU_TRAP_UNMAP[0]=1
DOMU_TRAP_UNMAP[1]=0
DOMU_GRANT_FRAMES[1]=32
DOMU_DOMID[0]=3
DOMU_NR_SPIS[0]=32
""")
    exe = Path(sys.executable).parent / "uboot-script-gen"
    r = subprocess.run([str(exe), "-c", "config", "-d", "."], cwd=work, capture_output=True,
                       text=True, check=True)
    notes = [ln for ln in r.stderr.splitlines() if ": note: " in ln]
    assert sorted(notes) == sorted([
        "uboot-script-gen: note: DOMU_TRAP_UNMAP[0,1]: trap-unmapped-accesses is read by "
        "Xen 4.21 and later; Xen 4.17 does not honour it",
        "uboot-script-gen: note: DOMU_GRANT_FRAMES[1]: max_grant_frames is read by Xen 4.18 "
        "and later; Xen 4.17 does not honour it",
        "uboot-script-gen: note: DOMU_DOMID[0]: domid is read by no Xen release; Xen 4.17 "
        "does not honour it",
    ])
    source = (work / "boot.source").read_text()
    assert "trap-unmapped-accesses <1>" in source and "max_grant_frames <32>" in source


def test_host_dtb_unchanged_and_booted_tree(work: Path, gen: Gen) -> None:
    """The new properties replay with fdtput on QEMU's DTB (U-Boot's libfdt operations)."""
    before = (work / "virt.dtb").read_bytes()
    res = gen(DOM0 + "NUM_DOMUS=1\nDOMU_KERNEL[0]=Image-small\nDOMU_TRAP_UNMAP[0]=1\n"
              "DOMU_GRANT_VER[0]=2\n")
    dtb = booted(work, res)
    assert fdtget_cells(dtb, "/chosen/domU0", "trap-unmapped-accesses") == [1]
    assert fdtget_cells(dtb, "/chosen/domU0", "max_grant_version") == [2]
    assert fdtget_cells(dtb, "/chosen/domU0", "memory") == [0, 512 * 1024]
    assert fdtget_cells(dtb, "/chosen/domU0", "vpl011") == [1]
    assert "vpl011" in DeviceTree.load(dtb).prop_names("/chosen/domU0")
    assert (work / "virt.dtb").read_bytes() == before
    shutil.rmtree(work / "unused", ignore_errors=True)


@pytest.mark.parametrize(("machine", "arch"), [(0xAA64, 22), (0x01C2, 2)])
def test_bootm_uimage_arch_of_a_pe_xen_2_18(work: Path, gen: Gen, machine: int,
                                             arch: int) -> None:
    """2.18: xen.ub is an arm64 uImage when Xen is arm64 (`file` says Aarch64 for an arm64
    PE such as xen.efi without the Image header), arm otherwise."""
    import struct

    from bootproof.builder.formats import uimage

    pe = bytearray(0x200)
    pe[:2] = b"MZ"
    struct.pack_into("<I", pe, 0x3C, 0x80)
    pe[0x80:0x84] = b"PE\0\0"
    struct.pack_into("<H", pe, 0x84, machine)
    (work / "xen").write_bytes(bytes(pe))
    gen("BOOT_CMD=bootm\n" + DOM0)
    assert uimage.decode((work / "xen.ub").read_bytes()).arch == arch

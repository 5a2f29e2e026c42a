"""The pure parts of the Xen boot flow: expectations, layout read-back, command lines.

Console excerpts below are in the format U-Boot 2023.01 and Xen 4.17 print (carriage
returns already removed, as the console does); layouts are hand-written.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bootproof.builder.errors import ConfigError
from bootproof.builder.xen import LoadLine, Module, XenLayout
from bootproof.builder.xen.config import load_config
from bootproof.harness.core.boards import load_board
from bootproof.harness.core.errors import layout_differences
from bootproof.harness.xen.flow import typed_line
from bootproof.harness.xen.generated import (
    DomainExpectation,
    Generated,
    domain_problems,
    expectations,
    expected_layout,
)
from bootproof.harness.xen.guests import GuestSet, board_dtb_argv
from bootproof.harness.xen.initramfs import parse_marker
from bootproof.harness.xen.parsers import (
    LOADING_DOMU_RE,
    XEN_KERNEL_RE,
    DomUBuild,
    KernelModule,
    bad_patterns,
    report_model,
    reported_layout,
)
from bootproof.harness.xen.scenarios import DomUSpec, config_text, scenario_config, write_scenario

UBOOT_LOG = """\
=> tftpb 0x40200000 boot.scr; source 0x40200000
Using virtio-net#32 device
TFTP from server 10.0.2.2; our IP address is 10.0.2.15
Filename 'boot.scr'.
Load address: 0x40200000
Loading: *#
\t 1.5 MiB/s
done
Bytes transferred = 2786 (ae2 hex)
## Executing script at 40200000
Using virtio-net#32 device
TFTP from server 10.0.2.2; our IP address is 10.0.2.15
Filename 'Image.gz'.
Load address: 0x40400000
Loading: *#################################################################
\t 9.2 MiB/s
done
Bytes transferred = 11277745 (ac1571 hex)
"""

XEN_LOG = """\
(XEN) *** LOADING DOMU cpus=2 memory=20000KB ***
(XEN) Loading d1 kernel from boot module @ 0000000041200000
(XEN) Loading ramdisk from boot module @ 0000000041e00000
(XEN) Loading d1 initrd from 0000000041e00000 to 0x0000000048200000-0x00000000482f130c
"""


def _module(role: str, file: str, addr: int, size: int, domu: int | None = None) -> Module:
    return Module(role=role, file=file, addr=addr, size=size, span=size, domu=domu)


def _generated(modules: list[Module], *, fit: bool = False) -> Generated:
    layout = XenLayout(memory_start=0x40000000, memory_end=0x80000000, align=0x200000,
                       script_addr=0x40200000, modules=tuple(modules), end=0x44000000,
                       fit_addr=0x44000000 if fit else None, dtb_extra=0, domids={0: 1})
    load = (LoadLine("tftpb", 0x44000000, "boot.fit", fit=True) if fit
            else LoadLine("tftpb", 0x40200000, "boot.scr"))
    return Generated(config=None, config_path=Path("c"), directory=Path("."),  # type: ignore[arg-type]
                     layout=layout, load=load, output="")


def test_reported_layout_reads_uboot_and_xen_lines() -> None:
    got = reported_layout(UBOOT_LOG + XEN_LOG, xen=True)
    assert got == {
        "load 1: boot.scr @": 0x40200000,
        "load 2: Image.gz @": 0x40400000,
        "d1 kernel module @": 0x41200000,
        "d1 ramdisk module @": 0x41E00000,
        "d1 ramdisk size": 0x482F130C - 0x48200000,
    }


def test_expected_layout_matches_the_same_boot() -> None:
    gen = _generated([
        _module("domU-kernel", "Image.gz", 0x41200000, 11277745, domu=0),
        _module("domU-ramdisk", "initrd", 0x41E00000, 0xF130C, domu=0),
    ])
    expected = expected_layout(gen)
    assert expected["load 1: boot.scr @"] == 0x40200000
    assert expected["load 2: Image.gz @"] == 0x41200000
    assert expected["load 3: initrd @"] == 0x41E00000
    assert expected["d1 kernel module @"] == 0x41200000
    assert expected["d1 ramdisk size"] == 0xF130C
    actual = reported_layout(UBOOT_LOG.replace("'Image.gz'.\nLoad address: 0x40400000",
                                               "'Image.gz'.\nLoad address: 0x41200000")
                             + XEN_LOG.replace("0x00000000482f130c", "0x00000000482f130c")
                             + "Filename 'initrd'.\nLoad address: 0x41e00000\nLoading: #\n"
                               "Bytes transferred = 987916 (f130c hex)\n", xen=True)
    assert layout_differences(report_model(expected), report_model(actual)) == []
    # a module Xen found somewhere else is named
    moved = dict(actual, **{"d1 kernel module @": 0x41400000})
    (diff,) = layout_differences(report_model(expected), report_model(moved))
    assert diff == ("xen d1 kernel module: start: expected 0x41200000 (1092616192), "
                    "guest reported 0x41400000 (1094713344)")
    # a ramdisk Xen found one byte short, and a load U-Boot never did
    short = dict(actual, **{"d1 ramdisk size": 0xF130B})
    del short["load 3: initrd @"]
    assert layout_differences(report_model(expected), report_model(short)) == [
        "u-boot load 3: initrd: expected load at 0x41e00000 (1105199104), size 0x0 (0), "
        "guest did not report it",
        "xen d1 ramdisk module: size: expected 0xf130c (987916), guest reported 0xf130b "
        "(987915)"]


def test_fit_layout_expects_the_fit_load_only() -> None:
    gen = _generated([_module("xen", "xen", 0x42E00000, 1)], fit=True)
    assert expected_layout(gen) == {"load 1: boot.fit @": 0x44000000}


def test_console_patterns_need_the_whole_number() -> None:
    partial = "(XEN) Loading d2 kernel from boot module @ 00000000420"
    assert XEN_KERNEL_RE.search(partial) is None
    m = XEN_KERNEL_RE.search(partial + "00000")
    assert m is not None and int(m.group(2), 16) == 0x42000000
    m2 = LOADING_DOMU_RE.search(XEN_LOG)
    assert m2 is not None and (int(m2.group(1)), int(m2.group(2), 16)) == (2, 128 * 1024)


@pytest.mark.parametrize(("line", "name"), [
    ("TFTP error: 'File not found' (1)", "uboot-tftp-error"),
    ("libfdt fdt_setprop(): FDT_ERR_NOSPACE", "uboot-fdt-error"),
    ("(XEN) Panic on CPU 0:", "xen-panic"),
    ("(XEN) Could not set up domain domU1", "xen-setup-failed"),
    ("[    1.2] Kernel panic - not syncing: Attempted to kill init!", "kernel-panic"),
])
def test_bad_patterns_name_what_went_wrong(line: str, name: str) -> None:
    hits = [n for n, pat in bad_patterns().active() if pat.search(line)]
    assert name in hits


def test_harmless_noise_is_not_bad() -> None:
    noise = ["(XEN) d1v0: vGICD: unhandled word write 0x000000ffffffff to ICACTIVER4",
             "(XEN) **** No support for ARM_SMCCC_ARCH_WORKAROUND_1. ****",
             "[    2.2] pci 0000:00:00.0: Failed to add - passthrough or MSI/MSI-X might fail!",
             'Unknown kernel command line parameters "marker=DOMU1", will be passed to user']
    for line in noise:
        assert [n for n, pat in bad_patterns().active() if pat.search(line)] == []


def _guests(tmp_path: Path) -> GuestSet:
    return GuestSet(directory=tmp_path, xen_source="debian", xen_version="4.17",
                    kernel_version="6.1")


def test_scenario_config_reads_back_with_the_generator_reader(tmp_path: Path) -> None:
    g = _guests(tmp_path)
    values = scenario_config(g, domus=[DomUSpec("DOMU1", 256, 1),
                                       DomUSpec("DOMU2", 128, 2, static_mem=((0x50000000,
                                                                              0x8000000),))])
    cfg = load_config(write_scenario(g, "s", values))
    assert cfg.xen == "xen" and cfg.dom0_kernel == "Image.gz"
    assert cfg.domus[0].mem_mb == 256
    exps = expectations(cfg)
    assert [(e.label, e.marker, e.cpus) for e in exps] == [
        ("dom0", "DOM0", None), ("domU0", "DOMU1", 1), ("domU1", "DOMU2", 2)]
    assert exps[1].memory_kb == 256 * 1024
    assert exps[2].static_mem == ((0x50000000, 0x8000000),)
    assert exps[2].memory_kb == 0x8000000 >> 10


def test_linux_only_config(tmp_path: Path) -> None:
    g = _guests(tmp_path)
    cfg = load_config(write_scenario(g, "l", scenario_config(g, linux_marker="LINUX")))
    assert not cfg.xen_mode
    assert [(e.label, e.marker) for e in expectations(cfg)] == [("linux", "LINUX")]


def test_config_text_refuses_shell_syntax() -> None:
    assert config_text({"A": "x y", "N": 2, "L": ["a", None, "c"]}) == \
        'A="x y"\nN=2\nL[0]="a"\nL[2]="c"\n'
    with pytest.raises(ConfigError):
        config_text({"A": "$(reboot)"})


def test_dtb_dump_uses_the_boot_options(tmp_path: Path) -> None:
    board = load_board("aarch64-virt")
    argv = board_dtb_argv(board, tmp_path / "virt.dtb")
    boot = board.argv()
    assert argv[0] == boot[0] == "qemu-system-aarch64"
    i = argv.index("-machine")
    assert argv[i + 1] == f"{boot[i + 1]},dumpdtb={tmp_path / 'virt.dtb'}"
    assert "virtualization=on" in argv[i + 1]
    for opt in ("-cpu", "-smp", "-m"):
        assert argv[argv.index(opt) + 1] == boot[boot.index(opt) + 1]


def test_typed_line_sets_up_the_network_first() -> None:
    line = typed_line(_generated([]))
    assert re.fullmatch(r"setenv autoload no; setenv ipaddr 10\.0\.2\.15; setenv serverip "
                        r"10\.0\.2\.2; tftpb 0x40200000 boot\.scr; source 0x40200000", line)


def _tftp(file: str, addr: int, size: int) -> str:
    return (f"Filename '{file}'.\nLoad address: 0x{addr:x}\nLoading: *##\n\t 9 MiB/s\ndone\n"
            f"Bytes transferred = {size} ({size:x} hex)\n")


def test_a_file_loaded_twice_is_checked_at_each_address() -> None:
    gen = _generated([
        _module("dom0-kernel", "Image", 0x40400000, 100),
        _module("domU-kernel", "Image", 0x40600000, 100, domu=0),
    ])
    good = _tftp("boot.scr", 0x40200000, 9) + _tftp("Image", 0x40400000, 100) + _tftp(
        "Image", 0x40600000, 100)
    expected = {k: v for k, v in expected_layout(gen).items() if k.startswith("load")}
    assert layout_differences(report_model(expected),
                              report_model(reported_layout(good, xen=False))) == []
    bad = good.replace("Load address: 0x40600000", "Load address: 0x40800000")
    (diff,) = layout_differences(report_model(expected),
                                 report_model(reported_layout(bad, xen=False)))
    assert diff.startswith("u-boot load 3: Image: start:") and "0x40800000" in diff


def test_xen_report_lines_read_as_data() -> None:
    build = LOADING_DOMU_RE.search(XEN_LOG)
    kernel = XEN_KERNEL_RE.search(XEN_LOG)
    assert build is not None and kernel is not None
    assert DomUBuild.from_match(build) == DomUBuild(cpus=2, memory_kb=128 * 1024)
    assert KernelModule.from_match(kernel) == KernelModule(domid=1, addr=0x41200000)


def test_a_guest_report_is_checked_against_the_config() -> None:
    rep = parse_marker("=== TESTMARKER DOMU1 UP cpus=2 memtotal_kb=100 ram=60000000-6fffffff ===")
    assert rep is not None
    static = DomainExpectation("domU0", "DOMU1", cpus=2, memory_kb=256 * 1024,
                               static_mem=((0x60000000, 0x10000000),))
    assert domain_problems(static, rep) == []
    moved = DomainExpectation("domU0", "DOMU1", cpus=1, memory_kb=256 * 1024,
                              static_mem=((0x50000000, 0x10000000),))
    cpus, ram = domain_problems(moved, rep)
    assert "sees 2 cpus, config asks 1" in cpus
    assert "RAM at 0x60000000-0x6fffffff" in ram and "asks 0x50000000-0x5fffffff" in ram
    small = DomainExpectation("domU0", "DOMU1", cpus=2, memory_kb=128 * 1024)
    (diff,) = domain_problems(small, rep)
    assert "has 262144 KiB of RAM, config asks 131072 KiB" in diff


def test_gdb_symbol_files_are_xen_syms_next_to_xen(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from bootproof.harness.xen.flow import symbol_files

    gen = SimpleNamespace(config=SimpleNamespace(xen="hyp/xen"), directory=tmp_path)
    (tmp_path / "hyp").mkdir()
    (tmp_path / "hyp" / "xen").write_bytes(b"image")
    assert symbol_files(gen) == []  # type: ignore[arg-type]  # Debian's Xen: no symbols
    (tmp_path / "hyp" / "xen-syms").write_bytes(b"elf")
    assert symbol_files(gen) == [tmp_path / "hyp" / "xen-syms"]  # type: ignore[arg-type]
    gen = SimpleNamespace(config=SimpleNamespace(xen=None), directory=tmp_path)
    assert symbol_files(gen) == []  # type: ignore[arg-type]  # Linux only


def test_report_model_places_loads_and_modules() -> None:
    model = report_model({"load 1: boot.scr @": 0x40200000, "disk read 1: bytes": 4660,
                          "d1 kernel module @": 0x41200000, "d1 ramdisk module @": 0x41E00000,
                          "d1 ramdisk size": 0xF130C, "odd": 7})
    assert [s.name for s in model.spaces] == ["u-boot", "xen", "report"]
    uboot, xen, other = model.spaces
    assert [(i.kind, i.name, i.start, i.size) for i in uboot.items] == [
        ("load", "load 1: boot.scr", 0x40200000, 0), ("disk read", "disk read 1", None, 4660)]
    assert [(i.name, i.start, i.size) for i in xen.items] == [
        ("d1 kernel module", 0x41200000, 0), ("d1 ramdisk module", 0x41E00000, 0xF130C)]
    assert other.items[0].attrs == {"value": 7}
    # a report without Xen's lines still has the space, so expected modules are missed
    (missing,) = layout_differences(report_model({"d1 kernel module @": 1}), report_model({}))
    assert missing.startswith("xen d1 kernel module: expected module at 0x1 (1)")

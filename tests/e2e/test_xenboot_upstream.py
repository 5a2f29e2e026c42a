"""Upstream ImageBuilder's 2024-2025 vocabulary, each proven by a boot (issue 11).

QEMU aarch64 + Debian's U-Boot 2023.01 + Xen 4.17 (Debian's, or built from its source),
through :func:`bootproof.harness.xen.flow.run_boot`: every stage, every domain's marker,
and the layout U-Boot and Xen report against the generator's (with ``-s``, against the
layout U-Boot computed and printed, itself checked against the rules first).
"""

from __future__ import annotations

import gzip
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_tool

from bootproof.harness.core.console import Console
from bootproof.harness.core.deadline import Deadline
from bootproof.harness.xen.flow import run_boot, xen_debug_key
from bootproof.harness.xen.generated import generate
from bootproof.harness.xen.guests import GuestSet, prepare_guest_set
from bootproof.harness.xen.scenarios import DomUSpec, scenario_config, write_scenario

pytestmark = pytest.mark.e2e

TOOLS = ("qemu-system-aarch64", "mkimage", "dpkg-deb", "apt-get")


@pytest.fixture(scope="module")
def guests(tmp_path_factory: pytest.TempPathFactory) -> GuestSet:
    require_tool(*TOOLS)
    return prepare_guest_set(tmp_path_factory.mktemp("guests-upstream"), progress=None)


def _names(report: object) -> list[str]:
    return [s.name for s in report.stages]  # type: ignore[attr-defined]


def test_calc_mode_u_boot_computes_the_layout(guests: GuestSet, tmp_path: Path) -> None:
    """``-s``: no address in the script; U-Boot places every file at run time. The layout
    it printed keeps the rules (2 MiB aligned, in order, each right after the one before,
    sizes equal to the files), and TFTP and Xen report the files there."""
    cfg = write_scenario(guests, "calc", scenario_config(
        guests, domus=[DomUSpec("CALC1", mem_mb=192), DomUSpec("CALC2", mem_mb=128)]))
    gen = generate(cfg, guests.directory, calc=True)
    source = (guests.directory / "boot.source").read_text()
    assert not re.search(r"^tftpb 0x", source, re.MULTILINE)  # every load at ${memaddr}
    report = run_boot(gen, log_dir=tmp_path)
    names = _names(report)
    assert "run-time layout keeps the rules" in names and names[-1] == "layout matches report"
    assert set(report.markers) == {"dom0", "domU0", "domU1"}
    assert report.markers["domU0"].ram_bytes == 192 << 20


def test_calc_without_device_tree_edits_u_boots_own(guests: GuestSet, tmp_path: Path) -> None:
    """``-s`` without DEVICE_TREE: the script edits and boots U-Boot's control DTB (the one
    QEMU generated); nothing loads a DTB."""
    (guests.directory / "pl061-off.txt").write_text("fdt set /pl061@9030000 status disabled\n")
    values = scenario_config(guests, domus=[DomUSpec("CTRL1", mem_mb=128)],
                             extra={"APPEND_EXTRA_CMDS": "pl061-off.txt"})
    del values["DEVICE_TREE"]
    gen = generate(write_scenario(guests, "nodtb", values), guests.directory, calc=True)
    source = (guests.directory / "boot.source").read_text().splitlines()
    assert source[0] == "setenv host_fdt_addr ${fdtcontroladdr}"
    assert not any(m.role == "dtb" for m in gen.modules)
    report = run_boot(gen, log_dir=tmp_path)
    assert set(report.markers) == {"dom0", "domU0"}
    log = report.log_path.read_text(errors="replace")
    assert "Filename 'virt.dtb'" not in log


def test_per_image_load_commands_from_a_disk_image(guests: GuestSet, tmp_path: Path) -> None:
    """XEN_LOAD over TFTP, DOM0_LOAD and DOMU_LOAD[0] from the boot partition of a virtio
    disk that disk_image made, in one boot, as a user runs it:
    ``bootproof xen boot --disk IMG``."""
    require_tool("mkfs.vfat", "mcopy", "mke2fs", "debugfs", "sfdisk")
    values = scenario_config(guests, domus=[DomUSpec("DISKU", mem_mb=128)])
    del values["LOAD_CMD"]
    values.update(XEN_LOAD="tftpb", DOM0_LOAD="load virtio 0:1",
                  DOMU_LOAD=["fatload virtio 0:1"])
    cfg = write_scenario(guests, "perimage", values)
    bindir = Path(sys.executable).parent
    # the script first (disk_image copies it onto the boot partition), then the disk
    subprocess.run([str(bindir / "uboot-script-gen"), "-c", str(cfg), "-d",
                    str(guests.directory), "-t", "tftp", "-o", "boot"], check=True,
                   capture_output=True)
    disk = tmp_path / "disk.img"
    made = subprocess.run([str(bindir / "disk_image"), "-c", str(cfg), "-d",
                           str(guests.directory), "-t", "load virtio 0:1", "-o", str(disk)],
                          capture_output=True, text=True, check=False)
    assert made.returncode == 0, made.stderr
    run = subprocess.run([str(bindir / "bootproof"), "xen", "boot", "-c", str(cfg), "-d",
                          str(guests.directory), "--disk", str(disk), "--log-dir",
                          str(tmp_path / "logs")], capture_output=True, text=True,
                         check=False, timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ok  layout matches report" in run.stdout
    log = (tmp_path / "logs" / "xen-boot.serial.log").read_text(errors="replace")
    # Xen and the DTB came over TFTP, the domains' files from the disk
    assert "Filename 'xen'" in log and "Filename 'virt.dtb'" in log
    assert f"Filename '{guests.kernel_gz}'" not in log and f"Filename '{guests.initrd}'" not in log
    size = (guests.directory / guests.kernel_gz).stat().st_size
    assert len(re.findall(rf"^{size} bytes read in \d+ ms", log, re.MULTILINE)) == 2


EVTCHN_MARKERS = ("EVT0", "EVT1")


def test_static_event_channels_between_two_domus(guests: GuestSet, tmp_path: Path) -> None:
    """DOMU_STATIC_EVTCHNS with no-xenstore domUs and no dom0: both boot, and Xen's
    event-channel dump (debug key 'e', any build) shows each port bound *interdomain*
    (s=3) to the peer's port: proof that Xen read the nodes and connected both ends."""
    values = scenario_config(guests, dom0_marker=None,
                             domus=[DomUSpec(EVTCHN_MARKERS[0], mem_mb=128),
                                    DomUSpec(EVTCHN_MARKERS[1], mem_mb=128)],
                             extra={"DOMU_ENHANCED": [2, 2],
                                    "DOMU_STATIC_EVTCHNS": ["10 1 11; 12 1 13",
                                                            "11 0 10; 13 0 12"]})
    gen = generate(write_scenario(guests, "evtchn", values), guests.directory)
    d0, d1 = gen.layout.domids[0], gen.layout.domids[1]
    dumps: list[str] = []

    def evtchns(console: Console, deadline: Deadline) -> str:
        mark = len(console.log_text())
        xen_debug_key(console, "e",
                      [rf"\(XEN\) Event channel information for domain {max(d0, d1)}:"],
                      deadline)
        console.drain(2.0)  # the last domain's port lines (no line follows them)
        dumps.append(console.log_text()[mark:])
        return "event channels dumped"

    report = run_boot(gen, log_dir=tmp_path, post_checks=[("evtchn dump", evtchns)])
    assert set(report.markers) == {"domU0", "domU1"}
    text = dumps[0].replace("\r", "")
    per_dom = {int(m.group(1)): m.group(2) for m in re.finditer(
        r"Event channel information for domain (\d+):\n(.*?)(?=\(XEN\) Event channel info|\Z)",
        text, re.S)}

    def bound(dom: int, port: int, peer: int, peer_port: int) -> bool:
        return re.search(rf"^\(XEN\) +{port} \[[^\]]*\]: s=3 n=\d+ x=\d+ d={peer} "
                         rf"p={peer_port}\b", per_dom[dom], re.M) is not None

    assert bound(d0, 10, d1, 11) and bound(d0, 12, d1, 13)
    assert bound(d1, 11, d0, 10) and bound(d1, 13, d0, 12)


def test_uimage_dom0_and_zstd_domu_ramdisk(guests: GuestSet, tmp_path: Path) -> None:
    """A uImage dom0 kernel (mkimage, arm64) and a zstd-compressed domU ramdisk (the test
    initramfs's cpio recompressed with the zstd tool) boot."""
    require_tool("zstd")
    d = guests.directory
    subprocess.run(["mkimage", "-A", "arm64", "-O", "linux", "-T", "kernel", "-C", "none",
                    "-a", "0", "-e", "0", "-n", "dom0", "-d", str(d / guests.kernel),
                    str(d / "uImage")], check=True, capture_output=True)
    cpio = gzip.decompress((d / guests.initrd).read_bytes())
    (d / "initrd.cpio.zst").write_bytes(subprocess.run(
        ["zstd", "-q", "-19", "-c"], input=cpio, capture_output=True, check=True).stdout)
    values = scenario_config(guests, domus=[DomUSpec("ZSTDU", mem_mb=128)])
    values.update(DOM0_KERNEL="uImage", DOMU_RAMDISK=["initrd.cpio.zst"])
    gen = generate(write_scenario(guests, "uimage", values), d)
    report = run_boot(gen, log_dir=tmp_path)
    assert set(report.markers) == {"dom0", "domU0"}
    log = report.log_path.read_text(errors="replace")
    assert "Filename 'uImage'" in log and "Filename 'initrd.cpio.zst'" in log

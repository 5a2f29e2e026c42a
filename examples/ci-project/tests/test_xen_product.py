"""The product's dom0less set: no dom0, two domUs with their own memory and vCPUs, booted
through U-Boot and Xen. The config is written as ImageBuilder reads it; each domU's test
/init reports the marker named on its command line, with the CPUs and RAM it sees."""

from __future__ import annotations

from pathlib import Path

import pytest

from bootproof.harness.boot_fixtures import BootproofAssets, XenBooter

CONFIG = """\
MEMORY_START=0x40000000
MEMORY_END=0xC0000000
DEVICE_TREE=virt.dtb
XEN=xen
XEN_CMD="console=dtuart dtuart=/pl011@9000000 bootscrub=0"
NUM_DOMUS=2
DOMU_KERNEL[0]=Image.gz
DOMU_RAMDISK[0]=initrd
DOMU_CMD[0]="console=ttyAMA0 rdinit=/init quiet marker=SENSORS"
DOMU_MEM[0]=192
DOMU_VCPUS[0]=2
DOMU_KERNEL[1]=Image.gz
DOMU_RAMDISK[1]=initrd
DOMU_CMD[1]="console=ttyAMA0 rdinit=/init quiet marker=NETWORK"
DOMU_MEM[1]=128
LOAD_CMD="tftpb"
UBOOT_SOURCE=boot.source
UBOOT_SCRIPT=boot.scr
"""


@pytest.mark.bootproof(timeout=240)
def test_two_domus_boot_with_their_resources(bootproof_assets: BootproofAssets,
                                             xen_boot: XenBooter, tmp_path: Path) -> None:
    guests = bootproof_assets.xen_guests(tmp_path / "guests")
    config = tmp_path / "product.cfg"
    config.write_text(CONFIG)
    boot = xen_boot(config, guests.directory)
    assert boot.stage_names[:3] == ("U-Boot prompt", "script loaded", "Xen banner")
    assert boot.stage_names[-1] == "layout matches report"
    sensors, network = boot.domains["domU0"], boot.domains["domU1"]
    assert (sensors.marker, sensors.cpus, sensors.ram_bytes) == ("SENSORS", 2, 192 << 20)
    assert (network.marker, network.cpus, network.ram_bytes) == ("NETWORK", 1, 128 << 20)
    assert boot.layout_items > 0

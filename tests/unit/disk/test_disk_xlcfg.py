"""xl configs: passthrough grants from a dtc-compiled DTB, device names, rendered text."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import require_tool
from disk_testutil import write_dts

from bootproof.builder.disk.xlcfg import (
    Passthrough,
    XlDomain,
    passthrough_from_dtb,
    render_xl,
)
from bootproof.builder.errors import ConfigError, FormatError
from bootproof.builder.xen.devices import partition_device

PASSTHROUGH_DTS = """/dts-v1/;
/ {
    #address-cells = <2>;
    #size-cells = <2>;
    passthrough {
        compatible = "simple-bus";
        ranges;
        #address-cells = <2>;
        #size-cells = <2>;
        ethernet@ff0e0000 {
            reg = <0x0 0xff0e0000 0x0 0x1000>;
            interrupts = <0 63 4>;
            xen,reg = <0x0 0xff0e0000 0x0 0x1000 0x0 0xff0e0000>;
            xen,path = "/amba/ethernet@ff0e0000";
        };
        sram@840000000 {
            reg = <0x8 0x40000000 0x0 0x2800>;
            interrupts = <1 9 4>;
            xen,reg = <0x8 0x40000000 0x0 0x2800 0x0 0x50000000>;
            xen,path = "/sram@840000000";
            xen,force-assign-without-iommu;
        };
    };
};
"""


def test_passthrough_grants(tmp_path: Path) -> None:
    require_tool("dtc")
    dtb = write_dts(tmp_path, "eth", PASSTHROUGH_DTS)
    got = passthrough_from_dtb(dtb.read_bytes(), path=dtb, field="DOMU_PASSTHROUGH_DTB[0]")
    # hand-computed: 0xff0e0000 >> 12 = 0xff0e0; 0x1000 is one page.
    # 0x8_4000_0000 >> 12 = 0x840000 (above 4 GiB: the reference lost the high cell);
    # 0x2800 bytes round up to 3 pages; guest 0x50000000 >> 12 = 0x50000.
    assert got.iomem == ((0xFF0E0, 1, 0xFF0E0), (0x840000, 3, 0x50000))
    assert got.dtdev == ("/amba/ethernet@ff0e0000",)  # the force-assigned one is left out
    assert got.irqs == (63 + 32, 9 + 16)  # SPI +32, PPI +16
    assert got.dtb_name == "eth.dtb"


def test_passthrough_errors(tmp_path: Path) -> None:
    require_tool("dtc")
    with pytest.raises(FormatError, match="not a valid DTB"):
        passthrough_from_dtb(b"nonsense", path="x.dtb", field="F")
    plain = write_dts(tmp_path, "plain", "/dts-v1/;\n/ { };\n")
    with pytest.raises(FormatError, match="/passthrough"):
        passthrough_from_dtb(plain.read_bytes(), path=plain, field="F")
    bad = write_dts(tmp_path, "bad", PASSTHROUGH_DTS.replace(
        "xen,reg = <0x0 0xff0e0000 0x0 0x1000 0x0 0xff0e0000>;",
        "xen,reg = <0x0 0xff0e0000 0x0 0x1000>;"))
    with pytest.raises(FormatError, match="xen,reg"):
        passthrough_from_dtb(bad.read_bytes(), path=bad, field="F")


def test_passthrough_cells_that_look_like_text_are_read_as_cells(tmp_path: Path) -> None:
    # Every byte of this xen,reg is printable but the last, so a type-guessing DTB reader
    # takes it for a string; it is three cells (#address-cells = #size-cells = 1).
    require_tool("dtc")
    dtb = write_dts(tmp_path, "text", """/dts-v1/;
/ {
    passthrough {
        #address-cells = <1>;
        #size-cells = <1>;
        dev@41414141 { xen,reg = <0x41414141 0x41414141 0x41414100>; };
    };
};
""")
    got = passthrough_from_dtb(dtb.read_bytes(), path=dtb, field="F")
    # hand-computed: 0x41414141 >> 12 = 0x41414; 0x41414141 bytes are 0x41415 pages.
    assert got.iomem == ((0x41414, 0x41415, 0x41414),)


def test_passthrough_property_of_partial_cells_names_the_file(tmp_path: Path) -> None:
    require_tool("dtc")
    dtb = write_dts(tmp_path, "odd", """/dts-v1/;
/ { passthrough { dev { interrupts = [00 00 00 00 3f]; }; }; };
""")
    with pytest.raises(FormatError, match="32-bit cells") as info:
        passthrough_from_dtb(dtb.read_bytes(), path=dtb, field="F")
    assert info.value.path == str(dtb)


@pytest.mark.parametrize(("load", "number", "device"), [
    ("load mmc 0:1", 3, "/dev/mmcblk0p3"),
    ("load mmc 1:1", 2, "/dev/mmcblk1p2"),
    ("load scsi 0:1", 4, "/dev/sda4"),
    ("load scsi 2:1", 2, "/dev/sdc2"),
    ("load virtio 0:1", 2, "/dev/vda2"),
    ("fatload usb 1:1", 3, "/dev/sdb3"),
])
def test_partition_device(load: str, number: int, device: str) -> None:
    assert partition_device(load, number) == device


def test_partition_device_needs_a_disk() -> None:
    with pytest.raises(ConfigError, match="LOAD_CMD"):
        partition_device("tftpb", 2)


def test_render_full_config() -> None:
    dom = XlDomain(
        name="domU1", memory_mib=256, vcpus=2, kernel="/boot/imgs/Image",
        ramdisk="/boot/imgs/initrd", extra="console=hvc0 root=/dev/xvda",
        disk="/dev/mmcblk0p3", driver_domain="1", boot_device="/dev/mmcblk0p1",
        passthrough=Passthrough("eth.dtb", ((0x840000, 3, 0x50000),), ("/amba/eth",), (95,)))
    assert render_xl(dom).splitlines() == [
        'name = "domU1"',
        "memory = 256",
        "vcpus = 2",
        "driver_domain = 1",
        "# kernel and ramdisk are on the boot partition: mount /dev/mmcblk0p1 /boot",
        'kernel = "/boot/imgs/Image"',
        'ramdisk = "/boot/imgs/initrd"',
        'extra = "console=hvc0 root=/dev/xvda"',
        'disk = [ "/dev/mmcblk0p3,raw,xvda,rw" ]',
        'device_tree = "/etc/xen/eth.dtb"',
        'iomem = [ "840000,3@50000" ]',
        'dtdev = [ "/amba/eth" ]',
        "irqs = [ 95 ]",
    ]


def test_render_refuses_quotes() -> None:
    dom = XlDomain("d", 1, 1, "/boot/Image", None, 'console="x"')
    with pytest.raises(ConfigError, match="extra"):
        render_xl(dom)

"""dom0's root= device for a rootfs partition on the disk U-Boot loads from."""

from __future__ import annotations

import pytest

from bootproof.builder.errors import ConfigError
from bootproof.builder.xen.dt_edits import root_device


@pytest.mark.parametrize(
    ("load_cmd", "offset", "device"),
    [
        ("load mmc 0:1", 1, "/dev/mmcblk0p2"),
        ("load mmc 1:2", 1, "/dev/mmcblk1p3"),
        ("load scsi 0:1", 1, "/dev/sda2"),
        ("load virtio 0:1", 1, "/dev/vda2"),
        ("load virtio 1:1", 2, "/dev/vdb3"),
        # U-Boot reads DEV:PART as hex (blk_get_device_part_str: simple_strtoul(..., 16)):
        # partition 0xa is Linux's 10, 0x10 its 16, device 0xa the eleventh disk
        ("load mmc 0:a", 1, "/dev/mmcblk0p11"),
        ("load mmc 0:10", 1, "/dev/mmcblk0p17"),
        ("load mmc 1:F", 1, "/dev/mmcblk1p16"),
        ("load virtio a:1", 1, "/dev/vdk2"),
    ],
)
def test_root_device_follows_the_load_command(load_cmd: str, offset: int, device: str) -> None:
    assert root_device(load_cmd, offset) == device


@pytest.mark.parametrize("load_cmd", ["tftpb", None, "load foo", "load mmc 0", "load mmc 0:x"])
def test_root_device_needs_a_disk(load_cmd: str | None) -> None:
    with pytest.raises(ConfigError) as info:
        root_device(load_cmd, 1)
    assert "LOAD_CMD" in str(info.value)

"""Linux device names for the partitions of the disk a U-Boot load command reads.

Both the boot script (dom0's ``root=``) and the disk builder (xl ``disk=`` lines) need to say
how Linux will name a partition of the disk U-Boot loads from; this is the one place that
knows.
"""

from __future__ import annotations

import re

from builder.errors import ConfigError

_DEV_PREFIX = {"mmc": "mmcblk", "scsi": "sd", "sata": "sd", "usb": "sd", "virtio": "vd",
               "nvme": "nvme"}


def partition_device(load_cmd: str, number: int, *, field: str = "LOAD_CMD") -> str:
    """dom0's device name for partition ``number`` of the disk that ``load_cmd`` loads from.

    ``load mmc 0:1`` gives ``/dev/mmcblk0p<n>``, ``scsi``/``sata``/``usb`` give
    ``/dev/sd<a+dev><n>``, ``virtio`` gives ``/dev/vd<a+dev><n>``, ``nvme`` gives
    ``/dev/nvme<dev>n1p<n>``. Raises :class:`ConfigError` for anything else.
    """
    words = load_cmd.split()
    iface = next((w for w in words if w in _DEV_PREFIX), None)
    devpart = words[-1] if words else ""
    dev_text = devpart.split(":")[0]
    if iface is None or not dev_text.isdigit():
        raise ConfigError("cannot tell the disk from the load command (want e.g. "
                          "'load mmc 0:1', 'load virtio 0:1', 'load scsi 0:1')", field=field,
                          value=load_cmd)
    dev = int(dev_text)
    if iface == "mmc":
        return f"/dev/mmcblk{dev}p{number}"
    if iface == "nvme":
        return f"/dev/nvme{dev}n1p{number}"
    if dev > 25:
        raise ConfigError("device number too large for a /dev/sdX name", field=field,
                          value=load_cmd)
    return f"/dev/{_DEV_PREFIX[iface]}{chr(ord('a') + dev)}{number}"


def boot_partition(load_cmd: str | None, *, field: str = "LOAD_CMD") -> int:
    """The partition number in ``load_cmd``'s ``dev:part`` (``load mmc 0:1`` -> 1)."""
    m = re.search(r"\b\d+:(\d+)\b", load_cmd or "")
    if m is None:
        raise ConfigError("a rootfs partition needs LOAD_CMD like 'load mmc 0:1', "
                          "'load virtio 0:1' or 'load scsi 0:1'", field=field, value=load_cmd)
    return int(m.group(1))

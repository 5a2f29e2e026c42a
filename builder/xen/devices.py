"""Linux device names for the partitions of the disk a U-Boot load command reads.

Both the boot script (dom0's ``root=``) and the disk builder (xl ``disk=`` lines) need to say
how Linux will name a partition of the disk U-Boot loads from; this is the one place that
knows.
"""

from __future__ import annotations

import re

from bootproof.builder.errors import ConfigError

_DEV_PREFIX = {"mmc": "mmcblk", "scsi": "sd", "sata": "sd", "usb": "sd", "virtio": "vd",
               "nvme": "nvme"}


_DISK_HINT = "want e.g. 'load mmc 0:1', 'load virtio 0:1' or 'load scsi 0:1'"


def _disk(load_cmd: str | None, field: str) -> tuple[str, int, int | None]:
    """``(interface, device, partition or None)`` from a load command's ``IFACE DEV[:PART]``,
    both numbers hex as U-Boot reads them. Raises :class:`ConfigError` when the command
    names no disk."""
    words = (load_cmd or "").split()
    iface = next((w for w in words if w in _DEV_PREFIX), None)
    # U-Boot reads both numbers as hex (blk_get_device_part_str): ``0:a`` is partition 10
    m = re.fullmatch(r"([0-9a-fA-F]+)(?::([0-9a-fA-F]+))?", words[-1]) if words else None
    if iface is None or m is None:
        raise ConfigError(f"cannot tell the disk from the load command ({_DISK_HINT})",
                          field=field, value=load_cmd)
    part = m.group(2)
    return iface, int(m.group(1), 16), None if part is None else int(part, 16)


def partition_device(load_cmd: str, number: int, *, field: str = "LOAD_CMD") -> str:
    """dom0's device name for partition ``number`` of the disk that ``load_cmd`` loads from.

    ``load mmc 0:1`` gives ``/dev/mmcblk0p<n>``, ``scsi``/``sata``/``usb`` give
    ``/dev/sd<a+dev><n>``, ``virtio`` gives ``/dev/vd<a+dev><n>``, ``nvme`` gives
    ``/dev/nvme<dev>n1p<n>``. Raises :class:`ConfigError` for anything else.
    """
    iface, dev, _ = _disk(load_cmd, field)
    if iface == "mmc":
        return f"/dev/mmcblk{dev}p{number}"
    if iface == "nvme":
        return f"/dev/nvme{dev}n1p{number}"
    if dev > 25:
        raise ConfigError("device number too large for a /dev/sdX name", field=field,
                          value=load_cmd)
    return f"/dev/{_DEV_PREFIX[iface]}{chr(ord('a') + dev)}{number}"


def rootfs_device(load_cmd: str | None, part_offset: int, *, field: str = "LOAD_CMD") -> str:
    """The device of the partition ``part_offset`` places after the boot partition that
    ``load_cmd`` names (``load mmc 0:1``, offset 1 -> ``/dev/mmcblk0p2``). Raises
    :class:`ConfigError` when the command names no disk or no partition."""
    _, _, part = _disk(load_cmd, field)
    if part is None:
        raise ConfigError(f"the load command names no boot partition ({_DISK_HINT})",
                          field=field, value=load_cmd)
    assert load_cmd is not None  # _disk raised otherwise
    return partition_device(load_cmd, part + part_offset, field=field)

"""Pure size and placement rules of ``disk_image``, as the reference computes them.

* boot partition: the file sizes + 16 MiB, rounded up to 2 MiB;
* rootfs partition: the extracted size rounded up to 2 MiB, doubled ("for gzip"), plus the
  slack (``-s``);
* disk: the partitions back to back from sector 2048 (with a 1 MiB gap before each DOS
  logical partition for its extended boot record), plus 16 MiB, optionally rounded up to a
  power of two MiB (``-a``).

No I/O here. Raises :class:`~bootproof.builder.errors.LayoutError` for sizes that are not whole MiB.
"""

from __future__ import annotations

from collections.abc import Sequence

from bootproof.builder.errors import LayoutError
from bootproof.builder.formats.partitions import SECTOR
from bootproof.builder.layout import align_up

MIB = 1 << 20
FIRST_LBA = 2048
BOOT_HEADROOM = 16 * MIB
DISK_HEADROOM = 16 * MIB
ALIGN = 2 * MIB
DEFAULT_SLACK_MIB = 128  # -s: MiB added to every rootfs partition
DEFAULT_MAX_ROOTFS_MIB = 8192  # --max-rootfs-size: largest extracted size of one archive


def boot_partition_bytes(file_bytes: int) -> int:
    """Boot partition size: the files plus 16 MiB, rounded up to 2 MiB."""
    return align_up(file_bytes + BOOT_HEADROOM, ALIGN)


def rootfs_partition_bytes(content_bytes: int, slack_mib: int) -> int:
    """Rootfs partition size: content rounded up to 2 MiB, doubled, plus the slack."""
    return 2 * align_up(content_bytes, ALIGN) + slack_mib * MIB


def plan_partitions(sizes: Sequence[int], *, pow2: bool,
                    gaps: Sequence[int] = ()) -> tuple[list[tuple[int, int]], int]:
    """Place partitions of ``sizes`` bytes back to back from sector 2048.

    ``gaps[i]`` bytes are left free before partition ``i`` (a DOS logical partition's
    extended boot record). Returns ``[(start_lba, sectors), ...]`` and the disk size in
    sectors (partitions and gaps plus 16 MiB, rounded up to a power of two MiB when
    ``pow2``). Raises :class:`LayoutError` for a size that is not a whole number of MiB.
    """
    placed: list[tuple[int, int]] = []
    lba = FIRST_LBA
    gap_list = list(gaps) + [0] * (len(sizes) - len(gaps))
    for n, (size, gap) in enumerate(zip(sizes, gap_list, strict=True), start=1):
        if size <= 0 or size % MIB or gap < 0 or gap % MIB:
            raise LayoutError("partition size is not a positive whole number of MiB",
                              field=f"partition{n}", value=size)
        lba += gap // SECTOR
        placed.append((lba, size // SECTOR))
        lba += size // SECTOR
    total_mib = (sum(sizes) + sum(gap_list) + DISK_HEADROOM) // MIB
    if pow2:
        total_mib = 1 << (total_mib - 1).bit_length()
    return placed, total_mib * MIB // SECTOR

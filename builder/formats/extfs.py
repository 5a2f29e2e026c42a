"""The ext2/3/4 superblock fields a layout report shows: volume name, UUID, block size,
blocks used. Facts used (the ext4 disk layout): the superblock sits 1024 bytes into the
filesystem; ``s_magic`` 0xEF53 at 56, ``s_blocks_count_lo`` at 4, ``s_free_blocks_count_lo``
at 12, ``s_log_block_size`` at 24 (block size ``1024 << n``), ``s_uuid`` at 104 and
``s_volume_name`` (16 bytes) at 120.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from typing import NamedTuple

SUPERBLOCK_OFFSET = 1024
MAGIC = 0xEF53


class ExtSuperblock(NamedTuple):
    label: str
    uuid: str
    block_size: int
    blocks: int
    free_blocks: int

    @property
    def used_bytes(self) -> int:
        return (self.blocks - self.free_blocks) * self.block_size


def read_superblock(read: Callable[[int, int], bytes]) -> ExtSuperblock | None:
    """The superblock read through ``read(offset, length)`` (relative to the filesystem's
    start); None when there is no ext superblock there."""
    sb = read(SUPERBLOCK_OFFSET, 136)
    if len(sb) < 136 or struct.unpack_from("<H", sb, 56)[0] != MAGIC:
        return None
    blocks, free, log = struct.unpack_from("<I4xI8xI", sb, 4)
    if log > 6:
        return None
    name = sb[120:136].split(b"\0", 1)[0].decode("utf-8", errors="replace")
    return ExtSuperblock(name, str(uuid.UUID(bytes=sb[104:120])), 1024 << log, blocks, free)

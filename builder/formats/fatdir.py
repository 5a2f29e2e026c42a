"""The directory tree of a FAT12/16/32 filesystem: names and sizes, read from the boot
sector, the FAT and the directory clusters only (never a file's data).

Pure format code: the caller passes ``read(offset, length)`` relative to the start of the
filesystem (a partition of a disk image). Facts used (Microsoft's FAT specification): the
BIOS parameter block at the start of sector 0; the FAT type follows from the count of data
clusters (< 4085 FAT12, < 65525 FAT16, else FAT32); 32-byte directory entries (first byte
0 ends a directory, 0xE5 marks a deleted one, attribute 0x0F a long-name part, 0x08 the
volume label, 0x10 a directory); long names in UTF-16 pieces of 13 characters before their
short entry; the NT case bits (byte 12: 0x08 lower-case base, 0x10 lower-case extension).

Raises :class:`~bootproof.builder.errors.FormatError` naming the field and value.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from typing import NamedTuple

from bootproof.builder.errors import FormatError

Reader = Callable[[int, int], bytes]
ENTRY = 32
ATTR_LFN = 0x0F
ATTR_VOLUME = 0x08
ATTR_DIR = 0x10


class FatFile(NamedTuple):
    """A regular file: its path from the root (``/``-separated, no leading slash) and size."""

    path: str
    size: int


class FatVolume(NamedTuple):
    """What the boot sector says, and every regular file of the tree (path order)."""

    bits: int
    label: str
    volume_id: str
    files: tuple[FatFile, ...]


class _Geometry(NamedTuple):
    bps: int
    spc: int
    fat_offset: int
    fat_bytes: int
    root_offset: int
    root_bytes: int
    data_offset: int
    clusters: int
    bits: int
    root_cluster: int


def _geometry(boot: bytes, path: str | None) -> _Geometry:
    if len(boot) < 512 or boot[510:512] != b"\x55\xaa":
        raise FormatError("not a FAT filesystem: the boot sector signature 55 AA is missing",
                          path=path, field="FAT boot sector", value=boot[510:512].hex())
    bps, spc, reserved, fats, root_entries, total16 = struct.unpack_from("<HBHBHH", boot, 11)
    fat16, = struct.unpack_from("<H", boot, 22)
    total32, fat32, root_cluster = struct.unpack_from("<IIxxxxI", boot, 32)
    if bps not in (512, 1024, 2048, 4096) or spc == 0 or spc & (spc - 1) or fats == 0:
        raise FormatError("not a FAT filesystem: impossible BIOS parameter block", path=path,
                          field="FAT bytes per sector / sectors per cluster",
                          value=f"{bps}/{spc}")
    fat_sectors = fat16 or fat32
    total = total16 or total32
    root_sectors = (root_entries * ENTRY + bps - 1) // bps
    first_data = reserved + fats * fat_sectors + root_sectors
    if fat_sectors == 0 or total <= first_data:
        raise FormatError("not a FAT filesystem: no data area", path=path,
                          field="FAT total sectors", value=total)
    clusters = (total - first_data) // spc
    bits = 12 if clusters < 4085 else 16 if clusters < 65525 else 32
    return _Geometry(bps, spc, reserved * bps, fat_sectors * bps,
                     (reserved + fats * fat_sectors) * bps, root_sectors * bps,
                     first_data * bps, clusters, bits, root_cluster if bits == 32 else 0)


class _Fat:
    """The first FAT, read once, and cluster chains through it."""

    def __init__(self, read: Reader, geo: _Geometry, path: str | None) -> None:
        self.geo, self.path, self.read = geo, path, read
        self.table = read(geo.fat_offset, geo.fat_bytes)

    def next(self, cluster: int) -> int | None:
        bits, t = self.geo.bits, self.table
        if bits == 12:
            off = cluster + cluster // 2
            raw = int.from_bytes(t[off:off + 2], "little")
            value = raw >> 4 if cluster & 1 else raw & 0xFFF
            end = 0xFF8
        elif bits == 16:
            value, end = int.from_bytes(t[2 * cluster:2 * cluster + 2], "little"), 0xFFF8
        else:
            value = int.from_bytes(t[4 * cluster:4 * cluster + 4], "little") & 0x0FFFFFFF
            end = 0x0FFFFFF8
        return None if value >= end or value < 2 else value

    def chain(self, first: int, where: str) -> Iterator[int]:
        cluster: int | None = first
        for _ in range(self.geo.clusters + 1):
            if cluster is None:
                return
            if not 2 <= cluster < self.geo.clusters + 2:
                raise FormatError("cluster number out of range", path=self.path, field=where,
                                  value=cluster)
            yield cluster
            cluster = self.next(cluster)
        raise FormatError("the cluster chain loops", path=self.path, field=where, value=first)

    def directory(self, first: int, where: str) -> bytes:
        size = self.geo.spc * self.geo.bps
        return b"".join(self.read(self.geo.data_offset + (c - 2) * size, size)
                        for c in self.chain(first, where))


def _short_name(entry: bytes) -> str:
    base = entry[:8].decode("latin-1").rstrip()
    ext = entry[8:11].decode("latin-1").rstrip()
    if base[:1] == "\x05":
        base = "\xe5" + base[1:]
    if entry[12] & 0x08:
        base = base.lower()
    if entry[12] & 0x10:
        ext = ext.lower()
    return f"{base}.{ext}" if ext else base


def _lfn_piece(entry: bytes) -> str:
    raw = entry[1:11] + entry[14:26] + entry[28:32]
    return raw.decode("utf-16-le", errors="replace").split("\0", 1)[0].replace("\uffff", "")


def _entries(data: bytes) -> Iterator[tuple[str, int, int, int]]:
    """``(name, attributes, first cluster, size)`` of each live entry of a directory."""
    pieces: dict[int, str] = {}
    for off in range(0, len(data) - ENTRY + 1, ENTRY):
        entry = data[off:off + ENTRY]
        if entry[0] == 0:
            return
        if entry[0] == 0xE5:
            pieces = {}
            continue
        attr = entry[11]
        if attr & 0x3F == ATTR_LFN:
            pieces[entry[0] & 0x1F] = _lfn_piece(entry)
            continue
        name = "".join(pieces[k] for k in sorted(pieces)) if pieces else _short_name(entry)
        pieces = {}
        if attr & ATTR_VOLUME:
            continue
        hi, lo, size = struct.unpack_from("<H4xHI", entry, 20)
        yield name, attr, hi << 16 | lo, size


def read_fat(read: Reader, *, path: str | None = None, max_entries: int = 1 << 16
             ) -> FatVolume:
    """The label, volume id, FAT width and every regular file (path, size) of the FAT
    filesystem read through ``read(offset, length)``. FormatError when it is not one or a
    directory's cluster chain is broken."""
    boot = read(0, 512)
    geo = _geometry(boot, path)
    fat = _Fat(read, geo, path)
    at = 71 if geo.bits == 32 else 43
    label = boot[at:at + 11].decode("latin-1").rstrip()
    vid, = struct.unpack_from("<I", boot, at - 4)
    files: list[FatFile] = []
    stack: list[tuple[str, bytes]] = []
    if geo.bits == 32:
        stack.append(("", fat.directory(geo.root_cluster, "FAT32 root directory cluster")))
    else:
        stack.append(("", read(geo.root_offset, geo.root_bytes)))
    seen = 0
    while stack:
        prefix, data = stack.pop()
        for name, attr, first, size in _entries(data):
            seen += 1
            if seen > max_entries:
                raise FormatError("too many directory entries", path=path,
                                  field="FAT directory entries", value=seen)
            if name in (".", ".."):
                continue
            full = f"{prefix}{name}"
            if attr & ATTR_DIR:
                if first:
                    stack.append((full + "/", fat.directory(first, f"directory {full}")))
            else:
                files.append(FatFile(full, size))
    files.sort(key=lambda f: f.path)
    return FatVolume(geo.bits, label, f"{vid >> 16:04X}-{vid & 0xFFFF:04X}", tuple(files))

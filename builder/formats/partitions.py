"""Partition tables as bytes: a DOS/MBR label and a GPT (protective MBR, primary and backup).

Pure format code: a :class:`PartitionTable` goes in, a list of ``(byte offset, bytes)``
writes comes out (:func:`table_writes`); the caller puts them into the disk file. Nothing
here decides sizes or policy, except that every partition must lie inside the disk, inside
the usable area (GPT), and not overlap another one.

Identifiers are deterministic: :func:`derive_guid` and :func:`derive_disk_id` turn a seed
text (for example the image name plus ``SOURCE_DATE_EPOCH``) into a GUID or a 32-bit DOS
disk identifier, so the same inputs give the same bytes.

Raises :class:`~bootproof.builder.errors.LayoutError` subclasses for partitions that do not fit.
"""

from __future__ import annotations

import enum
import struct
import uuid
import zlib
from dataclasses import dataclass

from bootproof.builder.errors import LayoutError, OverflowError_, OverlapError
from bootproof.builder.layout import AddressRange

SECTOR = 512
GPT_ENTRIES = 128
GPT_ENTRY_SIZE = 128
GPT_ARRAY_SECTORS = GPT_ENTRIES * GPT_ENTRY_SIZE // SECTOR  # 32
GPT_HEADER_SIZE = 92
GPT_REVISION = 0x00010000
MBR_MAX_PRIMARY = 4
MBR_EXTENDED_LBA = 0x0F  # extended partition, LBA addressing

_GUID_NAMESPACE = uuid.UUID("5b0f4f7e-3f55-4c43-9a56-6f6f7470726f")


class Scheme(enum.Enum):
    """Which label to write."""

    DOS = "dos"
    GPT = "gpt"


class PartKind(enum.Enum):
    """What a partition holds; selects the DOS type byte and the GPT type GUID."""

    FAT32 = "fat32"
    FAT16 = "fat16"
    FAT12 = "fat12"
    LINUX = "linux"

    @property
    def mbr_type(self) -> int:
        return {PartKind.FAT32: 0x0C, PartKind.FAT16: 0x0E, PartKind.FAT12: 0x01,
                PartKind.LINUX: 0x83}[self]

    @property
    def gpt_type(self) -> uuid.UUID:
        if self is PartKind.LINUX:
            return uuid.UUID("0fc63daf-8483-4772-8e79-3d69d8477de4")  # Linux filesystem data
        return uuid.UUID("ebd0a0a2-b9e5-4433-87c0-68b6b72699c7")  # Microsoft basic data


@dataclass(frozen=True)
class Partition:
    """One partition: ``start`` and ``sectors`` in 512-byte sectors."""

    start: int
    sectors: int
    kind: PartKind
    name: str = ""
    bootable: bool = False
    guid: uuid.UUID | None = None  # GPT unique partition GUID

    @property
    def extent(self) -> AddressRange:
        """The sectors the partition holds (sector numbers, not bytes)."""
        return AddressRange(self.start, self.sectors)

    @property
    def end(self) -> int:
        """First sector after the partition."""
        return self.extent.end


@dataclass(frozen=True)
class PartitionTable:
    """A whole label: scheme, disk size in sectors, partitions in order (number = index + 1)."""

    scheme: Scheme
    disk_sectors: int
    partitions: tuple[Partition, ...]
    disk_id: int = 0  # DOS disk signature
    disk_guid: uuid.UUID | None = None  # GPT disk GUID


def derive_guid(seed: str) -> uuid.UUID:
    """A stable GUID for ``seed`` (a name-based UUID, version 5)."""
    return uuid.uuid5(_GUID_NAMESPACE, seed)


def derive_disk_id(seed: str) -> int:
    """A stable, non-zero 32-bit DOS disk identifier for ``seed``."""
    import hashlib  # here: loading OpenSSL costs a reader of labels (bootproof diff) 10 ms

    value = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:4], "little")
    return value or 1


def usable_range(table: PartitionTable) -> tuple[int, int]:
    """First and last-plus-one sector partitions may use."""
    if table.scheme is Scheme.GPT:
        return 2 + GPT_ARRAY_SECTORS, table.disk_sectors - 1 - GPT_ARRAY_SECTORS
    return 1, table.disk_sectors


def validate(table: PartitionTable) -> None:
    """Check that every partition is non-empty, inside the usable area and overlaps no other.

    Raises :class:`OverflowError_` (outside the disk), :class:`OverlapError` or
    :class:`LayoutError` (too many partitions for the scheme, empty partition).
    """
    if table.scheme is Scheme.DOS and len(table.partitions) > MBR_MAX_PRIMARY:
        # partitions 4.. become logical partitions, each after a gap holding its EBR
        for number, part in enumerate(table.partitions[3:], start=4):
            previous = table.partitions[number - 2]
            if part.start <= previous.end:
                raise LayoutError("a logical partition needs a free sector before it for "
                                  "its extended boot record", field=f"partition{number}",
                                  value=part.start)
    if table.scheme is Scheme.GPT and len(table.partitions) > GPT_ENTRIES:
        raise LayoutError("too many GPT partitions", field="partitions",
                          value=len(table.partitions))
    if table.scheme is Scheme.DOS and table.disk_sectors > 0xFFFFFFFF:
        raise OverflowError_("disk too large for a DOS label (2 TiB); use GPT=y",
                             field="disk_sectors", value=table.disk_sectors)
    first, last = usable_range(table)
    usable = AddressRange(first, last - first)
    for number, part in enumerate(table.partitions, start=1):
        field = f"partition{number}"
        if part.sectors <= 0:
            raise LayoutError("partition is empty", field=field, value=part.sectors)
        if not usable.contains(part.extent):
            raise OverflowError_(
                f"partition sectors {part.start}..{part.end - 1} outside usable sectors "
                f"{first}..{last - 1}", field=field, value=part.start)
        for other_no, other in enumerate(table.partitions[:number - 1], start=1):
            if part.extent.overlaps(other.extent):
                raise OverlapError(f"overlaps partition {other_no}", field=field,
                                   value=part.start)


def _chs(lba: int) -> bytes:
    """CHS triple for ``lba`` with 255 heads and 63 sectors, saturated at 1023/254/63."""
    heads, spt = 255, 63
    cyl = lba // (heads * spt)
    if cyl > 1023:
        return bytes((0xFE, 0xFF, 0xFF))
    head = (lba // spt) % heads
    sec = lba % spt + 1
    return bytes((head, ((cyl >> 2) & 0xC0) | sec, cyl & 0xFF))


def _mbr_entry(status: int, ptype: int, start: int, sectors: int, base: int = 0) -> bytes:
    """A 16-byte partition entry; ``start`` is relative to ``base`` (EBR links), the CHS
    fields are absolute."""
    first = base + start
    return (bytes((status,)) + _chs(first) + bytes((ptype,)) + _chs(first + sectors - 1)
            + struct.pack("<II", start, sectors))


def _mbr(disk_id: int, entries: list[bytes]) -> bytes:
    body = bytearray(SECTOR)
    struct.pack_into("<I", body, 440, disk_id)
    for i, entry in enumerate(entries):
        body[446 + 16 * i:446 + 16 * (i + 1)] = entry
    body[510:512] = b"\x55\xaa"
    return bytes(body)


def partition_numbers(scheme: Scheme, count: int) -> list[int]:
    """The numbers Linux gives ``count`` partitions of a table: 1..count, except on a DOS
    label with more than 4, where the 4th slot is the extended partition and the logical
    ones are numbered from 5 (1, 2, 3, 5, 6, ...)."""
    if scheme is Scheme.GPT or count <= MBR_MAX_PRIMARY:
        return list(range(1, count + 1))
    return [1, 2, 3, *range(5, count + 2)]


def mbr_writes(table: PartitionTable) -> list[tuple[int, bytes]]:
    """The DOS label for ``table``: the MBR and, for more than 4 partitions, an extended
    partition (slot 4) with one extended boot record (EBR) per logical partition, placed in
    the sector right after the previous partition. Raises as :func:`validate`."""
    validate(table)
    parts = table.partitions
    if len(parts) <= MBR_MAX_PRIMARY:
        entries = [_mbr_entry(0x80 if p.bootable else 0, p.kind.mbr_type, p.start, p.sectors)
                   for p in parts]
        return [(0, _mbr(table.disk_id, entries))]
    primary, logical = parts[:3], parts[3:]
    ebrs = [prev.end for prev in parts[2:-1]]  # EBR k sits right after partition before it
    ext_start = ebrs[0]
    ext_sectors = logical[-1].end - ext_start
    entries = [_mbr_entry(0x80 if p.bootable else 0, p.kind.mbr_type, p.start, p.sectors)
               for p in primary]
    entries.append(_mbr_entry(0, MBR_EXTENDED_LBA, ext_start, ext_sectors))
    writes = [(0, _mbr(table.disk_id, entries))]
    for k, (ebr, part) in enumerate(zip(ebrs, logical, strict=True)):
        # entry 1: the logical partition, relative to this EBR; entry 2: the next EBR,
        # relative to the start of the extended partition
        links = [_mbr_entry(0, part.kind.mbr_type, part.start - ebr, part.sectors, ebr)]
        if k + 1 < len(logical):
            nxt = ebrs[k + 1]
            links.append(_mbr_entry(0, MBR_EXTENDED_LBA, nxt - ext_start,
                                    logical[k + 1].end - nxt, ext_start))
        writes.append((ebr * SECTOR, _mbr(0, links)))
    return writes


def protective_mbr(disk_sectors: int) -> bytes:
    """The GPT protective MBR: one 0xEE partition covering the disk (capped at 2 TiB)."""
    size = min(disk_sectors - 1, 0xFFFFFFFF)
    entry = bytes((0, 0x00, 0x02, 0x00, 0xEE, 0xFF, 0xFF, 0xFF)) + struct.pack("<II", 1, size)
    return _mbr(0, [entry])


def _gpt_entry(part: Partition) -> bytes:
    if part.guid is None:
        raise LayoutError("GPT partition needs a unique GUID", field=part.name or "partition")
    name = part.name.encode("utf-16-le")
    if len(name) > 72:
        raise LayoutError("GPT partition name longer than 36 UTF-16 units", field="name",
                          value=part.name)
    attrs = 1 << 2 if part.bootable else 0  # legacy BIOS bootable
    return (part.kind.gpt_type.bytes_le + part.guid.bytes_le
            + struct.pack("<QQQ", part.start, part.end - 1, attrs) + name.ljust(72, b"\0"))


def _gpt_header(table: PartitionTable, *, primary: bool, array_crc: int) -> bytes:
    assert table.disk_guid is not None
    last_lba = table.disk_sectors - 1
    first_usable, end_usable = usable_range(table)
    my_lba, alt_lba = (1, last_lba) if primary else (last_lba, 1)
    array_lba = 2 if primary else last_lba - GPT_ARRAY_SECTORS
    fields = (b"EFI PART", GPT_REVISION, GPT_HEADER_SIZE, 0, 0, my_lba, alt_lba,
              first_usable, end_usable - 1, table.disk_guid.bytes_le, array_lba,
              GPT_ENTRIES, GPT_ENTRY_SIZE, array_crc)
    fmt = "<8sIIIIQQQQ16sQIII"
    header = struct.pack(fmt, *fields)
    crc = zlib.crc32(header) & 0xFFFFFFFF
    header = struct.pack(fmt, *fields[:3], crc, *fields[4:])
    return header.ljust(SECTOR, b"\0")


def gpt_writes(table: PartitionTable) -> list[tuple[int, bytes]]:
    """Protective MBR, primary header and array, backup array and header, as byte writes.

    Raises as :func:`validate`, and :class:`LayoutError` when a GUID is missing.
    """
    validate(table)
    if table.disk_guid is None:
        raise LayoutError("GPT needs a disk GUID", field="disk_guid")
    array = b"".join(_gpt_entry(p) for p in table.partitions)
    array = array.ljust(GPT_ENTRIES * GPT_ENTRY_SIZE, b"\0")
    array_crc = zlib.crc32(array) & 0xFFFFFFFF
    last = table.disk_sectors - 1
    return [
        (0, protective_mbr(table.disk_sectors)),
        (SECTOR, _gpt_header(table, primary=True, array_crc=array_crc)),
        (2 * SECTOR, array),
        ((last - GPT_ARRAY_SECTORS) * SECTOR, array),
        (last * SECTOR, _gpt_header(table, primary=False, array_crc=array_crc)),
    ]


def table_writes(table: PartitionTable) -> list[tuple[int, bytes]]:
    """Every ``(byte offset, bytes)`` write that puts ``table`` on a disk of its size."""
    if table.scheme is Scheme.GPT:
        return gpt_writes(table)
    return mbr_writes(table)

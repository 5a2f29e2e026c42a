"""Reading a partition table back: a DOS/MBR label (primary, extended and logical
partitions) or a GPT, from the sectors that hold it.

The reverse of :mod:`bootproof.builder.formats.partitions`, for any disk image (not only
the ones bootproof writes). Pure format code: the caller passes ``read(offset, length)``,
so only the label's own sectors are read (a few KiB whatever the disk's size).

Facts used (UEFI 2.x §5, the DOS label): the MBR ends with ``55 AA`` at 510; its four
16-byte entries at 446 hold status, type, first sector and sector count; an extended
partition (type 0x05, 0x0F, 0x85) chains extended boot records (EBRs) whose first entry is
a logical partition relative to that EBR and whose second links to the next EBR relative
to the extended partition's start; a type 0xEE entry is a GPT's protective MBR, whose
header (``EFI PART``) is at sector 1, its entry array where the header says.

Raises :class:`~bootproof.builder.errors.FormatError` naming the field and value.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from typing import NamedTuple

from bootproof.builder.errors import FormatError

SECTOR = 512
MBR_SIGNATURE = b"\x55\xaa"
GPT_SIGNATURE = b"EFI PART"
EXTENDED_TYPES = (0x05, 0x0F, 0x85)
GPT_PROTECTIVE = 0xEE
#: More EBRs than this is a loop, not a label.
MAX_LOGICAL = 128

Reader = Callable[[int, int], bytes]


class ReadPartition(NamedTuple):
    """One partition as the label describes it; ``start`` and ``sectors`` in sectors.
    ``type`` is the DOS type byte (``0x83``) or the GPT type GUID; ``name`` the GPT name
    (empty on a DOS label); ``guid`` the GPT unique GUID (None on a DOS label)."""

    number: int
    start: int
    sectors: int
    type: str
    bootable: bool
    name: str = ""
    guid: str | None = None

    @property
    def end(self) -> int:
        return self.start + self.sectors


class ReadTable(NamedTuple):
    """A label read back: ``scheme`` ``dos`` or ``gpt``, the disk identifier as bootproof
    reports it (``0x1234abcd`` or the GPT disk GUID), and the partitions in number order."""

    scheme: str
    disk_id: str
    partitions: tuple[ReadPartition, ...]


def has_label(first_sector: bytes) -> bool:
    """Whether a sector 0 looks like a partitioned disk: the ``55 AA`` signature and at
    least one entry whose type is set and whose status byte is 0x00 or 0x80 (a FAT boot
    sector has the signature too, but code there, not four such entries)."""
    if len(first_sector) < SECTOR or first_sector[510:512] != MBR_SIGNATURE:
        return False
    seen = False
    for i in range(4):
        entry = first_sector[446 + 16 * i:462 + 16 * i]
        if entry == bytes(16):
            continue
        if entry[0] not in (0, 0x80) or entry[4] == 0:
            return False
        seen = True
    return seen


def _entries(sector: bytes) -> list[tuple[int, int, int, int]]:
    """``(status, type, first, count)`` of the four entries of an MBR or EBR."""
    out = []
    for i in range(4):
        status, ptype, first, count = struct.unpack_from("<B3xB3xII", sector, 446 + 16 * i)
        out.append((status, ptype, first, count))
    return out


def _sector(read: Reader, lba: int, where: str, path: str | None) -> bytes:
    data = read(lba * SECTOR, SECTOR)
    if len(data) < SECTOR:
        raise FormatError("the disk image ends before this sector", path=path, field=where,
                          value=lba)
    return data


def read_table(read: Reader, disk_bytes: int, *, path: str | None = None) -> ReadTable:
    """The label of a disk of ``disk_bytes`` bytes read through ``read(offset, length)``.

    FormatError when sector 0 is not a DOS label or protective MBR, a GPT header or its
    entry array fails its CRC, or a partition runs past the end of the disk.
    """
    mbr = _sector(read, 0, "MBR", path)
    if mbr[510:512] != MBR_SIGNATURE:
        raise FormatError("no partition table: the MBR signature 55 AA is missing",
                          path=path, field="MBR[510:512]", value=mbr[510:512].hex())
    entries = _entries(mbr)
    if any(t == GPT_PROTECTIVE for _, t, _, _ in entries):
        table = _gpt(read, path)
    else:
        table = _dos(read, mbr, entries, path)
    disk_sectors = disk_bytes // SECTOR
    for p in table.partitions:
        if p.end > disk_sectors:
            raise FormatError(f"partition {p.number} runs past the end of the disk "
                              f"({disk_sectors} sectors)", path=path,
                              field=f"partition {p.number} end sector", value=p.end)
    return table


def _dos(read: Reader, mbr: bytes, entries: list[tuple[int, int, int, int]],
         path: str | None) -> ReadTable:
    parts: list[ReadPartition] = []
    extended: tuple[int, int] | None = None
    for n, (status, ptype, first, count) in enumerate(entries, start=1):
        if ptype == 0 or count == 0:
            continue
        if ptype in EXTENDED_TYPES:
            extended = (first, count)
            continue
        parts.append(ReadPartition(n, first, count, f"0x{ptype:02x}", status == 0x80))
    if extended is not None:
        parts += _logical(read, extended[0], path)
    disk_id = struct.unpack_from("<I", mbr, 440)[0]
    return ReadTable("dos", f"0x{disk_id:08x}", tuple(parts))


def _logical(read: Reader, ext_start: int, path: str | None) -> list[ReadPartition]:
    out: list[ReadPartition] = []
    ebr_lba = ext_start
    for number in range(5, 5 + MAX_LOGICAL):
        ebr = _sector(read, ebr_lba, f"EBR of partition {number}", path)
        if ebr[510:512] != MBR_SIGNATURE:
            raise FormatError("an extended boot record lacks the signature 55 AA", path=path,
                              field=f"EBR at sector {ebr_lba}", value=ebr[510:512].hex())
        (status, ptype, first, count), link = _entries(ebr)[:2]
        if ptype and count:
            out.append(ReadPartition(number, ebr_lba + first, count, f"0x{ptype:02x}",
                                     status == 0x80))
        if link[1] not in EXTENDED_TYPES or link[3] == 0:
            return out
        ebr_lba = ext_start + link[2]
    raise FormatError(f"more than {MAX_LOGICAL} logical partitions (a loop in the EBR chain?)",
                      path=path, field="EBR chain", value=ebr_lba)


def _guid(raw: bytes) -> str:
    import uuid  # only a GPT has GUIDs; uuid costs a DOS disk's diff 10% of its imports

    return str(uuid.UUID(bytes_le=raw))


def _gpt(read: Reader, path: str | None) -> ReadTable:
    header = _sector(read, 1, "GPT header", path)
    if header[:8] != GPT_SIGNATURE:
        raise FormatError("protective MBR but no GPT header at sector 1", path=path,
                          field="GPT header signature", value=header[:8])
    (size, crc) = struct.unpack_from("<II", header, 12)
    if not 92 <= size <= SECTOR:
        raise FormatError("GPT header size out of range", path=path, field="GPT header size",
                          value=size)
    check = bytearray(header[:size])
    check[16:20] = bytes(4)
    if zlib.crc32(check) & 0xFFFFFFFF != crc:
        raise FormatError("GPT header CRC32 does not match", path=path,
                          field="GPT header CRC32", value=f"0x{crc:08x}")
    disk_guid = _guid(header[56:72])
    array_lba, count, entry_size, array_crc = struct.unpack_from("<QIII", header, 72)
    if entry_size < 128 or count * entry_size > 1 << 20:
        raise FormatError("GPT entry array size out of range", path=path,
                          field="GPT entries x entry size", value=count * entry_size)
    array = read(array_lba * SECTOR, count * entry_size)
    if zlib.crc32(array) & 0xFFFFFFFF != array_crc:
        raise FormatError("GPT entry array CRC32 does not match", path=path,
                          field="GPT entry array CRC32", value=f"0x{array_crc:08x}")
    parts = []
    for n in range(count):
        raw = array[n * entry_size:(n + 1) * entry_size]
        if raw[:16] == bytes(16):
            continue
        first, last, attrs = struct.unpack_from("<QQQ", raw, 32)
        if last < first:
            raise FormatError("GPT entry ends before it starts", path=path,
                              field=f"GPT entry {n + 1} last LBA", value=last)
        name = raw[56:128].decode("utf-16-le", errors="replace").split("\0", 1)[0]
        parts.append(ReadPartition(n + 1, first, last - first + 1, _guid(raw[:16]),
                                   bool(attrs & 1 << 2), name, _guid(raw[16:32])))
    return ReadTable("gpt", disk_guid, tuple(parts))

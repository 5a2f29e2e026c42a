"""MBR and GPT tables written by bootproof.builder.formats.partitions, read back by sfdisk."""

from __future__ import annotations

import struct
import uuid
import zlib
from pathlib import Path

import pytest
from conftest import require_tool
from disk_testutil import run, sfdisk_json
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bootproof.builder.errors import LayoutError, OverflowError_, OverlapError
from bootproof.builder.formats import partitions as pt

MIB_SECTORS = 2048


def _write(table: pt.PartitionTable, path: Path) -> Path:
    with open(path, "wb") as fh:
        fh.truncate(table.disk_sectors * 512)
        for offset, data in pt.table_writes(table):
            fh.seek(offset)
            fh.write(data)
    return path


def _parts(gpt: bool) -> tuple[pt.Partition, ...]:
    return (
        pt.Partition(2048, 20 * MIB_SECTORS, pt.PartKind.FAT32, "boot", True,
                     pt.derive_guid("p1")),
        pt.Partition(21 * MIB_SECTORS, 30 * MIB_SECTORS, pt.PartKind.LINUX, "Linux2", False,
                     pt.derive_guid("p2")),
        pt.Partition(51 * MIB_SECTORS, 10 * MIB_SECTORS, pt.PartKind.LINUX, "Linux3", False,
                     pt.derive_guid("p3")),
    )


def test_dos_label_read_by_sfdisk(tmp_path: Path) -> None:
    require_tool("sfdisk")
    table = pt.PartitionTable(pt.Scheme.DOS, 80 * MIB_SECTORS, _parts(False),
                              disk_id=0x12345678)
    image = _write(table, tmp_path / "d.img")
    got = sfdisk_json(image)
    assert got["label"] == "dos"
    assert got["id"] == "0x12345678"
    assert [(p["start"], p["size"], p["type"]) for p in got["partitions"]] == [
        (2048, 40960, "c"), (43008, 61440, "83"), (104448, 20480, "83")]
    assert got["partitions"][0].get("bootable") is True
    assert "bootable" not in got["partitions"][1]
    verify = run("sfdisk", "--verify", image)
    assert "No errors detected" in verify.stdout


def test_gpt_read_by_sfdisk(tmp_path: Path) -> None:
    require_tool("sfdisk")
    disk_guid = uuid.UUID("01234567-89ab-cdef-0123-456789abcdef")
    table = pt.PartitionTable(pt.Scheme.GPT, 80 * MIB_SECTORS, _parts(True),
                              disk_guid=disk_guid)
    image = _write(table, tmp_path / "g.img")
    got = sfdisk_json(image)
    assert got["label"] == "gpt"
    assert got["id"] == "01234567-89AB-CDEF-0123-456789ABCDEF"
    assert got["firstlba"] == 34
    assert got["lastlba"] == 80 * MIB_SECTORS - 34
    parts = got["partitions"]
    assert [(p["start"], p["size"], p.get("name")) for p in parts] == [
        (2048, 40960, "boot"), (43008, 61440, "Linux2"), (104448, 20480, "Linux3")]
    assert parts[0]["type"] == "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"
    assert parts[1]["type"] == "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
    assert parts[1]["uuid"] == str(pt.derive_guid("p2")).upper()
    verify = run("sfdisk", "--verify", image)
    assert "No errors detected" in verify.stdout, verify.stdout + verify.stderr


def test_gpt_backup_header_mirrors_primary(tmp_path: Path) -> None:
    table = pt.PartitionTable(pt.Scheme.GPT, 80 * MIB_SECTORS, _parts(True),
                              disk_guid=pt.derive_guid("disk"))
    data = _write(table, tmp_path / "g.img").read_bytes()
    last = 80 * MIB_SECTORS - 1
    primary, backup = data[512:512 + 92], data[last * 512:last * 512 + 92]
    for header in (primary, backup):
        assert header[:8] == b"EFI PART"
        zeroed = header[:16] + b"\0\0\0\0" + header[20:]
        assert struct.unpack_from("<I", header, 16)[0] == zlib.crc32(zeroed)
    my_p, alt_p = struct.unpack_from("<QQ", primary, 24)
    my_b, alt_b = struct.unpack_from("<QQ", backup, 24)
    assert (my_p, alt_p, my_b, alt_b) == (1, last, last, 1)
    assert struct.unpack_from("<Q", primary, 72)[0] == 2
    assert struct.unpack_from("<Q", backup, 72)[0] == last - 32
    assert data[1024:1024 + 16384] == data[(last - 32) * 512:last * 512]
    # protective MBR: one 0xEE entry from LBA 1
    assert data[450] == 0xEE and data[510:512] == b"\x55\xaa"
    assert struct.unpack_from("<II", data, 454) == (1, 80 * MIB_SECTORS - 1)


def test_overlap_and_overflow_are_refused() -> None:
    a = pt.Partition(2048, 4096, pt.PartKind.LINUX, guid=pt.derive_guid("a"))
    b = pt.Partition(4096, 4096, pt.PartKind.LINUX, guid=pt.derive_guid("b"))
    with pytest.raises(OverlapError, match="partition2"):
        pt.validate(pt.PartitionTable(pt.Scheme.DOS, 20000, (a, b)))
    # a GPT keeps its last 33 sectors for the backup array and header
    c = pt.Partition(2048, 20000 - 2048 - 10, pt.PartKind.LINUX, guid=pt.derive_guid("c"))
    pt.validate(pt.PartitionTable(pt.Scheme.DOS, 20000, (c,)))
    with pytest.raises(OverflowError_):
        pt.validate(pt.PartitionTable(pt.Scheme.GPT, 20000, (c,), disk_guid=uuid.uuid4()))


def test_dos_logical_partitions_read_by_sfdisk(tmp_path: Path) -> None:
    require_tool("sfdisk")
    m = MIB_SECTORS
    # boot, two primaries, then three logical partitions each 1 MiB after the one before
    parts = (pt.Partition(m, 10 * m, pt.PartKind.FAT32, bootable=True),
             pt.Partition(11 * m, 5 * m, pt.PartKind.LINUX),
             pt.Partition(16 * m, 5 * m, pt.PartKind.LINUX),
             pt.Partition(22 * m, 5 * m, pt.PartKind.LINUX),
             pt.Partition(28 * m, 5 * m, pt.PartKind.LINUX),
             pt.Partition(34 * m, 5 * m, pt.PartKind.LINUX))
    table = pt.PartitionTable(pt.Scheme.DOS, 50 * m, parts, disk_id=0xABCDEF01)
    image = _write(table, tmp_path / "l.img")
    got = sfdisk_json(image)["partitions"]
    assert [(p["node"][-1], p["start"], p["size"], p["type"]) for p in got] == [
        ("1", m, 10 * m, "c"), ("2", 11 * m, 5 * m, "83"), ("3", 16 * m, 5 * m, "83"),
        ("4", 21 * m, 18 * m, "f"),  # extended: from the first EBR to the last logical end
        ("5", 22 * m, 5 * m, "83"), ("6", 28 * m, 5 * m, "83"), ("7", 34 * m, 5 * m, "83")]
    assert "No errors detected" in run("sfdisk", "--verify", image).stdout
    assert pt.partition_numbers(pt.Scheme.DOS, 6) == [1, 2, 3, 5, 6, 7]
    assert pt.partition_numbers(pt.Scheme.DOS, 4) == [1, 2, 3, 4]
    assert pt.partition_numbers(pt.Scheme.GPT, 6) == [1, 2, 3, 4, 5, 6]


def test_dos_logical_partition_needs_room_for_its_ebr() -> None:
    m = MIB_SECTORS
    parts = tuple(pt.Partition(m * (1 + 2 * i), 2 * m, pt.PartKind.LINUX) for i in range(5))
    with pytest.raises(LayoutError, match="extended boot record"):
        pt.table_writes(pt.PartitionTable(pt.Scheme.DOS, 20 * m, parts))


def test_derived_ids_are_stable_and_distinct() -> None:
    assert pt.derive_guid("x:1") == pt.derive_guid("x:1")
    assert pt.derive_guid("x:1") != pt.derive_guid("x:2")
    assert pt.derive_disk_id("a") == pt.derive_disk_id("a") != 0
    assert pt.derive_disk_id("a") != pt.derive_disk_id("b")


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(1, 8), min_size=1, max_size=7), gpt=st.booleans())
def test_sfdisk_agrees_with_any_layout(tmp_path: Path, sizes: list[int], gpt: bool) -> None:
    require_tool("sfdisk")
    m = MIB_SECTORS
    logical = not gpt and len(sizes) > 4
    parts, lba = [], m
    for i, size in enumerate(sizes):
        if logical and i >= 3:
            lba += m  # room for the EBR
        kind = pt.PartKind.FAT32 if i == 0 else pt.PartKind.LINUX
        parts.append(pt.Partition(lba, size * m, kind, f"p{i}", i == 0, pt.derive_guid(str(i))))
        lba += size * m
    table = pt.PartitionTable(pt.Scheme.GPT if gpt else pt.Scheme.DOS, lba + m, tuple(parts),
                              disk_id=7, disk_guid=pt.derive_guid("disk"))
    image = _write(table, tmp_path / "h.img")
    got = [p for p in sfdisk_json(image)["partitions"] if p["type"] != "f"]
    assert [(p["start"], p["size"]) for p in got] == [(p.start, p.sectors) for p in parts]
    numbers = [int(p["node"][len(str(image)):]) for p in got]
    assert numbers == pt.partition_numbers(table.scheme, len(parts))

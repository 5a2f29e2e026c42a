"""DiskLayout.to_model(): the disk space in sectors (label records and partitions) and the
boot partition's files, from hand-made layouts whose numbers are written out here."""

from __future__ import annotations

import json

import jsonschema

from bootproof.builder.disk.image import DiskLayout, PartitionLayout
from bootproof.builder.layout.model import Layout, schema_text

MIB_SECTORS = 2048


def _part(n: int, start: int, sectors: int, role: str = "domU", **kw: object) -> PartitionLayout:
    return PartitionLayout(n, role, "ext4", start, sectors, f"vos_{n}", "id", f"/dev/sda{n}",
                           1000 * n, **kw)  # type: ignore[arg-type]


def test_dos_disk_with_logical_partitions() -> None:
    parts = (
        PartitionLayout(1, "boot", "vfat16", 2048, 40960, "boot", "1234-5678", None, 5000,
                        files=(("Image", 4000), ("boot.scr", 1000))),
        _part(2, 43008, 8192, "dom0", source="dom0.tar"),
        _part(3, 51200, 8192),
        # logical: each one 1 MiB after the one before (its EBR in that gap's first sector)
        _part(5, 59392 + MIB_SECTORS, 8192),
        _part(6, 59392 + MIB_SECTORS + 8192 + MIB_SECTORS, 8192),
    )
    end = parts[-1].start_lba + parts[-1].sectors
    disk = DiskLayout("disk.img", "dos", (end + 16 * MIB_SECTORS) * 512, "0x01020304", parts)
    model = disk.to_model(sha256={"Image": "ab" * 32})
    assert [s.name for s in model.spaces] == ["disk", "partition1"]
    space = model.spaces[0]
    assert (space.unit, space.start, space.size) == ("sector", 0, end + 16 * MIB_SECTORS)
    got = [(i.kind, i.name, i.start, i.size) for i in space.items]
    assert got == [
        ("table", "mbr", 0, 1),
        ("table", "ebr 5", 59392, 1),  # right after partition 3 (51200 + 8192)
        ("table", "ebr 6", 59392 + MIB_SECTORS + 8192, 1),
        ("partition", "partition 1", 2048, 40960),
        ("partition", "partition 2", 43008, 8192),
        ("partition", "partition 3", 51200, 8192),
        ("partition", "partition 5", 59392 + MIB_SECTORS, 8192),
        ("partition", "partition 6", 59392 + 2 * MIB_SECTORS + 8192, 8192),
    ]
    assert space.overlaps() == [] and space.headroom() == 16 * MIB_SECTORS
    assert space.attrs["extended"] == f"59392+{end - 59392}"
    p2 = space.find("partition 2")
    assert p2 is not None and p2.source == "dom0.tar" and p2.attrs["role"] == "dom0"
    files = model.spaces[1]
    assert files.size is None and files.attrs["bytes"] == 40960 * 512
    assert [(i.kind, i.name, i.start, i.size, i.sha256) for i in files.items] == [
        ("file", "Image", None, 4000, "ab" * 32), ("file", "boot.scr", None, 1000, None)]
    assert model.detail == disk.to_json()


def test_gpt_disk_has_both_headers() -> None:
    sectors = 100 * MIB_SECTORS
    disk = DiskLayout("d.img", "gpt", sectors * 512, "guid",
                      (_part(1, 2048, 8192, "boot"), _part(2, 10240, 8192)))
    space = disk.to_model().spaces[0]
    # protective MBR + header + 128 entries of 128 bytes (32 sectors); the backup: 32 + 1
    found = {i.name: (i.start, i.size) for i in space.items}
    assert found["gpt primary"] == (0, 34)
    assert found["gpt backup"] == (sectors - 33, 33)
    assert space.overlaps() == [] and space.outside() == []
    assert space.headroom() == 0  # the backup header ends the disk
    assert len(disk.to_model().spaces) == 1  # no partition lists files


def test_model_validates_against_the_schema() -> None:
    disk = DiskLayout("d.img", "dos", 64 * MIB_SECTORS * 512, "0x1",
                      (PartitionLayout(1, "boot", "vfat12", 2048, 8192, "boot", "1-2", None, 3,
                                       files=(("a/b", 3),)),))
    doc = json.loads(json.dumps(disk.to_model().to_json()))
    jsonschema.validate(doc, json.loads(schema_text()))
    assert Layout.from_json(doc).to_json() == doc

"""read_layout: the layout document, and the Xous, Xen and disk documents earlier versions
wrote, all read into the one model; anything else refused naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bootproof.builder.disk.image import DiskLayout, PartitionLayout
from bootproof.builder.errors import FormatError
from bootproof.builder.layout.model import Layout
from bootproof.builder.layout_files import disk_from_json, layout_from_data, read_layout
from bootproof.builder.xen.plan import Module, XenLayout
from bootproof.builder.xous.inspect import inspect_file

FIXTURES = Path(__file__).parents[2] / "fixtures"

XEN = XenLayout(0x40000000, 0x50000000, 0x200000, 0x40200000, (
    Module("dom0-kernel", "Image", 0x40400000, 0x583039, 0x583039, None,
           "/chosen/dom0@40400000", "dom0_linux", "tftpb"),
    Module("domU-kernel", "Image", 0x40A00000, 0x583039, 0x583039, 1,
           "/chosen/domU1/module@40A00000", "domU1_kernel", "tftpb"),
    Module("dtb", "virt.dtb", 0x41000000, 0xE32, 0x1000, None, None, "host_fdt", "tftpb")),
    0x41200000, None, 0x100, {1: 1}, "none", False)
DISK = DiskLayout("disk.img", "dos", 100 * 2048 * 512, "0x1", (
    PartitionLayout(1, "boot", "vfat16", 2048, 40960, "boot", "1-2", "/dev/vda1", 5,
                    files=(("Image", 4), ("boot.scr", 1))),
    PartitionLayout(2, "dom0", "ext4", 43008, 8192, "vos_2", "u", "/dev/vda2", 9,
                    source="dom0.tar")))


def test_earlier_xen_map_reads_as_the_builder_converts_it() -> None:
    old = json.loads(XEN.to_json())  # the --map of earlier versions
    got = layout_from_data(old)
    assert got.to_json() == XEN.to_model().to_json()
    ram = got.space("ram")
    assert ram is not None
    assert [(i.name, i.start, i.size) for i in ram.items] == [
        ("script", 0x40200000, 0x200000), ("dom0-kernel", 0x40400000, 0x583039),
        ("domU1-kernel", 0x40A00000, 0x583039), ("dtb", 0x41000000, 0x1000)]


def test_earlier_disk_json_reads_back_whole() -> None:
    old = json.loads(json.dumps(DISK.to_json()))
    assert disk_from_json(old) == DISK
    got = layout_from_data(old)
    disk = got.space("disk")
    assert disk is not None and [(i.name, i.start, i.size) for i in disk.items] == [
        ("mbr", 0, 1), ("partition 1", 2048, 40960), ("partition 2", 43008, 8192)]
    files = got.space("partition1")
    assert files is not None and [(i.name, i.size) for i in files.items] == [("Image", 4),
                                                                           ("boot.scr", 1)]


def test_files_of_every_kind(tmp_path: Path) -> None:
    xous = inspect_file(FIXTURES / "xous" / "args-default-2020.bin")
    docs = {"xous-old.json": xous.to_json(), "xous-new.json": xous.to_model().to_json(),
            "xen-new.json": XEN.to_model().to_json(), "disk-new.json": DISK.to_model().to_json()}
    for name, doc in docs.items():
        (tmp_path / name).write_text(json.dumps(doc))
    assert read_layout(tmp_path / "xous-old.json") == read_layout(tmp_path / "xous-new.json")
    assert read_layout(tmp_path / "xen-new.json").target == "xen"
    assert read_layout(tmp_path / "disk-new.json") == Layout.from_json(
        json.loads(json.dumps(DISK.to_model().to_json())))


def test_what_is_not_a_layout_is_refused_naming_the_file(tmp_path: Path) -> None:
    cases = {"list.json": "[]", "other.json": '{"format": "something"}',
             "newer.json": json.dumps({**XEN.to_model().to_json(), "version": 2}),
             "broken-map.json": json.dumps({"memory_start": 1, "modules": [{}]}),
             "text.json": "not json"}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(FormatError) as info:
            read_layout(tmp_path / name)
        assert str(tmp_path / name) in str(info.value), name
    with pytest.raises(FormatError) as info:
        read_layout(tmp_path / "newer.json")
    assert "newer than this bootproof reads" in str(info.value) and "2" in str(info.value)

"""XousLayout.to_model(): the args.bin and memory spaces, checked against the file's bytes
walked here with struct (not with the decoder under test)."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import jsonschema
import pytest
from xousargs_helpers import XOUS_FIXTURES

from bootproof.builder.errors import FormatError
from bootproof.builder.layout import AddressRange, NamedRange
from bootproof.builder.layout.model import Layout, schema_text
from bootproof.builder.xous.inspect import inspect_file
from bootproof.builder.xous.layout import XousLayout
from bootproof.builder.xous.layout_parts import Kernel, Program, Section, TagInfo
from bootproof.builder.xous.swap_space import SwapSpace


def _walk_tags(data: bytes) -> list[tuple[str, int, int]]:
    """(fourcc, offset, bytes incl. the 8-byte header) of each tag, from XArg's size."""
    total = struct.unpack_from("<I", data, 8)[0] * 4  # XArg body word 0: the block, in words
    out, pos = [], 0
    while pos < total:
        fourcc = data[pos:pos + 4].decode()
        words = struct.unpack_from("<H", data, pos + 6)[0]
        out.append((fourcc, pos, 8 + 4 * words))
        pos += 8 + 4 * words
    return out


def test_args_bin_space_follows_the_tag_headers_and_the_kernel_tag() -> None:
    path = XOUS_FIXTURES / "args-default-2020.bin"
    data = path.read_bytes()
    model = inspect_file(path).to_model(data=data, source=str(path))
    space = model.space("args.bin")
    assert space is not None and space.unit == "byte"
    # no flash size given: no known end, so no headroom (the padding after the last
    # payload is no room to grow into); the file's size is kept as an attr
    assert (space.start, space.size) == (0, None) and space.headroom() is None
    assert space.attrs["file_size"] == len(data)
    tags = _walk_tags(data)
    assert [t[0] for t in tags] == ["XArg", "MREx", "IniE", "XKrn"]
    for fourcc, offset, size in tags:
        item = space.find(f"tag {fourcc}")
        assert item is not None and (item.start, item.size) == (offset, size)
        assert item.sha256 == hashlib.sha256(data[offset:offset + size]).hexdigest()
    xkrn = next(t for t in tags if t[0] == "XKrn")
    load, _text_va, text_size, _data_va, data_size = struct.unpack_from("<5I", data, xkrn[1] + 8)
    kernel = space.find("kernel")
    assert kernel is not None and (kernel.start, kernel.size) == (load, text_size + data_size)
    assert kernel.sha256 == hashlib.sha256(data[load:load + text_size + data_size]).hexdigest()
    # the one IniE: payload from its load offset, the sum of its section sizes (24 bits)
    inie = next(t for t in tags if t[0] == "IniE")
    iload = struct.unpack_from("<I", data, inie[1] + 8)[0]
    nsec = (inie[2] - 16) // 8
    words = struct.unpack_from(f"<{2 * nsec}I", data, inie[1] + 16)
    payload = sum(w & 0xFFFFFF for w in words[1::2] if not (w >> 24) & 0x02)
    (prog,) = [i for i in space.items if i.kind == "program"]
    assert (prog.name, prog.start, prog.size) == ("pid 2", iload, payload)  # no PNam: by PID
    assert prog.attrs["tag"] == "IniE" and prog.attrs["pid"] == 2
    assert space.overlaps() == [] and space.outside() == []
    assert model.detail == json.loads(json.dumps(inspect_file(path).to_json()))
    assert space.attrs["sha256"] == hashlib.sha256(data).hexdigest()


def test_memory_space_holds_ram_and_every_region() -> None:
    path = XOUS_FIXTURES / "args-default-2020.bin"
    data = path.read_bytes()
    memory = inspect_file(path).to_model().space("memory")
    assert memory is not None and memory.size is None
    # XArg body: words, version, ram start, ram size, ram name
    ram_start, ram_size = struct.unpack_from("<II", data, 16)
    ram = memory.find(data[24:28].decode())
    assert ram is not None and ram.kind == "ram" and (ram.start, ram.size) == (ram_start,
                                                                               ram_size)
    # MREx body: (start, size, name, 0) per region, no count word
    mrex = next(t for t in _walk_tags(data) if t[0] == "MREx")
    count = (mrex[2] - 8) // 16
    for n in range(count):
        start, size = struct.unpack_from("<II", data, mrex[1] + 8 + 16 * n)
        name = data[mrex[1] + 16 + 16 * n:mrex[1] + 20 + 16 * n].decode()
        item = memory.find(name)
        assert item is not None and item.kind == "region" and (item.start, item.size) == (
            start, size)
    assert len(memory.items) == 1 + count


def _hand_layout() -> XousLayout:
    sections = (Section(0x20000000, 0x2000, 0x04, 0x3000), Section(0x20002000, 0x100, 0x01,
                                                                    0x5000),
                Section(0x20003000, 0x400, 0x03, None))
    return XousLayout(
        layout="aligned", arg_size_words=32, file_size=0x9000,
        ram=NamedRange("SrIn", AddressRange(0x40000000, 0x1000000)),
        regions=(NamedRange("SrIn", AddressRange(0x10000000, 0x20000)),),
        tags=(TagInfo(0, "XArg", 0, 5, 0x1111, True), TagInfo(1, "IniE", 0x1C, 6, 2, True),
              TagInfo(2, "IniE", 0x3C, 4, 3, True), TagInfo(3, "XKrn", 0x54, 7, 4, True)),
        programs=(Program("IniE", 2, "shell", 0x3000, 0x20000000, 0x2100, sections),
                  Program("IniE", 3, "shell", 0x6000, 0x20000000, 0x1000, sections[:1])),
        kernel=Kernel(0x1000, 0xFFD00000, 0x1800, 0xFFD80000, 0x40, 0x100, 0xFFD00000),
        debug=False, names={2: "shell", 3: "shell"},
        swap=SwapSpace(NamedRange("Swap", AddressRange(0x80C00000, 0x400000)), 0x21200000,
                       True, 0x3000, (Program("IniS", 4, "", 0x1000, 0x10000, 0x800, ()),)))


def test_repeated_names_get_numbers_and_alignment_follows_the_layout() -> None:
    model = _hand_layout().to_model(flash_size=0x10000)
    space = model.space("args.bin")
    assert space is not None and space.size == 0x10000
    assert space.headroom() == 0x10000 - 0x9000 + (0x9000 - 0x7000)  # highest item ends 0x7000
    names = [i.name for i in space.items]
    assert names == ["tag XArg", "tag IniE", "tag IniE #2", "tag XKrn", "kernel", "shell",
                     "shell #2"]
    assert space.find("kernel").align == 4096  # type: ignore[union-attr]
    assert space.find("shell").attrs["section 2"] == "0x20003000+0x400 WRITE|NOCOPY @-"  # type: ignore[union-attr]
    memory = model.space("memory")
    assert memory is not None
    assert [(i.kind, i.name) for i in memory.items] == [("ram", "SrIn"), ("region", "SrIn #2")]
    swap_ram = model.space("swap")
    assert swap_ram is not None and [(i.kind, i.name, i.start, i.size, dict(i.attrs))
                                     for i in swap_ram.items] == [
        ("swap", "Swap", 0x80C00000, 0x400000, {"flash_offset": 0x21200000, "key_zero": True})]
    swap = model.space("swap args")
    assert swap is not None and swap.size == 0x3000
    assert [(i.name, i.start, i.size) for i in swap.items] == [("pid 4", 0x1000, 0x800)]
    model.validate()


def test_model_validates_against_the_schema_and_reads_back() -> None:
    for name in ("args-default-2020.bin", "args-span-page-2020.bin"):
        path = XOUS_FIXTURES / name
        doc = json.loads(json.dumps(inspect_file(path).to_model(data=path.read_bytes())
                                    .to_json()))
        jsonschema.validate(doc, json.loads(schema_text()))
        assert Layout.from_json(doc).to_json() == doc
    doc = json.loads(json.dumps(_hand_layout().to_model().to_json()))
    jsonschema.validate(doc, json.loads(schema_text()))


def test_a_loader_view_has_no_file_size(tmp_path: Path) -> None:
    lay = _hand_layout()
    from dataclasses import replace
    space = replace(lay, file_size=0).to_model().space("args.bin")
    assert space is not None and space.size is None and space.headroom() is None


def test_map_readers_take_the_new_document_and_the_old_one(tmp_path: Path) -> None:
    lay = inspect_file(XOUS_FIXTURES / "args-default-2020.bin")
    new, old = tmp_path / "new.json", tmp_path / "old.json"
    new.write_text(json.dumps(lay.to_model().to_json()))
    old.write_text(json.dumps(lay.to_json()))  # what --map wrote before the layout model
    assert XousLayout.read(new) == lay and XousLayout.read(old) == lay


def test_map_reader_refuses_a_newer_version_or_another_target(tmp_path: Path) -> None:
    doc = inspect_file(XOUS_FIXTURES / "args-default-2020.bin").to_model().to_json()
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps({**doc, "version": 7}))
    with pytest.raises(FormatError) as info:
        XousLayout.read(newer)
    assert "newer" in str(info.value) and "7" in str(info.value) and str(newer) in str(
        info.value)
    xen = tmp_path / "xen.json"
    xen.write_text(json.dumps({**doc, "target": "xen"}))
    with pytest.raises(FormatError, match="a xen layout, not a xous one"):
        XousLayout.read(xen)

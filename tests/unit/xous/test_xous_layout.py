"""The layout model: flag names, JSON round trip, rejection of malformed JSON."""

from __future__ import annotations

import json

import pytest
from xousargs_helpers import XOUS_FIXTURES

from bootproof.builder.errors import FormatError
from bootproof.builder.xous.inspect import inspect_file
from bootproof.builder.xous.layout import XousLayout
from bootproof.builder.xous.layout_parts import FLAG_NOCOPY, Section, place_sections


def test_flag_names() -> None:
    assert Section(0, 1, 0x1 | 0x4, 0).flag_names == ("WRITE", "EXECUTE")
    assert Section(0, 1, 0x2, None).flag_names == ("NOCOPY",)
    assert Section(0, 1, 0x8 | 0x10, 0).flag_names == ("EH_FRAME", "EH_HEADER")
    assert Section(0, 1, 0, 0).flag_names == ()


def test_json_round_trip_and_types() -> None:
    lay = inspect_file(XOUS_FIXTURES / "args-span-page-2020.bin")
    data = json.loads(json.dumps(lay.to_json()))
    assert data["format"] == "xous-args"
    assert isinstance(data["kernel"]["load_offset"], int)
    assert data["programs"][0]["sections"][-1]["flag_names"] == ["WRITE", "NOCOPY"]
    assert data["programs"][0]["sections"][-1]["file_offset"] is None
    assert set(data) == {"format", "layout", "arg_size_words", "file_size", "ram", "regions",
                         "tags", "programs", "kernel", "debug", "names", "warnings"}
    assert XousLayout.from_json(data) == lay


def test_from_json_rejects_wrong_format() -> None:
    with pytest.raises(FormatError):
        XousLayout.from_json({"format": "something-else"})
    lay = inspect_file(XOUS_FIXTURES / "args-default-2020.bin").to_json()
    lay["kernel"]["entrypoint"] = "0xffd00000"
    with pytest.raises(FormatError):
        XousLayout.from_json(lay)
    del lay["kernel"]
    with pytest.raises(FormatError):
        XousLayout.from_json(lay)


def test_table_mentions_everything() -> None:
    text = inspect_file(XOUS_FIXTURES / "args-default-2020.bin").to_table()
    for word in ("XArg", "MREx", "IniE", "XKrn", "SrEx", "VexD", "0xffd80000", "0x000059fc"):
        assert word in text


def test_place_sections_gives_nocopy_sections_no_payload_bytes() -> None:
    secs = [(0x1000, 0x10, 0), (0x2000, 0x20, FLAG_NOCOPY), (0x3000, 0x8, 0)]
    placed, payload = place_sections(0x100, secs)
    assert [s.file_offset for s in placed] == [0x100, None, 0x110]
    assert [(s.vaddr, s.size, s.flags) for s in placed] == secs
    assert payload == 0x18

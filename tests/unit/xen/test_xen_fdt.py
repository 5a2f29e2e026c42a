"""The DT wrapper: reading /memory, reserved memory and phandles; byte-exact round trips."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool
from xen_testlib import DATA, dtc_compile, dts_text, fdtget_cells, host_dtb

from bootproof.builder.errors import FormatError
from bootproof.builder.formats.fdt import DeviceTree, cells_bytes, strings_bytes
from bootproof.builder.layout import AddressRange, NamedRange

__all__ = ["host_dtb"]


def test_memory_and_reserved(tmp_path: Path) -> None:
    tree = DeviceTree.load(dtc_compile(DATA / "board-reserved.dts", tmp_path / "b.dtb"))
    assert tree.memory() == [NamedRange("/memory@40000000", AddressRange(0x40000000, 0x20000000))]
    assert sorted(tree.reserved(), key=lambda r: r.start) == [
        NamedRange("/reserved-memory/firmware@40400000", AddressRange(0x40400000, 0x100000)),
        NamedRange("/memreserve/", AddressRange(0x40E00000, 0x1000)),
    ]
    # The library's shared default list must not leak entries into the next tree.
    other = DeviceTree.load(dtc_compile(DATA / "passthrough.dts", tmp_path / "p.dtb"))
    assert other.reserved() == []


def test_round_trip_is_the_same_tree(tmp_path: Path, host_dtb: Path) -> None:
    out = tmp_path / "rt.dtb"
    out.write_bytes(DeviceTree.load(host_dtb).to_bytes())
    assert dts_text(out) == dts_text(host_dtb)


def test_phandles_match_fdtget(host_dtb: Path) -> None:
    require_tool("fdtget")
    handles = DeviceTree.load(host_dtb).phandles()
    for ph, path in handles.items():
        assert fdtget_cells(host_dtb, path, "phandle") == [ph]
    r = subprocess.run(["fdtget", "-t", "x", str(host_dtb), "/cpus/cpu@0", "phandle"],
                       capture_output=True, text=True, check=True)
    assert int(r.stdout, 16) in handles


@pytest.mark.parametrize("blob", [b"", b"\xd0\x0d\xfe\xed" + bytes(8), b"junk" * 20])
def test_not_a_dtb(blob: bytes) -> None:
    with pytest.raises(FormatError):
        DeviceTree.from_bytes(blob, path="x.dtb")


def test_truncated(host_dtb: Path) -> None:
    with pytest.raises(FormatError, match="truncated"):
        DeviceTree.from_bytes(host_dtb.read_bytes()[:100])


FDT_PROP, FDT_NOP = 3, 4


def _blocks(blob: bytes) -> tuple[bytes, bytes, bytes]:
    """The memory-reservation, structure and strings blocks of a blob, by its header."""
    off_struct, off_strings, off_rsv = struct.unpack_from(">III", blob, 8)
    size_strings, size_struct = struct.unpack_from(">II", blob, 32)
    return (blob[off_rsv:off_struct], blob[off_struct : off_struct + size_struct],
            blob[off_strings : off_strings + size_strings])


def test_nop_tags_are_skipped(tmp_path: Path) -> None:
    # FDT_NOP is part of the format (libfdt's fdt_nop_property/fdt_nop_node leave it in
    # place of what they remove); every reader must step over it.
    src = tmp_path / "n.dts"
    src.write_text('/dts-v1/;\n/ { gone = <1>; kept = "x"; n { }; };\n')
    blob = bytearray(dtc_compile(src, tmp_path / "n.dtb").read_bytes())
    (off_struct,) = struct.unpack_from(">I", blob, 8)
    prop = off_struct + 8  # after the root's FDT_BEGIN_NODE and its empty name
    assert struct.unpack_from(">II", blob, prop) == (FDT_PROP, 4)  # "gone", one cell
    struct.pack_into(">IIII", blob, prop, FDT_NOP, FDT_NOP, FDT_NOP, FDT_NOP)
    nopped = tmp_path / "nop.dtb"
    nopped.write_bytes(bytes(blob))
    assert "gone" not in dts_text(nopped)  # dtc reads it as the tree without "gone"
    tree = DeviceTree.load(nopped)
    assert tree.prop_names("/") == ["kept"]
    assert tree.children("/") == ["n"]
    out = tmp_path / "out.dtb"
    out.write_bytes(tree.to_bytes())
    assert dts_text(out) == dts_text(nopped)


def test_corrupt_structure_is_a_format_error(tmp_path: Path) -> None:
    blob = bytearray(dtc_compile(DATA / "passthrough.dts", tmp_path / "p.dtb").read_bytes())
    (off_struct,) = struct.unpack_from(">I", blob, 8)
    struct.pack_into(">I", blob, off_struct + 8, 0x77)  # no such tag
    with pytest.raises(FormatError, match="cannot parse device tree"):
        DeviceTree.from_bytes(bytes(blob), path="p.dtb")


def test_edits_leave_the_bytes_libfdt_leaves(tmp_path: Path) -> None:
    """The same edits through fdtput (libfdt, as U-Boot's fdt command) give the same
    structure and strings blocks, so an offline copy is the blob a board ends up with."""
    require_tool("fdtput")
    base = dtc_compile(DATA / "board-reserved.dts", tmp_path / "b.dtb")
    before = base.read_bytes()
    ref = tmp_path / "ref.dtb"
    shutil.copy(base, ref)
    for argv in (
        ["-c", str(ref), "/chosen/domU0"],
        ["-t", "s", str(ref), "/chosen/domU0", "compatible", "xen,domain"],
        ["-t", "x", str(ref), "/chosen/domU0", "memory", "0", "40000"],
        ["-t", "s", str(ref), "/chosen/domU0", "bootargs", "console=ttyAMA0", "quiet"],
        [str(ref), "/chosen/domU0", "direct-map"],
        ["-t", "s", str(ref), "/", "compatible", "a-longer,compatible-string"],
    ):
        subprocess.run(["fdtput", *argv], check=True, capture_output=True)
    tree = DeviceTree.load(base)
    tree.add_node("/chosen", "domU0")
    tree.set("/chosen/domU0", "compatible", strings_bytes(["xen,domain"]))
    tree.set("/chosen/domU0", "memory", cells_bytes([0, 0x40000]))
    tree.set("/chosen/domU0", "bootargs", strings_bytes(["console=ttyAMA0", "quiet"]))
    tree.set("/chosen/domU0", "direct-map", b"")
    tree.set("/", "compatible", strings_bytes(["a-longer,compatible-string"]))
    assert _blocks(tree.to_bytes()) == _blocks(ref.read_bytes())
    assert base.read_bytes() == before  # the input file is never written


def test_version_16_blob_is_edited_as_libfdt_does(tmp_path: Path) -> None:
    require_tool("fdtput")
    v16 = dtc_compile(DATA / "passthrough.dts", tmp_path / "v16.dtb", "-V", "16")
    assert struct.unpack_from(">I", v16.read_bytes(), 20) == (16,)
    ref = tmp_path / "ref.dtb"
    shutil.copy(v16, ref)
    subprocess.run(["fdtput", "-c", str(ref), "/chosen"], check=True, capture_output=True)
    tree = DeviceTree.load(v16)
    tree.add_node("/", "chosen")
    out = tmp_path / "out.dtb"
    out.write_bytes(tree.to_bytes())
    assert struct.unpack_from(">I", out.read_bytes(), 20) == (17,)
    assert dts_text(out) == dts_text(ref)


def test_reads_after_edits_earlier_in_the_tree(tmp_path: Path) -> None:
    # Node lookups are remembered; an edit before a node moves it, and reads must follow.
    src = tmp_path / "t.dts"
    src.write_text('/dts-v1/;\n/ { a { }; b { p = "b"; c { q = <7>; }; }; };\n')
    tree = DeviceTree.load(dtc_compile(src, tmp_path / "t.dtb"))
    assert tree.strings("/b", "p") == ["b"] and tree.cells("/b/c", "q") == [7]
    tree.set("/a", "long", bytes(64))
    tree.add_node("/a", "x")
    tree.set("/", "r", b"\x01")
    assert tree.strings("/b", "p") == ["b"] and tree.cells("/b/c", "q") == [7]
    tree.set("/b/c", "q", cells_bytes([8, 9]))
    tree.add_node("/b", "d")
    assert list(tree.walk()) == ["/", "/a", "/a/x", "/b", "/b/d", "/b/c"]
    assert tree.cells("/b/c", "q") == [8, 9] and tree.get("/a", "long") == bytes(64)

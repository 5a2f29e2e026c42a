"""The DT wrapper: reading /memory, reserved memory and phandles; byte-exact round trips."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import require_tool
from xen_testlib import DATA, dtc_compile, dts_text, fdtget_cells, host_dtb

from bootproof.builder.errors import FormatError
from bootproof.builder.formats.fdt import DeviceTree, MemRange

__all__ = ["host_dtb"]


def test_memory_and_reserved(tmp_path: Path) -> None:
    tree = DeviceTree.load(dtc_compile(DATA / "board-reserved.dts", tmp_path / "b.dtb"))
    assert tree.memory() == [MemRange(0x40000000, 0x20000000, "/memory@40000000")]
    assert sorted(tree.reserved(), key=lambda r: r.base) == [
        MemRange(0x40400000, 0x100000, "/reserved-memory/firmware@40400000"),
        MemRange(0x40E00000, 0x1000, "/memreserve/"),
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

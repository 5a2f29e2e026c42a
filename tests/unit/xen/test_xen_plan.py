"""Address planning: the reference's worked example and the checks it lacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from xen_testlib import RUN04_CONFIG as CI_CONFIG
from xen_testlib import RUN04_SIZES as SIZES

from bootproof.builder.errors import LayoutError, OverflowError_, OverlapError
from bootproof.builder.layout import AddressRange
from bootproof.builder.xen.config import load_config
from bootproof.builder.xen.plan import FileInfo, plan


def load(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    p = tmp_path / "config"
    p.write_text(text)
    return load_config(p, env={})


def test_reference_worked_example(tmp_path: Path) -> None:
    layout = plan(load(tmp_path, CI_CONFIG), SIZES)
    assert layout.script_addr == 0x40200000
    got = [(m.role, m.file, m.addr, m.size) for m in layout.modules]
    assert got == [
        ("dom0-kernel", "Image", 0x40400000, 0x583039),
        ("dom0-ramdisk", "dom0-rootfs.cpio.gz", 0x40A00000, 0x301595),
        ("domU-kernel", "Image", 0x40E00000, 0x583039),
        ("domU-ramdisk", "initrd", 0x41400000, 0x100512),
        ("xen", "xen", 0x41600000, 0x108A08),
        ("dtb", "virt.dtb", 0x41800000, 0xE32),
    ]
    assert layout.end == 0x41A00000
    assert layout.find("domU-kernel", 0).dt_node == "/chosen/domU0/module@40E00000"  # type: ignore[union-attr]
    assert layout.domids == {0: 1}


def test_arm64_header_size_wins_when_larger(tmp_path: Path) -> None:
    sizes = dict(SIZES, Image=FileInfo(0x583039, 0x700000))
    layout = plan(load(tmp_path, CI_CONFIG), sizes)
    k = layout.find("dom0-kernel")
    assert k is not None and k.size == 0x700000
    assert layout.find("dom0-ramdisk").addr == 0x40C00000  # type: ignore[union-attr]


def test_script_floor_and_alignment(tmp_path: Path) -> None:
    text = CI_CONFIG.replace("MEMORY_START=0x40000000", "MEMORY_START=0x0").replace(
        "MEMORY_END=0x50000000", "MEMORY_END=0x20000000")
    layout = plan(load(tmp_path, text), SIZES)
    assert layout.script_addr == 0xC00000 and layout.modules[0].addr == 0xE00000
    layout = plan(load(tmp_path, CI_CONFIG + "ADDRESS_ALIGN=0x100000\n"), SIZES)
    assert [m.addr for m in layout.modules][:3] == [0x40200000, 0x40800000, 0x40C00000]


def test_overflow_is_caught_before_writing(tmp_path: Path) -> None:
    text = CI_CONFIG.replace("MEMORY_END=0x50000000", "MEMORY_END=0x41A00000")
    with pytest.raises(OverflowError_, match="not enough memory"):
        plan(load(tmp_path, text), SIZES)
    # Exactly enough: last aligned end 0x41A00000 plus the 2 MiB tail.
    text = CI_CONFIG.replace("MEMORY_END=0x50000000", "MEMORY_END=0x41C00000")
    assert plan(load(tmp_path, text), SIZES).end == 0x41A00000


def test_fit_check_does_not_double_absolute_addresses(tmp_path: Path) -> None:
    # The reference needs MEMORY_END >= 2*(end + 2 MiB) = 0x83800000 here and fails.
    text = CI_CONFIG.replace("MEMORY_END=0x50000000", "MEMORY_END=0x80000000")
    layout = plan(load(tmp_path, text), SIZES, fit=True)
    assert layout.fit_addr == 0x41A00000


def test_fit_needs_32_bit_addresses(tmp_path: Path) -> None:
    text = CI_CONFIG.replace("MEMORY_START=0x40000000", "MEMORY_START=0x8_0000_0000").replace(
        "MEMORY_END=0x50000000", "MEMORY_END=0x900000000")
    text = text.replace("0x8_0000_0000", "0x800000000")
    assert plan(load(tmp_path, text), SIZES).script_addr == 0x800200000
    with pytest.raises(LayoutError, match="32-bit"):
        plan(load(tmp_path, text), SIZES, fit=True)


def test_reserved_memory_is_skipped(tmp_path: Path) -> None:
    reserved = [(AddressRange(0x40A00000, 0x300000), "/reserved-memory/fw@40a00000")]
    layout = plan(load(tmp_path, CI_CONFIG), SIZES, reserved=reserved)
    rd = layout.find("dom0-ramdisk")
    assert rd is not None and rd.addr == 0x40E00000
    for m in layout.modules:
        assert m.end <= 0x40A00000 or m.addr >= 0x40D00000


def test_script_slot_on_reserved_memory(tmp_path: Path) -> None:
    with pytest.raises(OverlapError, match="reserved-memory/x"):
        plan(load(tmp_path, CI_CONFIG), SIZES,
             reserved=[(AddressRange(0x40300000, 0x1000), "/reserved-memory/x")])


def test_static_memory_and_heap_are_kept_clear(tmp_path: Path) -> None:
    text = CI_CONFIG + 'XEN_STATIC_HEAP="0x40E00000 0x600000"\n'
    layout = plan(load(tmp_path, text), SIZES)
    assert layout.find("domU-kernel", 0).addr == 0x41400000  # type: ignore[union-attr]


def test_outside_device_tree_memory(tmp_path: Path) -> None:
    with pytest.raises(LayoutError, match="outside the device tree's /memory"):
        plan(load(tmp_path, CI_CONFIG), SIZES, ram=[AddressRange(0x40000000, 0x1000000)])
    plan(load(tmp_path, CI_CONFIG), SIZES, ram=[AddressRange(0x40000000, 0x80000000)])


def test_dtb_span_includes_resize_room(tmp_path: Path) -> None:
    text = CI_CONFIG + "BITSTREAM=bit.bin\n"
    sizes = dict(SIZES, **{"bit.bin": FileInfo(0x1000)})
    sizes["virt.dtb"] = FileInfo(0x1FF000, 0, 0x1FF000)
    layout = plan(load(tmp_path, text), sizes, dtb_extra=0x2000)
    dtb, bit = layout.find("dtb"), layout.find("bitstream")
    assert dtb is not None and bit is not None
    assert dtb.span == 0x201000 and bit.addr == dtb.addr + 0x400000


def test_map_json(tmp_path: Path) -> None:
    doc = json.loads(plan(load(tmp_path, CI_CONFIG), SIZES).to_json())
    mods = {(m["role"], m["domu"]): m for m in doc["modules"]}
    assert mods[("domU-ramdisk", 0)]["addr"] == 0x41400000
    assert mods[("domU-ramdisk", 0)]["dt_node"] == "/chosen/domU0/module@41400000"
    assert mods[("dtb", None)]["file"] == "virt.dtb"
    assert doc["script_addr"] == 0x40200000 and doc["domids"] == {"domU0": 1}

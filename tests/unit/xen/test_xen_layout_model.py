"""XenLayout.to_model(): the ram space of the reference's worked example (addresses from
the spec's run, by hand), reserved regions, the FIT blob, -s mode and the schema."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jsonschema
from xen_testlib import RUN04_CONFIG as CONFIG
from xen_testlib import RUN04_SIZES as SIZES

from bootproof.builder.layout import AddressRange
from bootproof.builder.layout.model import Layout, schema_text
from bootproof.builder.xen.config import load_config
from bootproof.builder.xen.plan import plan

MIB2 = 0x200000


def _cfg(tmp_path: Path, text: str = CONFIG):  # type: ignore[no-untyped-def]
    p = tmp_path / "config"
    p.write_text(text)
    return load_config(p, env={})


def test_worked_example_items(tmp_path: Path) -> None:
    dtb = b"\xd0\x0d\xfe\xed" + bytes(0xE2E)
    model = plan(_cfg(tmp_path), SIZES).to_model(outputs={"virt.dtb": dtb, "boot.scr": b"s"},
                                                  script="boot.scr")
    assert model.target == "xen" and [s.name for s in model.spaces] == ["ram"]
    ram = model.spaces[0]
    assert (ram.unit, ram.start, ram.size) == ("byte", 0x40000000, 0x10000000)
    got = [(i.kind, i.name, i.start, i.size, i.align, i.source) for i in ram.items]
    # the DTB occupies 4 KiB-rounded room (0xE32 -> 0x1000) for its fdt resize
    assert got == [
        ("script", "script", 0x40200000, MIB2, MIB2, "boot.scr"),
        ("dom0-kernel", "dom0-kernel", 0x40400000, 0x583039, MIB2, "Image"),
        ("dom0-ramdisk", "dom0-ramdisk", 0x40A00000, 0x301595, MIB2, "dom0-rootfs.cpio.gz"),
        ("domU-kernel", "domU0-kernel", 0x40E00000, 0x583039, MIB2, "Image"),
        ("domU-ramdisk", "domU0-ramdisk", 0x41400000, 0x100512, MIB2, "initrd"),
        ("xen", "xen", 0x41600000, 0x108A08, MIB2, "xen"),
        ("dtb", "dtb", 0x41800000, 0x1000, MIB2, "virt.dtb"),
    ]
    dtb_item = ram.find("dtb")
    assert dtb_item is not None and dtb_item.attrs["reg_size"] == 0xE32
    assert dtb_item.sha256 == hashlib.sha256(dtb).hexdigest()
    assert ram.find("script").sha256 == hashlib.sha256(b"s").hexdigest()  # type: ignore[union-attr]
    assert ram.find("dom0-kernel").sha256 is None  # type: ignore[union-attr]  # never read whole
    assert ram.find("domU0-kernel").attrs["dt_node"] == "/chosen/domU0/module@40E00000"  # type: ignore[union-attr]
    assert ram.headroom() == 0x50000000 - 0x41801000
    assert ram.overlaps() == [] and ram.outside() == []
    assert model.detail == json.loads(plan(_cfg(tmp_path), SIZES).to_json())


def test_reserved_regions_and_static_heap_are_items(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, CONFIG + 'XEN_STATIC_HEAP="0x40E00000 0x600000"\n')
    reserved = [(AddressRange(0x4F000000, 0x100000), "/reserved-memory/fw@4f000000"),
                (AddressRange(0x4F800000, 0x1000), "/reserved-memory/fw@4f000000")]
    ram = plan(cfg, SIZES, reserved=reserved).to_model().spaces[0]
    got = [(i.name, i.start, i.size) for i in ram.items if i.kind == "reserved"]
    assert got == [("/reserved-memory/fw@4f000000", 0x4F000000, 0x100000),
                   ("/reserved-memory/fw@4f000000 #2", 0x4F800000, 0x1000),
                   ("XEN_STATIC_HEAP", 0x40E00000, 0x600000)]
    assert ram.overlaps() == []  # the planner kept every module clear of them


def test_fit_blob_room(tmp_path: Path) -> None:
    ram = plan(_cfg(tmp_path), SIZES, fit=True).to_model(outputs={"boot.fit": b"x" * 100},
                                                        fit="boot.fit").spaces[0]
    fit = ram.find("fit")
    payload = 0x583039 * 2 + 0x301595 + 0x100512 + 0x108A08 + 0xE32
    room = -(-(payload + 0x10000) // MIB2) * MIB2
    assert fit is not None and (fit.start, fit.size) == (0x41A00000, room)
    assert fit.attrs["bytes"] == 100 and fit.source == "boot.fit"


def test_calc_mode_has_no_addresses(tmp_path: Path) -> None:
    ram = plan(_cfg(tmp_path), {}, calc=True).to_model().spaces[0]
    modules = [i for i in ram.items if i.kind not in ("script", "reserved")]
    assert modules and all(i.start is None and i.attrs["placeholder"] is True
                           for i in modules)


def test_model_validates_against_the_schema(tmp_path: Path) -> None:
    for fit in (False, True):
        model = plan(_cfg(tmp_path), SIZES, fit=fit,
                     reserved=[(AddressRange(0x4F000000, 0x1000), "/memreserve/0")]).to_model()
        doc = json.loads(json.dumps(model.to_json()))
        jsonschema.validate(doc, json.loads(schema_text()))
        assert Layout.from_json(doc).to_json() == doc

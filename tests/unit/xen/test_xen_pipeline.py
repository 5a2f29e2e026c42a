"""The generator's pipeline steps, each called alone, and the load line it returns as data.

Expected values are written by hand from the config (MEMORY_START 0x40000000, 2 MiB
alignment: the script slot at 0x40200000) or checked against an independent reading
(the DTB read back from its bytes), never copied from the generator's own output.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import require_tool
from xen_testlib import (
    DOM0,
    EPOCH,
    HEAD,
    TWO_DOMUS,
    Gen,
    fdtget_strings,
    gen,
    host_dtb,
    work,
)

from bootproof.builder.errors import ConfigError
from bootproof.builder.formats.fdt import DeviceTree
from bootproof.builder.xen.config import load_config
from bootproof.builder.xen.config.overrides import with_overrides
from bootproof.builder.xen.dt_edits import build_edits
from bootproof.builder.xen.generator import check_config, check_inputs, generate, place
from bootproof.builder.xen.host_dtb import edited_dtb, load_host_dtb
from bootproof.builder.xen.script import LoadLine
from bootproof.builder.xen.steps import GenerateOptions

__all__ = ["gen", "host_dtb", "work"]


def test_result_carries_the_load_line(gen: Gen) -> None:
    res = gen(DOM0, load_cmd="sd", prefix="/boot/")
    assert res.load_line == LoadLine("load mmc 0:1", 0x40200000, "/boot/boot.scr")
    assert str(res.load_line) == "load mmc 0:1 0x40200000 /boot/boot.scr; source 0x40200000"
    assert res.hints[1] == str(res.load_line)  # the hint prints the same line


def test_fit_load_line_sources_the_script_inside(gen: Gen) -> None:
    require_tool("mkimage")
    res = gen(TWO_DOMUS, output="boot", fit=True)
    line = res.load_line
    assert line.fit and line.file == "boot.fit" and line.load_cmd == "tftpb"
    assert line.addr == res.layout.fit_addr
    assert str(line) == f"tftpb 0x{line.addr:x} boot.fit; source 0x{line.addr:x}:boot_scr"


def test_check_config_names_the_missing_setting(work: Path) -> None:
    (work / "config").write_text(HEAD.replace("LOAD_CMD=tftpb\n", "") + DOM0)
    cfg = load_config(work / "config", env={})
    with pytest.raises(ConfigError) as info:
        check_config(cfg, GenerateOptions())
    assert info.value.field == "LOAD_CMD"
    req = check_config(with_overrides(cfg, load_cmd="tftp"), GenerateOptions())
    assert (req.load_cmd, req.uboot_script, req.device_tree) == ("tftpb", "boot.scr",
                                                                 "virt.dtb")


def test_steps_alone_give_a_settled_placement(work: Path) -> None:
    (work / "config").write_text(HEAD + TWO_DOMUS + "FDTEDIT=virt-edited.dtb\n")
    cfg = load_config(work / "config", env={})
    files = check_inputs(cfg, work)
    assert files["Image"].size == (work / "Image").stat().st_size
    assert files["Image"].image_size == 0x700000  # from the arm64 Image header
    host = load_host_dtb(cfg, work, merge_overlays=None)
    placed = place(cfg, files, host)
    # settled: the layout's own edits are the ones returned
    assert list(placed.edits) == build_edits(cfg, placed.layout, host.tree)
    assert placed.layout.script_addr == 0x40200000
    # the offline copy holds the edits; the tree it came from is unchanged
    assert placed.edited_dtb is not None
    copy = DeviceTree.from_bytes(placed.edited_dtb)
    assert "domU0" in copy.children("/chosen")
    assert "domU0" not in host.tree.children("/chosen")
    assert edited_dtb(None, placed.edits) is None
    assert not (work / "boot.scr").exists()  # no step before writing writes anything



def test_relative_directory_with_merged_overlays(work: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """``-d`` typed relative to the working directory: fdtoverlay runs elsewhere."""
    require_tool("fdtoverlay")
    (work / "config").write_text(HEAD + DOM0 + "NUM_DT_OVERLAY=1\nDT_OVERLAY[0]=ovl.dtbo\n")
    monkeypatch.chdir(work.parent)
    cfg = load_config(Path(work.name) / "config", env={})
    res = generate(cfg, Path(work.name), GenerateOptions(env=EPOCH, merge_overlays=True))
    dtb = res.layout.find("dtb")
    assert dtb is not None and dtb.file == "virt-overlays.dtb"
    assert fdtget_strings(work / "virt-overlays.dtb", "/bootproof-test", "compatible") == [
        "bootproof,overlay-test"]

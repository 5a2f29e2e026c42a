"""The ``-s`` layout check and storage loads: console excerpts in the format U-Boot 2023.01
prints, layouts written by hand."""

from __future__ import annotations

from pathlib import Path

from bootproof.builder.xen import LoadLine, Module, XenLayout
from bootproof.harness.core.boards import load_board
from bootproof.harness.core.errors import layout_differences
from bootproof.harness.xen.flow import boot_argv, typed_line
from bootproof.harness.xen.generated import (
    Generated,
    expected_layout,
    runtime_layout,
    runtime_variables,
)
from bootproof.harness.xen.parsers import printed_variables, report_model, reported_layout

PRINTENV = """\
dom0_linux_addr=0x40400000
dom0_linux_size=1000
dom0_ramdisk_addr=40600000
dom0_ramdisk_size=200001
host_kernel_addr=40a00000
host_kernel_size=f0000
"""


def _gen(tmp: Path, sizes: dict[str, int], modules: list[Module],
         calc: bool = True) -> Generated:
    for name, size in sizes.items():
        (tmp / name).write_bytes(bytes(size))
    layout = XenLayout(memory_start=0x40000000, memory_end=0x80000000, align=0x200000,
                       script_addr=0x40200000, modules=tuple(modules), end=0,
                       fit_addr=None, dtb_extra=0, domids={}, calc=calc)
    return Generated(config=None, config_path=tmp / "c", directory=tmp,  # type: ignore[arg-type]
                     layout=layout, load=LoadLine("tftpb", 0x40200000, "boot.scr"), output="")


def _m(role: str, file: str, name: str, load: str = "tftpb") -> Module:
    # -s placeholders: every file counts 2 MiB (the real values come from U-Boot)
    return Module(role, file, 0, 0x200000, 0x200000, None, None, name, load)


MODULES = [_m("dom0-kernel", "Image", "dom0_linux"),
           _m("dom0-ramdisk", "rd", "dom0_ramdisk"), _m("xen", "xen", "host_kernel")]


def test_printed_variables_with_and_without_0x() -> None:
    got = printed_variables("=> \n" + PRINTENV + "## Booting\n")
    assert got["dom0_linux_addr"] == 0x40400000 and got["dom0_ramdisk_addr"] == 0x40600000
    assert got["dom0_ramdisk_size"] == 0x200001


def test_runtime_layout_keeps_the_rules(tmp_path: Path) -> None:
    gen = _gen(tmp_path, {"Image": 0x1000, "rd": 0x200001, "xen": 0xF0000}, MODULES)
    assert runtime_variables(gen.layout)[:2] == ["dom0_linux_addr", "dom0_linux_size"]
    layout, problems = runtime_layout(gen, printed_variables(PRINTENV))
    assert problems == []
    assert [(m.addr, m.size) for m in layout.modules] == [
        (0x40400000, 0x1000), (0x40600000, 0x200001), (0x40A00000, 0xF0000)]
    assert expected_layout(gen, layout)["load 4: xen @"] == 0x40A00000


def test_runtime_layout_names_each_broken_rule(tmp_path: Path) -> None:
    gen = _gen(tmp_path, {"Image": 0x1000, "rd": 0x200000, "xen": 0xF0000}, MODULES)
    bad = (PRINTENV.replace("dom0_ramdisk_addr=40600000", "dom0_ramdisk_addr=40401000")
           .replace("host_kernel_size=f0000", ""))
    _, problems = runtime_layout(gen, printed_variables(bad))
    assert any("dom0_ramdisk_addr=0x40401000 is not 2 MiB aligned" in p for p in problems)
    assert any("expected 0x40600000" in p for p in problems)
    assert any("dom0_ramdisk_size=0x200001, but rd has 0x200000" in p for p in problems)
    assert any(p.startswith("host_kernel: U-Boot did not print") for p in problems)


def test_storage_loads_are_checked_by_size(tmp_path: Path) -> None:
    """Modules loaded with ``load virtio 0:1`` report ``N bytes read``; TFTP keeps its
    own numbering."""
    mods = [_m("dom0-kernel", "Image", "dom0_linux", "load virtio 0:1"),
            _m("xen", "xen", "host_kernel")]
    mods[1] = Module("xen", "xen", 0x40800000, 0xF0000, 0xF0000, None, None, "host_kernel",
                     "tftpb")
    gen = _gen(tmp_path, {"Image": 0x1234, "xen": 0xF0000}, mods, calc=False)
    expected = expected_layout(gen)
    assert expected == {"load 1: boot.scr @": 0x40200000, "disk read 1: bytes": 0x1234,
                        "load 2: xen @": 0x40800000, "d0 kernel module @": 0}
    del expected["d0 kernel module @"]  # Xen's own report, not in this U-Boot excerpt
    log = ("Filename 'boot.scr'.\nLoad address: 0x40200000\nLoading: #\n"
           "Bytes transferred = 100 (64 hex)\n4660 bytes read in 3 ms (1.5 MiB/s)\n"
           "Filename 'xen'.\nLoad address: 0x40800000\nLoading: #\n"
           "Bytes transferred = 983040 (f0000 hex)\n")
    assert layout_differences(report_model(expected),
                              report_model(reported_layout(log, xen=False))) == []


def test_disk_is_attached_and_scanned(tmp_path: Path) -> None:
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(512))
    bios = tmp_path / "u-boot.bin"
    bios.write_bytes(b"")
    argv = boot_argv(load_board("aarch64-virt"), tmp_path, bios=bios, disk=disk)
    assert f"if=none,format=raw,readonly=on,file={disk},id=hd0" in argv
    assert "virtio-blk-pci,drive=hd0,romfile=" in argv
    gen = _gen(tmp_path, {}, [], calc=False)
    assert typed_line(gen, disk=True).startswith("virtio scan; setenv autoload no;")
    assert not typed_line(gen).startswith("virtio scan")


def test_calc_generation_prints_every_variable_in_short_commands(tmp_path: Path) -> None:
    """U-Boot 2023.01 refuses a command of more than 16 words (it printed printenv's usage
    in a real boot): the harness's printenv lines carry at most 8 names, all of them, after
    the config's own APPEND_EXTRA_CMDS and right before the boot command."""
    from bootproof.harness.xen.generated import generate

    (tmp_path / "extra.txt").write_text("echo mine")
    lines = ["MEMORY_START=0x40000000", "MEMORY_END=0x80000000", "DEVICE_TREE=virt.dtb",
             "XEN=xen", "DOM0_KERNEL=Image", "NUM_DOMUS=3", "APPEND_EXTRA_CMDS=extra.txt",
             "UBOOT_SOURCE=boot.source"]
    lines += [f"DOMU_KERNEL[{i}]=Image\nDOMU_RAMDISK[{i}]=rd" for i in range(3)]
    (tmp_path / "config").write_text("\n".join(lines) + "\n")
    gen = generate(tmp_path / "config", tmp_path, calc=True)
    source = (tmp_path / "boot.source").read_text().splitlines()
    prints = [ln for ln in source if ln.startswith("printenv ")]
    assert all(len(ln.split()) <= 9 for ln in prints)
    assert [w for ln in prints for w in ln.split()[1:]] == runtime_variables(gen.layout)
    assert len(runtime_variables(gen.layout)) == 2 * (1 + 6 + 2)
    end = source.index(prints[-1])
    assert source[end - len(prints)] == "echo mine"
    assert source[end + 1] == "booti ${host_kernel_addr} - ${host_fdt_addr}"

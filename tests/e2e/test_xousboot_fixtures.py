"""The two real 2020 args.bin files boot in report-only mode: the loader model validates
them, lays them out and reports the jump, without starting their (real) kernel."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import FIXTURES, require_tool

from bootproof.builder.xous.inspect import inspect_file
from bootproof.harness.xous.flow import boot_args

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("name", ["args-default-2020.bin", "args-span-page-2020.bin"])
def test_real_image_report_only(tmp_path: Path, name: str) -> None:
    require_tool("riscv64-unknown-elf-gcc", "qemu-system-riscv32")
    path = FIXTURES / "xous" / name
    expected = inspect_file(path)
    result = boot_args(path, log_dir=tmp_path, expected_layout=expected,
                       cache_dir=tmp_path / "guests")
    assert result.report_only
    assert result.stage_names == ("loader", "validated", "layout", "report-only")
    assert result.exitcode == 0
    assert result.markers == ()
    # Hand-checked facts of the 2020 fixtures (spec §1.6): RAM SrEx 0x40000000 + 16 MiB,
    # legacy layout with the first payload right after the tag block.
    assert (result.layout.ram.name, result.layout.ram.start, result.layout.ram.size) == (
        "SrEx", 0x40000000, 0x01000000)
    assert result.layout.programs[0].load_offset == result.layout.arg_size_words * 4
    assert result.layout.layout == "legacy"
    # The jump: the kernel's entry, the kernel stack below 0xfff80000 and the args copy in
    # the kernel-structures megapage at 0xffc00000.
    assert result.jump.entry == expected.kernel.entrypoint == 0xFFD00000
    assert result.jump.sp == 0xFFF80000 - 16
    assert 0xFFC00000 <= result.jump.kargs < 0xFFD00000
    # satp: Sv32 mode, ASID 1, root table inside the image's RAM.
    assert result.jump.satp >> 31 == 1
    assert (result.jump.satp >> 22) & 0x1FF == 1
    root = (result.jump.satp & 0x3FFFFF) << 12
    assert 0x40000000 <= root < 0x41000000
    log = result.log_path.read_text()
    assert "report only" in log
    assert "BOOTPROOF TEST KERNEL" not in log

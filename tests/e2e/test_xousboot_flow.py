"""End to end: build args.bin with the builder, boot it under the loader model, and check
the loader's view against the builder's layout report, the kernel and every init program."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import elf_section, require_tool
from elftools.elf.elffile import ELFFile

from bootproof.builder.xous.layout import XousLayout
from bootproof.harness.core.errors import BadPattern, LayoutMismatch, UnexpectedExit
from bootproof.harness.xous.example import Example, build_example
from bootproof.harness.xous.flow import KERNEL_BANNER, boot_args

pytestmark = pytest.mark.e2e


def fnv1a_sections(elf: Path) -> int:
    """What an init program must report: FNV-1a 32 over .text, .rodata, .data (ELF bytes)."""
    h = 0x811C9DC5
    with elf.open("rb") as f:
        ef = ELFFile(f)
        for name in (".text", ".rodata", ".data"):
            for byte in elf_section(ef, name).data():
                h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


@pytest.fixture(scope="module")
def guest_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tool("riscv64-unknown-elf-gcc", "qemu-system-riscv32")
    return tmp_path_factory.mktemp("guests")


@pytest.mark.parametrize("count", [1, 8])
@pytest.mark.parametrize("memory", ["csv", "svd"])
def test_boot_matches_builder_layout(tmp_path: Path, guest_cache: Path, memory: str,
                                     count: int) -> None:
    example = build_example(tmp_path / "img", count=count, memory=memory,
                            cache_dir=guest_cache)
    expected = XousLayout.from_json(json.loads(example.map_json.read_text()))
    assert len(expected.programs) == count

    result = boot_args(example.args_bin, log_dir=tmp_path / "logs",
                       expected_layout=expected, cache_dir=guest_cache)

    assert not result.report_only
    assert result.exitcode == 0
    assert result.stage_names[:5] == ("loader", "validated", "layout", "kernel", "kernel-data")
    assert result.stage_names[-1] == "power-off"
    assert KERNEL_BANNER in result.log_path.read_text()
    # The loader model's parsed view equals the builder's report field by field.
    assert result.layout.tags == expected.tags
    assert result.layout.programs == expected.programs
    assert result.layout.kernel == expected.kernel
    assert result.layout.regions == expected.regions
    assert result.layout.ram == expected.ram
    # The kernel walked the same tags through the args copy the loader gave it.
    assert result.kernel_tags == tuple((t.tag, t.size_words) for t in expected.tags)
    assert result.jump.entry == expected.kernel.entrypoint
    # Every init program ran in PID order and reported the checksum of its own ELF.
    programs = example.programs
    assert [(m.pid, m.name) for m in result.markers] == [
        (pid, elf.stem) for pid, elf in enumerate(programs, start=2)]
    for marker, elf in zip(result.markers, programs, strict=True):
        assert marker.checksum == fnv1a_sections(elf), f"PID {marker.pid} ({elf.name})"
    # Each program ran under its own Sv32 address space: ASID = PID, distinct root tables.
    started = re.findall(r"KERNEL: starting PID (\d+) \((\S+)\) satp=([0-9a-f]{8})",
                         result.log_path.read_text())
    assert [int(pid) for pid, _, _ in started] == list(range(2, count + 2))
    satps = [int(satp, 16) for _, _, satp in started]
    assert all(s >> 31 == 1 and (s >> 22) & 0x1FF == pid
               for pid, s in enumerate(satps, start=2))
    assert len({s & 0x3FFFFF for s in satps}) == count


def test_both_kinds_of_program_in_the_8_program_image(tmp_path: Path, guest_cache: Path) -> None:
    example: Example = build_example(tmp_path, count=8, cache_dir=guest_cache)
    layout = example.expected_layout()
    kinds = [p.kind for p in layout.programs]
    assert kinds.count("IniF") == 2 and kinds.count("IniE") == 6
    # A multi-page program: some section spans more than one page.
    assert any(s.size > 2 * 4096 for p in layout.programs for s in p.sections)


def test_layout_difference_is_reported_field_by_field(tmp_path: Path,
                                                       guest_cache: Path) -> None:
    example = build_example(tmp_path / "img", count=1, cache_dir=guest_cache)
    data = json.loads(example.map_json.read_text())["detail"]
    data["programs"][0]["sections"][1]["vaddr"] += 4
    data["kernel"]["bss_size"] += 8
    wrong = XousLayout.from_json(data)
    with pytest.raises(LayoutMismatch) as info:
        boot_args(example.args_bin, log_dir=tmp_path / "logs", expected_layout=wrong,
                  cache_dir=guest_cache)
    diffs = info.value.differences
    assert len(diffs) == 2
    assert any(d.startswith("args.bin ") and ": section 1: expected '" in d for d in diffs)
    assert any(d.startswith("args.bin kernel: bss: expected '") for d in diffs)


def test_missing_expectation_fails_the_boot(tmp_path: Path, guest_cache: Path) -> None:
    example = build_example(tmp_path / "img", count=1, cache_dir=guest_cache)
    boot_args(example.args_bin, log_dir=tmp_path / "ok", expectations=["INIT init1_small"],
              cache_dir=guest_cache)
    with pytest.raises(UnexpectedExit) as info:
        boot_args(example.args_bin, log_dir=tmp_path / "bad",
                  expectations=["INIT init1_small", "no guest prints this"],
                  cache_dir=guest_cache)
    assert info.value.missing == ["no guest prints this"]


def test_cli_boot_exit_status(tmp_path: Path, guest_cache: Path,
                              monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    from bootproof.harness.cli import main

    monkeypatch.setenv("BOOTPROOF_CACHE", str(guest_cache))
    example = build_example(tmp_path / "img", count=3, cache_dir=guest_cache / "guests")
    status = main(["xous", "boot", str(example.args_bin), "--map", str(example.map_json),
                   "--expect", "INIT init3_xip", "--log-dir", str(tmp_path / "l1")])
    out = capsys.readouterr().out
    assert status == 0
    assert "[ok] layout" in out and "[ok] power-off" in out
    assert (tmp_path / "l1" / "xous-boot.serial.log").is_file()
    status = main(["xous", "boot", str(example.args_bin), "--expect", "never printed",
                   "--log-dir", str(tmp_path / "l2")])
    assert status == 1
    assert "never printed" in capsys.readouterr().err


def test_demo(tmp_path: Path, guest_cache: Path, monkeypatch: pytest.MonkeyPatch,
              capsys: pytest.CaptureFixture[str]) -> None:
    from bootproof.harness.demo import xous_example

    monkeypatch.setenv("BOOTPROOF_CACHE", str(guest_cache))
    assert xous_example(tmp_path) == 0
    out = capsys.readouterr().out
    assert out.count("[ok] checksum") == 3


def test_debug_flag_reaches_the_loader(tmp_path: Path, guest_cache: Path) -> None:
    example = build_example(tmp_path / "img", count=1, debug=True, cache_dir=guest_cache)
    expected = example.expected_layout()
    assert expected.debug
    result = boot_args(example.args_bin, log_dir=tmp_path / "logs", expected_layout=expected,
                       cache_dir=guest_cache)
    assert result.layout.debug
    assert "Bflg" in [t.tag for t in result.layout.tags]
    assert "Boot flags: 00000004" in result.log_path.read_text()


def test_legacy_build_boots_and_matches_its_map(tmp_path: Path, guest_cache: Path) -> None:
    # The 2020 layout (payloads packed after the tag block, no PNam): the loader model reads
    # no process names, and the builder's --map must say the same.
    from bootproof.builder.xous.build import build_image
    from bootproof.builder.xous.regions import MemoryMap

    example = build_example(tmp_path / "img", count=1, cache_dir=guest_cache)
    args_bin, map_json = tmp_path / "legacy.bin", tmp_path / "legacy.json"
    aligned = example.expected_layout()
    build_image(args_bin, example.kernel, [("IniE", example.inits[0])],
                MemoryMap(aligned.ram, aligned.regions, 0), layout="legacy", map_path=map_json)
    expected = XousLayout.from_json(json.loads(map_json.read_text()))
    assert expected.layout == "legacy" and expected.programs[0].load_offset % 4096 != 0
    result = boot_args(args_bin, log_dir=tmp_path / "logs", expected_layout=expected,
                       cache_dir=guest_cache)
    assert result.stage_names[-1] == "power-off"
    assert [m.name for m in result.markers] == [example.inits[0].stem]


def test_args_placed_in_ram(tmp_path: Path, guest_cache: Path) -> None:
    example = build_example(tmp_path / "img", count=1, cache_dir=guest_cache)
    result = boot_args(example.args_bin, log_dir=tmp_path / "logs", placement="ram",
                       expected_layout=example.expected_layout(), cache_dir=guest_cache)
    assert result.stage_names[-1] == "power-off"
    assert "arg_buffer: 87000000" in result.log_path.read_text()  # the board's args_ram


def test_xip_program_needs_flash(tmp_path: Path, guest_cache: Path) -> None:
    example = build_example(tmp_path / "img", count=3, cache_dir=guest_cache)
    with pytest.raises(BadPattern) as info:
        boot_args(example.args_bin, log_dir=tmp_path / "logs", placement="ram",
                  cache_dir=guest_cache)
    # PID 4 is the IniF program: its text would run in place from RAM outside every region.
    assert "(PID 4) isn't in defined memory" in info.value.matched_line

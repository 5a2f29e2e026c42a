"""``bootproof xous inspect --svg`` (and create-image/``xous build --svg``): the args.bin's
layout drawn as an SVG memory map, written whole or not at all, never over an input."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from xousargs_helpers import XOUS_FIXTURES, SynSection, write_elf32

from bootproof.builder.xous.cli import create_image_main
from bootproof.harness.cli import main as bootproof_main

SVG = "{http://www.w3.org/2000/svg}"
ARGS_2020 = XOUS_FIXTURES / "args-default-2020.bin"
CSV = Path(__file__).resolve().parents[3] / "qemu_configs" / "riscv32-virt" / "csr.csv"


def _texts(path: Path) -> list[str]:
    root = ET.fromstring(path.read_bytes())
    assert root.tag == f"{SVG}svg"
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def _kernel_payload(data: bytes) -> tuple[int, int]:
    """[start, end) of the kernel's payload, read from the XKrn tag's body (load offset,
    text vaddr, text size, data vaddr, data size, bss size, entry)."""
    at = data.index(b"XKrn", 0, 256)
    load, _, text, _, dat, _, _ = struct.unpack("<7I", data[at + 8:at + 36])
    return load, load + text + dat


def test_inspect_draws_the_args_bin(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "args.svg"
    assert bootproof_main(["xous", "inspect", str(ARGS_2020), "--svg", str(out)]) == 0
    assert "XKrn" in capsys.readouterr().out  # the report is printed as before
    texts = _texts(out)
    start, end = _kernel_payload(ARGS_2020.read_bytes())
    kernel = [t for t in texts if t.startswith("kernel  ")]
    assert kernel and kernel[0].startswith(f"kernel  0x{start:08x}-0x{end:08x}  "), kernel
    assert "args.bin" in texts   # the file's own space heads a column


def test_inspect_svg_never_replaces_the_input(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "args.bin"
    copy.write_bytes(ARGS_2020.read_bytes())
    assert bootproof_main(["xous", "inspect", str(copy), "--svg", str(copy)]) == 2
    assert "an output file is one of the inputs" in capsys.readouterr().err
    assert copy.read_bytes() == ARGS_2020.read_bytes()


def test_inspect_svg_into_a_missing_directory_is_bad_input(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "nope" / "a.svg"
    assert bootproof_main(["xous", "inspect", str(ARGS_2020), "--svg", str(out)]) == 2
    assert "nope" in capsys.readouterr().err
    assert not out.parent.exists()


@pytest.fixture
def elfs(tmp_path: Path) -> dict[str, Path]:
    k = write_elf32(tmp_path / "xous-kernel.elf", [
        SynSection(".text", 0xFFD00000, 0x6, bytes(range(64))),
        SynSection(".data", 0xFFD80000, 0x3, b"DATA" * 4),
    ], entry=0xFFD00000)
    i = write_elf32(tmp_path / "shell.elf", [
        SynSection(".text", 0x10000, 0x6, b"\x13\x00\x00\x00" * 8),
    ], entry=0x10000)
    return {"kernel": k, "init": i}


def _build(elfs: dict[str, Path], out: Path, *extra: str) -> int:
    return create_image_main([str(out), "-k", str(elfs["kernel"]), "-i", str(elfs["init"]),
                              "-r", "0x40000000:0x100000", "-q", *extra])


def test_build_draws_what_it_wrote(elfs: dict[str, Path], tmp_path: Path) -> None:
    out, svg = tmp_path / "args.bin", tmp_path / "args.svg"
    assert _build(elfs, out, "--svg", str(svg)) == 0
    texts = _texts(svg)
    start, end = _kernel_payload(out.read_bytes())
    # 64 bytes of text and 16 of data
    assert end - start == 64 + 16
    assert any(t.startswith(f"kernel  0x{start:08x}-0x{end:08x}  80 B") for t in texts), texts
    assert any(t.startswith("shell  ") for t in texts)
    # `bootproof xous build` is the same code: the same picture, byte for byte
    first = svg.read_bytes()
    assert bootproof_main(["xous", "build", str(out), "-k", str(elfs["kernel"]), "-i",
                           str(elfs["init"]), "-r", "0x40000000:0x100000", "-q",
                           "--svg", str(svg)]) == 0
    assert svg.read_bytes() == first


def test_build_svg_is_written_with_the_image_or_not_at_all(
        elfs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, mp = tmp_path / "args.bin", tmp_path / "args.json"
    missing = tmp_path / "missing-dir" / "a.svg"
    assert _build(elfs, out, "--map", str(mp), "--svg", str(missing)) == 2
    assert "missing-dir" in capsys.readouterr().err
    assert not out.exists() and not mp.exists()
    assert _build(elfs, out, "--map", str(mp), "--svg", str(mp)) == 2
    assert "--svg names the same file as --map" in capsys.readouterr().err
    assert not out.exists() and not mp.exists()


@pytest.fixture
def with_swap(tmp_path: Path) -> Path:
    """An args.bin with swap (one IniS program), its swap image, and the args.bin signed."""
    k = write_elf32(tmp_path / "kernel.elf", [
        SynSection(".text", 0xFFD00000, 0x6, bytes(range(256)) * 4),
        SynSection(".data", 0xFFD80000, 0x3, b"DATA" * 4)], entry=0xFFD00000)
    init = write_elf32(tmp_path / "init.elf", [
        SynSection(".text", 0x10000, 0x6, b"init" * 100)], entry=0x10000)
    swapped = write_elf32(tmp_path / "alpha.elf", [
        SynSection(".text", 0x20000, 0x6, b"alpha" * 100)], entry=0x20000)
    assert create_image_main([str(tmp_path / "args.bin"), "-k", str(k), "-i", str(init),
                              "--inis", str(swapped), "-c", str(CSV),
                              "--swap", "0x81000000:1M", "--swap-name",
                              str(tmp_path / "swap.img"), "-q", "--git-rev", "01" * 20,
                              "--git-describe", "v0.10.0-19-g0d934e1",
                              "--antirollback-override", "1"]) == 0
    assert bootproof_main(["xous", "sign", "--kernel-image", str(tmp_path / "args.bin"),
                           "--kernel-output", str(tmp_path / "xous.img"), "--min-xous-ver",
                           "v0.9.8-791", "--git-describe", "v0.10.0-19-g0d934e1"]) == 0
    return tmp_path


def test_inspect_draws_the_args_bin_inside_a_signed_image(
        with_swap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain, signed = with_swap / "plain.svg", with_swap / "signed.svg"
    assert bootproof_main(["xous", "inspect", str(with_swap / "args.bin"),
                           "--svg", str(plain)]) == 0
    assert bootproof_main(["xous", "inspect", str(with_swap / "xous.img"),
                           "--svg", str(signed)]) == 0
    # the same layout (only the title, naming the file, differs)
    assert _texts(plain)[1:] == _texts(signed)[1:]
    # the swap RAM as given with --swap 0x81000000:1M, and the Swap tag describing it
    texts = _texts(plain)
    assert "Swap  0x81000000-0x81100000  1 MiB" in texts, texts
    assert any(t.startswith("tag Swap  ") for t in texts)


def test_inspect_svg_of_a_file_without_args_bin_is_bad_input(
        with_swap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = with_swap / "swap.svg"
    assert bootproof_main(["xous", "inspect", str(with_swap / "swap.img"),
                           "--svg", str(out)]) == 2
    assert "holds no args.bin to draw" in capsys.readouterr().err
    assert not out.exists()

"""``bootproof xous inspect --svg`` (and create-image/``xous build --svg``): the args.bin's
layout drawn as an SVG memory map, written whole or not at all, never over an input."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from xousargs_helpers import XOUS_FIXTURES

from bootproof.harness.cli import main as bootproof_main

SVG = "{http://www.w3.org/2000/svg}"
ARGS_2020 = XOUS_FIXTURES / "args-default-2020.bin"


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

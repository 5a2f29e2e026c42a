"""Negative end to end: broken args.bin files make the loader model print its error line,
and the harness reports that line as a bad pattern (at once, not as a timeout)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from conftest import require_tool
from crc_model import crc16_x25_model as crc16_x25

from bootproof.harness.core.errors import BadPattern
from bootproof.harness.xous.example import build_example
from bootproof.harness.xous.flow import boot_args

pytestmark = pytest.mark.e2e


def tags(data: bytes) -> list[tuple[str, int, int]]:
    """(fourcc, offset, words) for each tag of the tag block."""
    total = struct.unpack_from("<I", data, 8)[0] * 4
    out, off = [], 0
    while off < total:
        words = struct.unpack_from("<H", data, off + 6)[0]
        out.append((data[off:off + 4].decode(), off, words))
        off += 8 + 4 * words
    return out


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, Path]:
    require_tool("riscv64-unknown-elf-gcc", "qemu-system-riscv32")
    cache = tmp_path_factory.mktemp("guests")
    example = build_example(tmp_path_factory.mktemp("img"), count=3, cache_dir=cache)
    return example.args_bin.read_bytes(), cache


def boot_broken(tmp_path: Path, cache: Path, data: bytes) -> BadPattern:
    path = tmp_path / "broken.bin"
    path.write_bytes(data)
    # BadPattern (not BootTimeout) proves the line was caught while waiting, not at the deadline.
    with pytest.raises(BadPattern) as info:
        boot_args(path, log_dir=tmp_path / "logs", cache_dir=cache, timeout=120)
    assert info.value.pattern_name == "loader error"
    assert info.value.log_path is not None
    return info.value


def test_corrupted_crc(tmp_path: Path, image: tuple[bytes, Path]) -> None:
    data, cache = image
    name, off, _ = next(t for t in tags(data) if t[0] == "IniE")
    broken = bytearray(data)
    broken[off + 8 + 4] ^= 0x01  # the entry point, CRC left as it was
    err = boot_broken(tmp_path, cache, bytes(broken))
    stored = struct.unpack_from("<H", data, off + 4)[0]
    computed = crc16_x25(bytes(broken[off + 8:off + 8 + 4 * 10]))
    assert f"CRC {stored:04x} does not match computed {computed:04x}" in err.matched_line
    assert f"({name}) at offset {off:08x}" in err.matched_line


def test_missing_xkrn(tmp_path: Path, image: tuple[bytes, Path]) -> None:
    data, cache = image
    _, off, _ = next(t for t in tags(data) if t[0] == "XKrn")
    broken = bytearray(data)
    broken[off:off + 4] = b"XKrx"  # an unknown tag now: skipped, so no kernel at all
    err = boot_broken(tmp_path, cache, bytes(broken))
    assert "LOADER ERROR: no kernel definition" in err.matched_line


def test_decreasing_section_addresses(tmp_path: Path, image: tuple[bytes, Path]) -> None:
    data, cache = image
    _, off, words = next(t for t in tags(data) if t[0] == "IniE")
    body = bytearray(data[off + 8:off + 8 + 4 * words])
    first = struct.unpack_from("<I", body, 8)[0]
    struct.pack_into("<I", body, 16, first - 0x1000)  # section 1 below section 0
    broken = bytearray(data)
    broken[off + 8:off + 8 + 4 * words] = body
    struct.pack_into("<H", broken, off + 4, crc16_x25(bytes(body)))  # a valid CRC
    err = boot_broken(tmp_path, cache, bytes(broken))
    assert "init section addresses are not strictly increasing" in err.matched_line
    assert f"at {first - 0x1000:08x} is below section 0 at {first:08x}" in err.matched_line


def test_cli_reports_the_loader_error(tmp_path: Path, image: tuple[bytes, Path],
                                      monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    from bootproof.harness.cli import main

    data, _ = image
    _, off, _ = next(t for t in tags(data) if t[0] == "XKrn")
    broken = bytearray(data)
    broken[off:off + 4] = b"XKrx"
    path = tmp_path / "broken.bin"
    path.write_bytes(bytes(broken))
    monkeypatch.setenv("BOOTPROOF_CACHE", str(tmp_path / "cache"))
    status = main(["xous", "boot", str(path), "--log-dir", str(tmp_path / "logs")])
    err = capsys.readouterr().err
    assert status == 1
    assert "bad pattern 'loader error'" in err
    assert "LOADER ERROR: no kernel definition" in err
    assert (tmp_path / "logs" / "xous-boot.serial.log").is_file()
    assert path.read_bytes() == bytes(broken)  # the input is never modified


def test_kernel_text_not_at_0xffd00000(tmp_path: Path, image: tuple[bytes, Path]) -> None:
    data, cache = image
    _, off, words = next(t for t in tags(data) if t[0] == "XKrn")
    body = bytearray(data[off + 8:off + 8 + 4 * words])
    struct.pack_into("<I", body, 4, 0xFFE00000)  # text_offset
    broken = bytearray(data)
    broken[off + 8:off + 8 + 4 * words] = body
    struct.pack_into("<H", broken, off + 4, crc16_x25(bytes(body)))
    err = boot_broken(tmp_path, cache, bytes(broken))
    assert "XKrn text_offset ffe00000 is not ffd00000" in err.matched_line

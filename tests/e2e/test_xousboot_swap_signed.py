"""End to end: an args.bin with swap (two --inis programs) and a signed xous.img boot
through the loader model, built and signed with our own commands; broken ones stop at the
loader model's error line."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pytest
from conftest import require_tool

from bootproof.builder.xous.cli import create_image_main
from bootproof.builder.xous.layout import XousLayout
from bootproof.builder.xous.signed import parse_signed
from bootproof.harness.cli import main as bootproof_main
from bootproof.harness.core.errors import BadPattern
from bootproof.harness.guests.build import build_init, build_kernel
from bootproof.harness.xous.example import BOARD_CSV
from bootproof.harness.xous.flow import boot_args

pytestmark = pytest.mark.e2e

SEAL = ["--git-rev", "0123456789abcdef0123456789abcdef01234567", "--git-describe",
        "v0.10.0-19-g0d934e1", "--antirollback-override", "1"]
VERSIONS = ["--min-xous-ver", "v0.9.8-791", "--git-describe", "v0.10.0-19-g0d934e1"]


@pytest.fixture(scope="module")
def guests(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_tool("riscv64-unknown-elf-gcc", "qemu-system-riscv32")
    cache = tmp_path_factory.mktemp("guests")
    return {"cache": cache, "kernel": build_kernel(cache),
            "init": build_init("shell", "small", 1, cache),
            "xip": build_init("xipapp", "xip", 2, cache),
            "alpha": build_init("alpha", "big", 3, cache),
            "beta": build_init("beta", "small", 4, cache)}


def _build(out: Path, g: dict[str, Path], *extra: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    assert create_image_main([str(out / "args.bin"), "-k", str(g["kernel"]), "-i",
                              str(g["init"]), "-f", str(g["xip"]), "-c", str(BOARD_CSV),
                              "--map", str(out / "args.json"), "-q", *extra]) == 0
    return out


def _with_swap(out: Path, g: dict[str, Path], *inis: str, swap: str = "0x80c00000:4M"
               ) -> Path:
    args = [a for name in inis for a in ("--inis", str(g[name]))]
    return _build(out, g, *args, "--swap", swap, "--swap-name", str(out / "swap.img"),
                  "--swap-debug-name", str(out / "swap-debug.img"), *SEAL)


def test_swap_with_two_inis_boots_to_its_report(tmp_path: Path,
                                                guests: dict[str, Path]) -> None:
    out = _with_swap(tmp_path / "img", guests, "alpha", "beta")
    expected = XousLayout.from_json(json.loads((out / "args.json").read_text()))
    assert expected.swap is not None and len(expected.swap.programs) == 2
    # the plaintext swap image in flash: the loader model reads and reports the IniS tags
    result = boot_args(out / "args.bin", log_dir=tmp_path / "logs-debug",
                       expected_layout=expected, cache_dir=guests["cache"],
                       swap_image=out / "swap-debug.img")
    assert result.stage_names[:4] == ("loader", "validated", "layout", "swap")
    assert result.stage_names[-1] == "power-off" and not result.report_only
    swap = result.layout.swap
    assert swap is not None and swap.region == expected.swap.region
    assert swap.programs == expected.swap.programs  # every IniS field, as the builder placed it
    assert [(p.pid, p.name) for p in swap.programs] == [(4, "alpha"), (5, "beta")]
    log = result.log_path.read_text()
    assert "Swap: ram=80c00000 size=00400000" in log
    assert "Swap program pid=4 name=alpha" in log and "Swap program pid=5 name=beta" in log
    # the init programs ran; the IniS ones are not started (the model does not page)
    assert [m.pid for m in result.markers] == [2, 3]
    assert "starting PID 4" not in log
    # the kernel walked the Swap tag in its args copy like the others
    assert ("Swap", 12) in result.kernel_tags

    # the encrypted swap image: found, reported, not decrypted; the names still shown
    result = boot_args(out / "args.bin", log_dir=tmp_path / "logs-enc",
                       expected_layout=expected, cache_dir=guests["cache"],
                       swap_image=out / "swap.img")
    assert "swap" in result.stage_names and result.stage_names[-1] == "power-off"
    log = result.log_path.read_text()
    assert "encrypted; the model does not decrypt or page" in log
    assert result.layout.names[4] == "alpha" and result.layout.swap is not None
    assert result.layout.swap.programs == ()


def test_the_boot_command_shows_swap_and_inis_names(tmp_path: Path, guests: dict[str, Path],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = _with_swap(tmp_path / "img", guests, "alpha", "beta")
    rc = bootproof_main(["xous", "boot", str(out / "args.bin"), "--map",
                         str(out / "args.json"), "--swap-image", str(out / "swap-debug.img"),
                         "--log-dir", str(tmp_path / "logs")])
    text = capsys.readouterr().out
    assert rc == 0
    assert re.search(r"\[ok\] swap +swap 0x80c00000 - 0x81000000 \(1024 pages\); IniS: "
                     r"PID 4 alpha, PID 5 beta; 2 IniS tag\(s\) read", text)
    assert "IniS PID 4 'alpha'" in text and "Swap 'Swap': 0x80c00000" in text


def test_signed_xous_img_in_flash_is_found_and_validated(tmp_path: Path,
                                                         guests: dict[str, Path]) -> None:
    out = _build(tmp_path / "img", guests)
    img = out / "xous.img"
    assert bootproof_main(["xous", "sign", "--kernel-image", str(out / "args.bin"),
                           "--kernel-output", str(img), *VERSIONS]) == 0
    assert bootproof_main(["xous", "inspect", str(img)]) == 0
    expected = XousLayout.from_json(json.loads((out / "args.json").read_text()))
    result = boot_args(img, log_dir=tmp_path / "logs", expected_layout=expected,
                       cache_dir=guests["cache"])
    sig = parse_signed(img.read_bytes())
    assert result.signed is not None
    assert (result.signed.version, result.signed.signed_len) == (2, sig.signed_len)
    assert result.signed.args_address == 0x20001000
    assert "signed" in result.stage_names and result.stage_names[-1] == "power-off"
    # the XIP program ran in place from flash at +0x1000: its checksum was reported
    assert [m.pid for m in result.markers] == [2, 3]


def _boot_broken(tmp_path: Path, guests: dict[str, Path], path: Path,
                 swap_image: Path | None = None) -> str:
    with pytest.raises(BadPattern) as info:
        boot_args(path, log_dir=tmp_path / "logs", cache_dir=guests["cache"], timeout=120,
                  swap_image=swap_image)
    assert info.value.pattern_name == "loader error"
    return str(info.value)


def test_broken_signed_images_stop_at_the_loader(tmp_path: Path,
                                                 guests: dict[str, Path]) -> None:
    out = _build(tmp_path / "img", guests)
    img = out / "xous.img"
    assert bootproof_main(["xous", "sign", "--kernel-image", str(out / "args.bin"),
                           "--kernel-output", str(img), *VERSIONS]) == 0
    data = bytearray(img.read_bytes())
    struct.pack_into("<I", data, 4, struct.unpack_from("<I", data, 4)[0] - 4)
    bad = tmp_path / "short.img"
    bad.write_bytes(bytes(data))
    assert "trailer" in _boot_broken(tmp_path / "a", guests, bad)
    loader = out / "loader.bin"
    assert bootproof_main(["xous", "sign", "--loader-image", str(out / "args.bin"),
                           "--loader-output", str(loader), *VERSIONS]) == 0
    assert "reads version 2" in _boot_broken(tmp_path / "b", guests, loader)


def test_swap_the_loader_would_trip_over(tmp_path: Path, guests: dict[str, Path]) -> None:
    # bao1x leaves RAM alone: a swap inside RAM is handed out twice (inspect warns too)
    out = _build(tmp_path / "overlap", guests, "--swap", "0x80800000:1M", "--platform",
                 "bao1x", "--swap-name", str(tmp_path / "overlap" / "swap.img"), *SEAL)
    assert "overlaps main RAM" in _boot_broken(tmp_path / "a", guests, out / "args.bin")
    # a debug swap image from another build: PNam names 2 swap programs, it holds 1
    two = _with_swap(tmp_path / "two", guests, "alpha", "beta")
    one = _with_swap(tmp_path / "one", guests, "alpha")
    message = _boot_broken(tmp_path / "b", guests, two / "args.bin",
                           swap_image=one / "swap-debug.img")
    assert "PNam names 2 swap programs" in message

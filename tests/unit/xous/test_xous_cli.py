"""create-image / bootproof xous build|inspect: exit codes, messages, outputs, inputs."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from conftest import require
from xousargs_helpers import XOUS_FIXTURES, SynSection, digest, write_elf32

from bootproof.builder.layout.model import schema_text
from bootproof.builder.xous.cli import create_image_main
from bootproof.builder.xous.layout import XousLayout
from bootproof.harness.cli import main as bootproof_main

CSV = str(XOUS_FIXTURES / "betrusted-emulation-csr-2020.csv")
SVD = str(XOUS_FIXTURES / "precursor-soc-pvt.svd")


@pytest.fixture
def elfs(tmp_path: Path) -> dict[str, Path]:
    k = write_elf32(tmp_path / "xous-kernel.elf", [
        SynSection(".text", 0xFFD00000, 0x6, bytes(range(64))),
        SynSection(".data", 0xFFD80000, 0x3, b"DATA" * 4),
        SynSection(".bss", 0xFFD80010, 0x3, None, size=0x40),
    ], entry=0xFFD00000)
    i = write_elf32(tmp_path / "shell.elf", [
        SynSection(".text", 0x10000, 0x6, b"\x13\x00\x00\x00" * 8),
        SynSection(".bss", 0x11000, 0x3, None, size=0x100),
    ], entry=0x10000)
    return {"kernel": k, "init": i}


def _hashes(*paths: str | Path) -> dict[str, str]:
    return {str(p): digest(Path(p)) for p in paths}


def test_build_prints_report_and_map(elfs: dict[str, Path], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out, mp = tmp_path / "args.bin", tmp_path / "args.json"
    before = _hashes(elfs["kernel"], elfs["init"], SVD)
    rc = create_image_main([str(out), "-k", str(elfs["kernel"]), "-i", str(elfs["init"]),
                            "--svd", SVD, "--map", str(mp)])
    assert rc == 0
    stdout = capsys.readouterr().out
    assert "Runtime will require 36974 bytes to track memory allocations" in stdout
    assert 'Main RAM "SrEx" (78457253): 40000000 - 41000000' in stdout
    assert "IniE PID 2 'shell'" in stdout and "0xffd80000" in stdout
    doc = json.loads(mp.read_text())
    jsonschema.validate(doc, json.loads(schema_text()))
    assert doc["format"] == "bootproof-layout" and doc["target"] == "xous"
    data = doc["detail"]  # the xous-args document of earlier versions, whole
    assert data["format"] == "xous-args" and data["file_size"] == out.stat().st_size
    assert data["names"] == {"1": "kernel", "2": "shell"}
    image = out.read_bytes()
    (space, _memory) = doc["spaces"]
    assert space["name"] == "args.bin" and space["size"] is None  # no flash size given
    assert space["attrs"]["file_size"] == len(image)
    assert space["attrs"]["sha256"] == hashlib.sha256(image).hexdigest()
    for item in space["items"]:  # each item's digest is of its bytes in the file written
        chunk = image[item["start"]:item["start"] + item["size"]]
        assert item["sha256"] == hashlib.sha256(chunk).hexdigest()
    assert {i["name"] for i in space["items"]} >= {"tag XArg", "kernel", "shell"}
    assert XousLayout.read(mp).file_size == len(image)
    assert _hashes(elfs["kernel"], elfs["init"], SVD) == before


def test_short_and_alias_options(elfs: dict[str, Path], tmp_path: Path) -> None:
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    assert create_image_main([str(a), "-k", str(elfs["kernel"]), "-i", str(elfs["init"]),
                              "-c", CSV, "-d", "-q"]) == 0
    assert create_image_main([str(b), "--kernel", str(elfs["kernel"]), "--init",
                              str(elfs["init"]), "--csr-csv", CSV, "--debug", "-q"]) == 0
    assert a.read_bytes() == b.read_bytes()


def test_bootproof_build_is_the_same(elfs: dict[str, Path], tmp_path: Path) -> None:
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    common = ["-k", str(elfs["kernel"]), "-i", str(elfs["init"]), "-r", "0x40000000:0x100000",
              "-q"]
    assert create_image_main([str(a), *common]) == 0
    assert bootproof_main(["xous", "build", str(b), *common]) == 0
    assert a.read_bytes() == b.read_bytes()


def test_inspect_json_and_table(elfs: dict[str, Path], tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert bootproof_main(["xous", "inspect", str(XOUS_FIXTURES / "args-default-2020.bin"),
                           "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["layout"] == "legacy" and data["kernel"]["load_offset"] == 0x59FC
    assert bootproof_main(["xous", "inspect", str(XOUS_FIXTURES / "args-default-2020.bin")]) == 0
    assert "CSRs" in capsys.readouterr().out


def _bad_run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    rc = create_image_main(argv)
    err = capsys.readouterr().err
    assert rc == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("create-image: error: ")
    return lines[0]


def test_bad_input_exit_2_one_line_no_output(elfs: dict[str, Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out, mp = tmp_path / "args.bin", tmp_path / "args.json"
    before = _hashes(elfs["kernel"], elfs["init"])
    # kernel linked low: the init program given as kernel
    line = _bad_run([str(out), "-k", str(elfs["init"]), "-i", str(elfs["init"]), "-c", CSV,
                     "--map", str(mp)], capsys)
    assert "shell.elf" in line and "0x10000" in line
    assert not out.exists() and not mp.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shell.elf", "xous-kernel.elf"]
    assert _hashes(elfs["kernel"], elfs["init"]) == before


def test_bad_ram_value(elfs: dict[str, Path], tmp_path: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    line = _bad_run([str(tmp_path / "o.bin"), "-k", str(elfs["kernel"]), "-r", "0x4000zz:1"],
                    capsys)
    assert "0x4000zz:1" in line


def test_missing_ram_region(elfs: dict[str, Path], tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "noram.csv"
    csv.write_text("#\nmemory_region,spiflash,0x20000000,4096,cached\n")
    line = _bad_run([str(tmp_path / "o.bin"), "-k", str(elfs["kernel"]), "-c", str(csv)],
                    capsys)
    assert "noram.csv" in line and "spiflash" in line
    assert not (tmp_path / "o.bin").exists()


def test_existing_output_untouched_on_error(elfs: dict[str, Path], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "args.bin"
    out.write_bytes(b"previous")
    _bad_run([str(out), "-k", str(tmp_path / "missing.elf"), "-c", CSV], capsys)
    assert out.read_bytes() == b"previous"


def test_inspect_garbage_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "junk.bin"
    p.write_bytes(b"XArg" + bytes(100))
    assert bootproof_main(["xous", "inspect", str(p)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "junk.bin" in err[0]


def test_memory_source_required(elfs: dict[str, Path], tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    _bad_run([str(tmp_path / "o.bin"), "-k", str(elfs["kernel"])], capsys)


def test_help_has_example(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        create_image_main(["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "example:" in text and "--csr-csv" in text and "--extra-svd" in text


def test_console_script(elfs: dict[str, Path], tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "create-image"
    require(script.exists(), "create-image console script not installed in this environment")
    out = tmp_path / "o.bin"
    proc = subprocess.run([str(script), str(out), "-k", str(elfs["kernel"]), "-i",
                           str(elfs["init"]), "-r", "0x40000000:0x100000"],
                          capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "Image created in file" in proc.stdout
    assert out.read_bytes()[:4] == b"XArg"


def test_extra_svd(elfs: dict[str, Path], tmp_path: Path) -> None:
    out, mp = tmp_path / "o.bin", tmp_path / "o.json"
    extra = tmp_path / "extra.svd"
    extra.write_text(
        "<device><vendorExtensions><memoryRegions>"
        "<memoryRegion><name>RRC</name><baseAddress>0x60000000</baseAddress>"
        "<size>0x2000</size></memoryRegion>"
        "<memoryRegion><name>AUDIO</name><baseAddress>0x70000000</baseAddress>"
        "<size>0x100</size></memoryRegion>"
        "</memoryRegions></vendorExtensions></device>")
    assert create_image_main([str(out), "-k", str(elfs["kernel"]), "-i", str(elfs["init"]),
                              "-s", SVD, "--extra-svd",
                              str(extra), "--map", str(mp), "-q"]) == 0
    regions = {(r["name"], r["start"], r["size"])
               for r in json.loads(mp.read_text())["detail"]["regions"]}
    assert ("rrc ", 0x60000000, 0x2000) in regions
    # "audio" exists already: the extra one becomes "audio_", whose fourcc is "audi"
    assert ("audi", 0x70000000, 0x1000) in regions


def test_csv_and_svd_together_rejected(elfs: dict[str, Path], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    line = _bad_run([str(tmp_path / "o.bin"), "-k", str(elfs["kernel"]), "-c", CSV, "-s", SVD],
                    capsys)
    assert "precursor-soc-pvt.svd" in line


def test_no_init_program_rejected(elfs: dict[str, Path], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    line = _bad_run([str(tmp_path / "o.bin"), "-k", str(elfs["kernel"]), "-c", CSV], capsys)
    assert "xous-kernel.elf" in line and "--init" in line


def test_loader_rejection_is_a_build_warning(elfs: dict[str, Path], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    # Above 0xff000000 (the reference's only check) but not where the loader wants it.
    k = write_elf32(tmp_path / "odd-kernel.elf", [
        SynSection(".text", 0xFF100000, 0x6, bytes(16))], entry=0xFF100000)
    out = tmp_path / "o.bin"
    assert create_image_main([str(out), "-k", str(k), "-i", str(elfs["init"]), "-c", CSV,
                              "-q"]) == 0
    err = capsys.readouterr().err
    assert "create-image: warning: kernel text_offset 0xff100000" in err
    assert out.exists()


def test_map_failure_leaves_no_image(elfs: dict[str, Path], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.bin"
    line = _bad_run([str(out), "-k", str(elfs["kernel"]), "-i", str(elfs["init"]), "-c", CSV,
                     "--map", str(tmp_path / "no-such-dir" / "o.json")], capsys)
    assert "no-such-dir" in line
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".o.bin")]


def test_output_never_replaces_a_memory_description(elfs: dict[str, Path], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "csr.csv"
    csv.write_bytes(Path(CSV).read_bytes())
    svd, extra = tmp_path / "soc.svd", tmp_path / "extra.svd"
    svd.write_bytes(Path(SVD).read_bytes())
    extra.write_text("<device><vendorExtensions><memoryRegions/></vendorExtensions></device>\n")
    before = _hashes(csv, svd, extra)
    base = ["-k", str(elfs["kernel"]), "-i", str(elfs["init"])]
    for argv in ([str(csv), *base, "-c", str(csv)],
                 [str(tmp_path / "o.bin"), *base, "-c", str(csv), "--map", str(csv)],
                 [str(svd), *base, "-s", str(svd)],
                 [str(extra), *base, "-s", str(svd), "--extra-svd", str(extra)]):
        line = _bad_run(argv, capsys)
        assert "one of the inputs" in line
    assert _hashes(csv, svd, extra) == before
    assert not (tmp_path / "o.bin").exists()


def test_map_and_image_cannot_be_the_same_file(elfs: dict[str, Path], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o.bin"
    line = _bad_run([str(out), "-k", str(elfs["kernel"]), "-i", str(elfs["init"]), "-c", CSV,
                     "--map", str(out)], capsys)
    assert "--map" in line
    assert not out.exists()


@pytest.mark.parametrize("content", [b"\xff\xfe{}", b"{not json", b"[]\n"])
def test_boot_with_a_broken_map_is_exit_2_before_any_boot(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    # the map is read before anything boots: the missing args.bin is never reached
    assert bootproof_main(["xous", "boot", str(tmp_path / "none.bin"), "--map", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad.json" in err[0] and "Traceback" not in err[0]


def test_inspect_exits_1_on_a_crc_mismatch_but_prints_everything(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = bytearray((XOUS_FIXTURES / "args-default-2020.bin").read_bytes())
    data[0x1C + 8] ^= 0xFF  # first byte of the MREx body (the tag after XArg's 28 bytes)
    bad = tmp_path / "bad-crc.bin"
    bad.write_bytes(bytes(data))
    assert bootproof_main(["xous", "inspect", str(bad)]) == 1
    captured = capsys.readouterr()
    assert "FAIL" in captured.out and "XKrn" in captured.out
    assert "bad-crc.bin" in captured.err and "CRC mismatch in MREx" in captured.err


def test_ram_size_takes_a_unit_suffix(elfs: dict[str, Path], tmp_path: Path) -> None:
    """The README's ``-r 0x80000000:16M``: the same image as the size in hex."""
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    common = ["-k", str(elfs["kernel"]), "-i", str(elfs["init"]), "-q"]
    assert create_image_main([str(a), *common, "-r", "0x80000000:0x1000000"]) == 0
    assert create_image_main([str(b), *common, "-r", "0x80000000:16M"]) == 0
    assert a.read_bytes() == b.read_bytes()


#: What a plain build never uses: sealing and signing (the crypto libraries, the signed
#: image formats, `sign`), the SVD reader's XML parser and the --map writer's json.
NOT_FOR_A_PLAIN_BUILD = (
    "cryptography", "Crypto", "bootproof.builder.ed25519", "bootproof.builder.xous.signed",
    "bootproof.builder.xous.swap_image", "bootproof.builder.xous.sign_cli",
    "bootproof.builder.xous.semver", "xml.etree.ElementTree", "json",
)


@pytest.mark.parametrize("memory", [["-c", CSV], ["-r", "0x40000000:16M"]])
def test_a_plain_create_image_leaves_what_it_never_uses_unloaded(
        elfs: dict[str, Path], tmp_path: Path, memory: list[str]) -> None:
    # Start-up is felt by every build (benchmarks/startup.py measures it): a fresh
    # interpreter builds an image without swap, SVD or --map and lists what it loaded.
    out = tmp_path / "args.bin"
    code = (
        "import sys; from bootproof.builder.xous.cli import create_image_main; "
        "rc = create_image_main(sys.argv[1:]); "
        f"print(rc, *(m for m in {NOT_FOR_A_PLAIN_BUILD!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(out), "-k", str(elfs["kernel"]),
                           "-i", str(elfs["init"]), *memory, "-q"],
                          capture_output=True, text=True, check=True)
    assert proc.stdout.split() == ["0"]
    assert out.stat().st_size > 0

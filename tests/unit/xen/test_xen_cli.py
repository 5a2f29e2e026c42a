"""The uboot-script-gen command line: flags, hint lines, exit codes, bootproof xen script."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from conftest import require
from xen_testlib import DOM0, HEAD, TWO_DOMUS, apply_with_fdtput, fdtget_strings, host_dtb, work

from bootproof.builder.layout.model import schema_text
from bootproof.builder.xen.cli import main

__all__ = ["host_dtb", "work"]

FLAGS = ["-c", "-d", "-t", "-o", "-f", "-p", "-k", "-u", "--map", "--merge-overlays", "-h"]


def test_help_documents_every_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["-h"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for flag in FLAGS:
        assert f"{flag} " in out or f"{flag}," in out, flag
    for alias in ('sd = "load mmc 0:1"', 'usb = "fatload usb 0:1"', 'tftp = "tftpb"'):
        assert alias in " ".join(out.split())


def test_console_script_is_installed() -> None:
    exe = Path(sys.executable).parent / "uboot-script-gen"
    require(exe.exists(), "package not installed in this interpreter's environment")
    r = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=False)
    assert r.returncode == 0 and "-c CONFIG" in r.stdout


def test_unknown_option_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["-e"])
    assert exc.value.code == 1
    assert 'Unknown option, see "uboot-script-gen -h"' in capsys.readouterr().err


def test_closed_stdout_is_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    import bootproof.builder.xen.cli as cli

    def reader_went_away(args: object) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(cli, "_generate", reader_went_away)
    assert main(["-c", "cfg", "-d", "."]) == 0


def test_missing_arguments_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-d", "."]) == 1
    assert "-c CONFIG and -d DIR are required" in capsys.readouterr().err


def test_full_run(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (work / "cfg").write_text(HEAD + TWO_DOMUS)
    rc = main(["-c", str(work / "cfg"), "-d", str(work), "-t", "tftp", "-o", "out",
               "--map", str(work / "out.json")])
    out = capsys.readouterr().out.splitlines()
    assert rc == 0
    assert out[:2] == ["Generated uboot script out.scr, to be loaded at address 0x40200000:",
                       "tftpb 0x40200000 out.scr; source 0x40200000"]
    assert any("domU-kernel[1]" in ln and "Image-small" in ln for ln in out)
    layout = json.loads((work / "out.json").read_text())
    jsonschema.validate(layout, json.loads(schema_text()))
    doc = layout["detail"]  # the Xen map of earlier versions, whole
    assert {m["file"] for m in doc["modules"]} == {"Image", "Image-small", "rootfs.cpio.gz",
                                                  "initrd.cpio.gz", "xen", "virt.dtb"}
    (ram,) = layout["spaces"]
    assert (ram["name"], ram["start"], ram["size"]) == ("ram", 0x40000000, 0x40000000)  # HEAD
    items = {i["name"]: i for i in ram["items"]}
    assert items["script"]["start"] == 0x40200000 and items["script"]["source"] == "out.scr"
    assert {m["addr"] for m in doc["modules"]} == {
        i["start"] for i in ram["items"] if i["kind"] not in ("script", "reserved")}
    assert items["domU1-kernel"]["source"] == "Image-small"
    hashed = [i for i in ram["items"] if "sha256" in i]
    assert items["script"] in hashed  # what the generator wrote, hashed as written
    for item in hashed:
        data = (work / item["source"]).read_bytes()
        assert item["sha256"] == hashlib.sha256(data).hexdigest(), item["name"]
    assert (work / "out.scr").exists() and (work / "out.source").exists()


def test_errors_exit_1_and_write_nothing(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (work / "cfg").write_text(HEAD + DOM0 + "DOM0_RAMDISK=Image\n")
    before = sorted(p.name for p in work.iterdir())
    assert main(["-c", str(work / "cfg"), "-d", str(work)]) == 1
    err = capsys.readouterr().err
    assert "DOM0_RAMDISK" in err and "Image" in err and "expected a cpio" in err
    assert sorted(p.name for p in work.iterdir()) == before


def test_bootproof_xen_script(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bootproof.harness.cli import main as bootproof

    (work / "cfg").write_text(HEAD + DOM0)
    assert bootproof(["xen", "script", "-c", str(work / "cfg"), "-d", str(work)]) == 0
    assert "source 0x40200000" in capsys.readouterr().out
    (work / "cfg").write_text(HEAD + DOM0 + "BOOT_CMD=boot\n")
    assert bootproof(["xen", "script", "-c", str(work / "cfg"), "-d", str(work)]) == 2
    assert "BOOT_CMD" in capsys.readouterr().err


def test_example_config_generates(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    examples = Path(__file__).parents[3] / "examples" / "xen"
    shutil.copy(examples / "extra-cmds.txt", work)
    assert main(["-c", str(examples / "config"), "-d", str(work),
                 "--map", str(work / "map.json")]) == 0
    source = (work / "boot.source").read_text()
    doc = json.loads((work / "map.json").read_text())["detail"]
    assert doc["domids"] == {"domU0": 1, "domU1": 2}
    dtb = work / "booted.dtb"
    shutil.copy(work / "virt.dtb", dtb)
    apply_with_fdtput(dtb, source)
    assert fdtget_strings(dtb, "/pl061@9030000", "status") == ["disabled"]
    for i in (0, 1):
        kernel = next(m for m in doc["modules"] if m["role"] == "domU-kernel" and m["domu"] == i)
        assert fdtget_strings(dtb, kernel["dt_node"], "bootargs") == [
            f"console=ttyAMA0 rdinit=/init marker=DOMU{i + 1} shell=1"]

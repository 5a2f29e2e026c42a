"""Run records and repro scripts (harness/core/runrecord.py, reproscript.py, inputfiles.py,
versions.py), without QEMU.

The scripts are run for real by /bin/sh here, against a stand-in for QEMU: a small shell
script that prints U-Boot's autoboot line and prompt and reads what is typed, so the test
sees what a replay would type, and when.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from bootproof.builder.errors import ConfigError, ToolError
from bootproof.harness.core.console import TypedInput
from bootproof.harness.core.errors import (
    BadPattern,
    BootTimeout,
    InfrastructureError,
    LayoutMismatch,
    UnexpectedExit,
)
from bootproof.harness.core.inputfiles import InputFile, argv_inputs
from bootproof.harness.core.reproscript import printf_format, replay_argv, repro_script
from bootproof.harness.core.runrecord import FORMAT, RunRecord, failure_kind
from bootproof.harness.core.stages import Stage
from bootproof.harness.core.versions import version_in_file

HARNESS_TAIL = ["-nographic", "-monitor", "none", "-chardev", "stdio,id=bpcon,signal=off",
                "-serial", "chardev:bpcon", "-chardev", "socket,id=bpqmp,fd=7",
                "-mon", "chardev=bpqmp,mode=control"]


def test_argv_inputs_names_the_files_qemu_reads(tmp_path: Path) -> None:
    kernel = tmp_path / "k.elf"
    odd = tmp_path / "a,b.bin"
    for f in (kernel, odd):
        f.write_bytes(b"x")
    argv = ["qemu", "-bios", "none", "-kernel", str(kernel),
            "-device", f"loader,file={str(odd).replace(',', ',,')},addr=0x20000000",
            "-netdev", f"user,id=n0,tftp={tmp_path}", "-device", "virtio-net-pci,romfile="]
    assert argv_inputs(argv) == [("-kernel", str(kernel)), ("-device file=", str(odd)),
                                 ("-netdev tftp=", str(tmp_path))]


def test_replay_argv_drops_qmp_and_lets_ctrl_c_stop_qemu() -> None:
    out = replay_argv(["qemu", "-machine", "virt", *HARNESS_TAIL])
    assert out == ["qemu", "-machine", "virt", "-nographic", "-monitor", "none",
                   "-chardev", "stdio,id=bpcon,signal=on", "-serial", "chardev:bpcon"]


def test_replay_argv_reads_a_loaded_state_from_descriptor_3() -> None:
    out = replay_argv(["qemu", "-machine", "virt", *HARNESS_TAIL, "-incoming", "fd:12"])
    assert out[-2:] == ["-incoming", "fd:3"]
    assert "fd:12" not in out


@pytest.mark.parametrize("text", ["plain", "\x01\x01\x01", "100% \\n 'quoted' \"d\"", "é ✓\n",
                                  "-dash first", ""])
def test_printf_format_prints_the_exact_bytes(text: str) -> None:
    r = subprocess.run(["sh", "-c", f"printf {printf_format(text)}"], capture_output=True,
                       check=True)
    assert r.stdout == text.encode()


def _fake_uboot(path: Path) -> Path:
    """A stand-in for QEMU: the autoboot line (no newline), a key, the prompt, a line."""
    path.write_text(
        "#!/bin/sh\n"
        "printf 'U-Boot 2023.01\\nHit any key to stop autoboot:  2 '\n"
        "key=$(dd bs=1 count=1 2>/dev/null)\n"
        "printf '\\n=> '\n"
        "read -r line\n"
        "printf 'key=[%s] line=[%s]\\n' \"$key\" \"$line\"\n"
        "exit 7\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _script(tmp_path: Path, argv: list[str], inputs: list[InputFile],
            typed: list[TypedInput], incoming: Path | None = None) -> Path:
    text = repro_script(argv, cwd=tmp_path, inputs=inputs, typed=typed, incoming=incoming,
                        command="bootproof xen boot -c config -d dir",
                        environment={"TMPDIR": str(tmp_path), "BOOTPROOF_TIMEOUT_MULTIPLIER": "3"},
                        qemu_version=None, record_name="x.run.json")
    script = tmp_path / "x.repro.sh"
    script.write_text(text)
    return script


def test_script_types_each_input_after_what_the_harness_saw(tmp_path: Path) -> None:
    fake = _fake_uboot(tmp_path / "fake-qemu")
    script = _script(tmp_path, [str(fake)], [], [
        TypedInput(" ", "Hit any key to stop autoboot", 1),
        TypedInput("setenv a 1; source 0x40200000\n", "=>", 1)])
    text = script.read_text()
    assert "# Made by:   bootproof xen boot -c config -d dir" in text
    assert "export TMPDIR=" in text and "BOOTPROOF_TIMEOUT_MULTIPLIER" not in text
    r = subprocess.run(["sh", str(script)], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=60, check=False)
    assert r.returncode == 7, r.stderr  # QEMU's exit status is the script's
    assert "key=[ ] line=[setenv a 1; source 0x40200000]" in r.stdout
    assert list(tmp_path.glob("repro-*")) == []  # its temporary files are gone


def test_script_refuses_changed_inputs(tmp_path: Path) -> None:
    fake = _fake_uboot(tmp_path / "fake-qemu")
    data = tmp_path / "args.bin"
    data.write_bytes(b"one")
    script = _script(tmp_path, [str(fake)], [InputFile.of("args.bin", data)], [])
    data.write_bytes(b"two")
    r = subprocess.run(["sh", str(script)], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=60, check=False)
    assert r.returncode == 2
    assert "an input differs from the recorded boot" in r.stderr
    r = subprocess.run(["sh", str(script)], input="\n", capture_output=True, text=True,
                       timeout=60, check=False, env={**os.environ, "BOOTPROOF_REPRO_NOCHECK": "1"})
    assert r.returncode == 7  # the fake ran: nothing typed, so the key is the newline


def test_script_of_a_resumed_boot_gives_qemu_the_state(tmp_path: Path) -> None:
    # the stand-in loads the state from the descriptor its command line names, says so,
    # then prints the first non-empty line typed (after the script's Enters)
    fake = tmp_path / "fake-qemu"
    fake.write_text(
        "#!/bin/sh\n"
        'fd=${2#fd:}\n'
        'printf "loaded [%s] from %s\\n" "$(eval "cat <&$fd")" "$2"\n'
        "line=$(tr '\\r' '\\n' | grep -m 1 .)\n"
        "printf 'line=[%s]\\n' \"$line\"\n"
        "exit 7\n")
    fake.chmod(0o755)
    state = tmp_path / "saved state"
    state.write_bytes(b"RAM and devices")
    argv = replay_argv([str(fake), "-incoming", "fd:11"])
    script = _script(tmp_path, argv, [InputFile.of("machine state", state)],
                     [TypedInput("ls\r", "", 0)], incoming=state)
    r = subprocess.run(["sh", str(script)], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=60, check=False)
    assert r.returncode == 7, r.stderr
    assert "loaded [RAM and devices] from fd:3" in r.stdout
    assert "line=[ls" in r.stdout


def test_failure_kinds() -> None:
    assert failure_kind(InfrastructureError("x")) == "infrastructure"
    assert failure_kind(BootTimeout("x")) == "timeout"
    assert failure_kind(BadPattern("x", pattern_name="p", matched_line="l")) == "bad-pattern"
    assert failure_kind(UnexpectedExit("x", exitcode=1)) == "unexpected-exit"
    assert failure_kind(LayoutMismatch("x", differences=[])) == "layout-mismatch"
    assert failure_kind(ConfigError("x")) == "input"
    assert failure_kind(ToolError("x")) == "tool"
    assert failure_kind(KeyboardInterrupt()) == "interrupted"
    assert failure_kind(ZeroDivisionError()) == "harness-bug"


def test_judging_writes_the_verdict_and_names_the_files(tmp_path: Path) -> None:
    rec = RunRecord(tmp_path, "box", command="bootproof xous boot a.bin")
    with pytest.raises(BootTimeout) as info, rec.judging():
        rec.add_stage(Stage("loader", 0.25, "started"))
        raise BootTimeout("timed out waiting for 'x'", log_path=tmp_path / "box.serial.log")
    text = str(info.value)
    assert f"repro script: {tmp_path / 'box.repro.sh'}" in text
    assert f"run record: {tmp_path / 'box.run.json'}" in text
    data = json.loads((tmp_path / "box.run.json").read_text())
    assert data["format"] == FORMAT
    assert data["verdict"] == "failed"
    assert data["failure"] == {"class": "BootTimeout", "kind": "timeout", "exit_code": 1,
                               "message": "timed out waiting for 'x'"}
    assert [(s["name"], s["seconds"], s["detail"]) for s in data["stages"]] == [
        ("loader", 0.25, "started")]
    assert data["stages"][0]["time"].endswith("Z")
    assert data["command"] == "bootproof xous boot a.bin"

    rec = RunRecord(tmp_path, "ok")
    with rec.judging():
        pass
    assert json.loads((tmp_path / "ok.run.json").read_text())["verdict"] == "passed"


def test_other_exceptions_get_a_note(tmp_path: Path) -> None:
    rec = RunRecord(tmp_path, "box")
    with pytest.raises(ZeroDivisionError) as info, rec.judging():
        raise ZeroDivisionError("boom")
    assert any("box.repro.sh" in n for n in info.value.__notes__)
    assert json.loads((tmp_path / "box.run.json").read_text())["failure"]["kind"] == "harness-bug"


def test_a_file_read_twice_keeps_both_roles(tmp_path: Path) -> None:
    kernel = tmp_path / "Image"
    kernel.write_bytes(b"k")
    rec = RunRecord(tmp_path, "box")
    rec.add_input("dom0-kernel", kernel)
    rec.add_input("domU-kernel", kernel)
    rec.add_input("domU-kernel", kernel)
    assert [f.role for f in rec.inputs] == ["dom0-kernel, domU-kernel"]


def test_version_in_file_reads_plain_and_gzip(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip

    monkeypatch.setenv("BOOTPROOF_CACHE", str(tmp_path / "cache"))
    banner = b"\0" * 3_000_000 + b"Linux version 6.1.0-57-arm64 (x@y) #1 SMP\0tail"
    plain = tmp_path / "Image"
    plain.write_bytes(banner)
    packed = tmp_path / "Image.gz"
    packed.write_bytes(gzip.compress(banner))
    want = "6.1.0-57-arm64 (x@y) #1 SMP"
    assert version_in_file(plain, rb"Linux version ([^\x00\n]+)") == want
    assert version_in_file(packed, rb"Linux version ([^\x00\n]+)") == want
    assert version_in_file(plain, rb"U-Boot (\d{4}\.\d{2}\S*)") is None

"""Every Xous boot leaves ``xous-boot.repro.sh`` and ``xous-boot.run.json``; the script re-runs
the boot without Python and shows the same markers; a failed boot's error names both."""

from __future__ import annotations

import hashlib
import json
import re
import struct
import subprocess
from pathlib import Path

import pytest
from conftest import require_tool

from bootproof.harness.cli import main
from bootproof.harness.xous.example import Example, build_example

pytestmark = pytest.mark.e2e

INIT_LINE = re.compile(r"^INIT \S+ pid=\d+ checksum=[0-9a-f]{8} data=ok bss=ok\r?$", re.M)


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Example:
    require_tool("riscv64-unknown-elf-gcc", "qemu-system-riscv32")
    return build_example(tmp_path_factory.mktemp("example"), count=3)


def test_repro_script_shows_the_same_markers(example: Example, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    logs = tmp_path / "logs"
    code = main(["xous", "boot", str(example.args_bin), "--map", str(example.map_json),
                 "--log-dir", str(logs)])
    out = capsys.readouterr().out
    assert code == 0, out
    serial = (logs / "xous-boot.serial.log").read_text()
    markers = INIT_LINE.findall(serial)
    assert len(markers) == 3
    # run from another directory, stdin closed, as a person would after a CI failure
    r = subprocess.run(["sh", str(logs / "xous-boot.repro.sh")], cwd="/",
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
                       check=False)
    assert r.returncode == 0, r.stderr
    assert INIT_LINE.findall(r.stdout) == markers
    assert "KERNEL: all 3 init programs reported" in r.stdout

    record = json.loads((logs / "xous-boot.run.json").read_text())
    assert record["verdict"] == "passed" and record["failure"] is None
    printed = re.findall(r"\[ok\] (\S+)", out)
    assert [s["name"] for s in record["stages"]] == printed
    args = next(f for f in record["inputs"] if f["role"] == "args.bin")
    assert args["path"] == str(example.args_bin)
    assert args["sha256"] == hashlib.sha256(example.args_bin.read_bytes()).hexdigest()
    assert record["command"].startswith("pytest ")
    assert record["qemu"]["exit_status"] == 0


def test_failed_boot_names_the_script_and_the_record(example: Example, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    data = bytearray(example.args_bin.read_bytes())
    total = struct.unpack_from("<I", data, 8)[0] * 4
    off = 0
    while off < total and data[off:off + 4] != b"IniE":
        off += 8 + 4 * struct.unpack_from("<H", data, off + 6)[0]
    data[off + 12] ^= 1  # a byte of the IniE tag, its CRC left as it was
    broken = tmp_path / "broken.bin"
    broken.write_bytes(bytes(data))
    logs = tmp_path / "logs"
    code = main(["xous", "boot", str(broken), "--log-dir", str(logs)])
    err = capsys.readouterr().err
    assert code == 1
    assert f"repro script: {logs / 'xous-boot.repro.sh'}" in err
    assert f"run record: {logs / 'xous-boot.run.json'}" in err
    record = json.loads((logs / "xous-boot.run.json").read_text())
    assert record["verdict"] == "failed"
    assert record["failure"]["kind"] == "bad-pattern"
    assert record["failure"]["class"] == "BadPattern"
    assert [s["name"] for s in record["stages"]] == ["loader"]
    r = subprocess.run(["sh", str(logs / "xous-boot.repro.sh")], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=120, check=False)
    assert "LOADER ERROR:" in r.stdout  # the same failure, shown again

"""The boot fixtures in a user's test run: results, JUnit properties and failure reports.

A small project's tests boot the bundled Xous example through ``xous_boot``; pytest runs them
with ``--junitxml`` and the XML is read back: every boot's kind, board, stages, serial log
and verdict are there, and a failed boot's report carries its serial log's tail.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import require_tool

from bootproof.harness.xous.example import build_example

pytestmark = pytest.mark.e2e

INNER = """
import os
import pytest

ARGS = os.environ["BP_ARGS"]
MAP = os.environ["BP_MAP"]


@pytest.mark.bootproof(timeout=60)
def test_boots(xous_boot):
    result = xous_boot(ARGS, map=MAP, expect=["PID 2"])
    assert [m.pid for m in result.markers] == [2, 3, 4]
    assert result.stage_names[:3] == ("loader", "validated", "layout")
    assert result.layout.programs[0].pid == 2


def test_fails_naming_the_text(xous_boot):
    xous_boot(ARGS, expect=["a line this image never prints"])
"""


def _properties(junit: Path) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        props = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
        out[case.get("name", "")] = props
    return out


def test_xous_boot_records_properties_and_reports_the_log_tail(tmp_path: Path) -> None:
    require_tool("riscv64-unknown-elf-gcc", "qemu-system-riscv32")
    example = build_example(tmp_path / "image", count=3)
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_image.py").write_text(textwrap.dedent(INNER))
    junit = tmp_path / "junit.xml"
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env.update(BP_ARGS=str(example.args_bin), BP_MAP=str(example.map_json))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--rootdir",
         str(project), "--basetemp", str(tmp_path / "inner-tmp"), f"--junitxml={junit}",
         str(project)],
        cwd=project, env=env, capture_output=True, text=True, timeout=600, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "1 failed, 1 passed" in out, out

    props = _properties(junit)
    ok = props["test_boots"]
    assert ok["bootproof.boot1.kind"] == "xous"
    assert ok["bootproof.boot1.board"] == "riscv32-virt"
    assert ok["bootproof.boot1.verdict"] == "passed"
    log = Path(ok["bootproof.boot1.serial_log"])
    assert log.is_file() and "Xous loader model (bootproof) v1" in log.read_text()
    stages = [k.split(".", 4)[4] for k in ok if k.startswith("bootproof.boot1.stage.")]
    assert stages[:4] == ["loader", "validated", "layout", "kernel"]
    assert stages.count("init") == 3 and stages[-1] == "power-off"
    assert all(float(v) >= 0 for k, v in ok.items() if ".stage." in k)

    bad = props["test_fails_naming_the_text"]
    assert bad["bootproof.boot1.verdict"] == "failed: UnexpectedExit"
    assert Path(bad["bootproof.boot1.serial_log"]).is_file()
    # the failure's report: what was never seen, the boot logs section with the tail
    assert "never seen: 'a line this image never prints'" in out
    assert "boot logs" in out and "xous-boot.serial.log (last 25 lines)" in out
    assert "KERNEL: all 3 init programs reported" in out

"""examples/ci-project, a separate project, passes its suite with bootproof installed from
the wheel: the wheel and the sample go into a fresh venv outside the repository (their other
dependencies from the package index), the sample is copied out of the installed package,
and its tests build and boot its own Xous image and its own Xen config."""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import require_tool
from distbuild import REPO, build_dist, fresh_venv, run

pytestmark = pytest.mark.e2e

TOOLS = ("riscv64-unknown-elf-gcc", "qemu-system-riscv32", "qemu-system-aarch64", "mkimage")


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts)


def test_sample_project_suite_passes_from_the_wheel(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    require_tool(*TOOLS)
    dist = build_dist(tmp_path_factory)
    bindir = fresh_venv(tmp_path / "venv", f"{dist.wheel}[pytest]", cwd=tmp_path)
    where = run([bindir / "python", "-c", "import importlib.resources as r; "
                 "print(r.files('bootproof.examples') / 'ci-project')"], cwd=tmp_path)
    installed = Path(where.stdout.strip())
    assert installed.is_relative_to(tmp_path / "venv")
    sample = tmp_path / "ci-project"
    shutil.copytree(installed, sample, ignore=shutil.ignore_patterns("__pycache__"))
    # the copy in the wheel is the repository's sample, file for file
    assert _files(sample) == _files(REPO / "examples" / "ci-project")
    run([bindir / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check",
         sample], cwd=tmp_path)

    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER",
                        "PYTEST_XDIST_WORKER_COUNT", "PYTEST_CURRENT_TEST")}
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    junit = tmp_path / "junit.xml"
    proc = subprocess.run(
        [bindir / "python", "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={junit}",
         "--basetemp", str(tmp_path / "sample-tmp")],
        cwd=sample, env=env, capture_output=True, text=True, timeout=1800, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "2 passed" in out, out
    assert "bootproof" in out and "timeout multiplier" in out  # the plugin's report header

    props = {case.get("name", ""): {p.get("name", ""): p.get("value", "")
                                    for p in case.iter("property")}
             for case in ET.parse(junit).getroot().iter("testcase")}
    xous = props["test_app_boots_and_reports"]
    xen = props["test_two_domus_boot_with_their_resources"]
    assert (xous["bootproof.boot1.kind"], xous["bootproof.boot1.verdict"]) == ("xous", "passed")
    assert (xen["bootproof.boot1.kind"], xen["bootproof.boot1.verdict"]) == ("xen", "passed")
    assert xen["bootproof.boot1.board"] == "aarch64-virt"
    assert any(k.endswith(".marker_SENSORS") for k in xen), xen
    for boot in (xous, xen):
        assert Path(boot["bootproof.boot1.serial_log"]).is_relative_to(tmp_path / "sample-tmp")

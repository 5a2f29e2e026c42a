"""The boot-matrix CI templates (ci/templates/*-boot-matrix.yml; the layout-review ones are
tests/unit/docs/test_layout_review.py's): they parse as YAML, run the shards x boards matrix
with the command docs/ci.md gives, key the asset cache by the asset manifest's hash and keep
JUnit XML and serial logs whatever the outcome."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from docblocks import blocks

from bootproof.harness.xen.assets import MANIFEST_NAME

ROOT = Path(__file__).resolve().parents[3]
GITHUB = ROOT / "ci" / "templates" / "github-boot-matrix.yml"
GITLAB = ROOT / "ci" / "templates" / "gitlab-boot-matrix.yml"
DOC = ROOT / "docs" / "ci.md"


def _load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict)
    return data


def _doc_commands() -> list[str]:
    """The commands of docs/ci.md's ``text`` blocks that start with ``.venv/bin/``."""
    return [line.strip() for b in blocks(DOC) if b.lang == "text"
            for line in b.text.splitlines() if line.strip().startswith(".venv/bin/")]


def _pytest_lines(commands: list[str]) -> list[str]:
    return [c for c in commands if c.startswith(".venv/bin/pytest")]


def test_github_template() -> None:
    data = _load(GITHUB)
    job = data["jobs"]["boot"]
    matrix = job["strategy"]["matrix"]
    assert set(matrix) == {"board", "shard"}
    assert matrix["shard"] == list(range(1, int(job["env"]["SHARDS"]) + 1))
    assert job["strategy"]["fail-fast"] is False
    steps = job["steps"]
    runs = [line.strip() for s in steps if "run" in s for line in s["run"].splitlines()]
    assert _pytest_lines(runs) == _pytest_lines(_doc_commands())
    assert [r for r in runs if r.startswith(".venv/bin/") and "pytest" not in r] == \
        [c for c in _doc_commands() if "pytest" not in c]
    # the cache: saved under the hash of the manifest the assets step left
    hashing = next(r for r in runs if "sha256sum" in r)
    assert f'"$BOOTPROOF_CACHE/{MANIFEST_NAME}"' in hashing
    save = next(s for s in steps if s.get("uses", "").startswith("actions/cache/save"))
    assert save["with"]["key"] == "bootproof-assets-${{ steps.assets.outputs.hash }}"
    assert save["with"]["path"] == ".bootproof-cache" == job["env"]["BOOTPROOF_CACHE"].split(
        "/")[-1]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()"
    kept = upload["with"]["path"].split()
    assert "junit-*.xml" in kept and "boot-tmp/**/*.serial.log" in kept


def test_gitlab_template() -> None:
    data = _load(GITLAB)
    boot = data["boot"]
    [matrix] = boot["parallel"]["matrix"]
    assert set(matrix) == {"BOARD", "SHARD"}
    assert matrix["SHARD"] == [str(i) for i in range(1, int(data["variables"]["SHARDS"]) + 1)]
    script = [c for c in boot["script"] if isinstance(c, str)]
    assert _pytest_lines(script) == _pytest_lines(_doc_commands())
    assert boot["needs"] == ["assets"]
    assert boot["cache"]["key"] == "bootproof-assets-$BOOTPROOF_ASSETS_KEY"
    made = next(c for c in data["assets"]["script"] if isinstance(c, str) and "sha256sum" in c)
    assert made.startswith("echo \"BOOTPROOF_ASSETS_KEY=") and MANIFEST_NAME in made
    assert data["assets"]["artifacts"]["reports"]["dotenv"] == "assets.env"
    artifacts = boot["artifacts"]
    assert artifacts["when"] == "always"
    assert "junit-*.xml" in artifacts["paths"] and "boot-tmp/**/*.serial.log" in artifacts["paths"]
    assert artifacts["reports"]["junit"] == "junit-*.xml"


def test_the_docs_give_one_shard_command_with_the_junit_and_log_locations() -> None:
    [command] = _pytest_lines(_doc_commands())
    for option in ('-m e2e', '--bootproof-board "$BOARD"', '--splits "$SHARDS"',
                   '--group "$SHARD"', '--junitxml "junit-$BOARD-$SHARD.xml"',
                   "--basetemp boot-tmp"):
        assert option in command
    assert re.search(r"--splitting-algorithm (\S+)", command)


def test_the_docs_show_the_measured_durations_and_the_projection() -> None:
    """docs/ci.md's tables are ci/shard_plan.py's output for the committed durations file."""
    proc = subprocess.run([sys.executable, str(ROOT / "ci" / "shard_plan.py"),
                           str(ROOT / ".test_durations")],
                          capture_output=True, text=True, check=True, timeout=60)
    doc = DOC.read_text().splitlines()
    pos = 0
    for line in proc.stdout.splitlines():
        assert line in doc[pos:], f"docs/ci.md lacks (after line {pos}): {line!r}"
        pos = doc.index(line, pos) + 1

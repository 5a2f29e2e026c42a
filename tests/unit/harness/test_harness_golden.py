"""assert_layout and --bootproof-update-golden, run with pytester on a generated test file.

The layouts are JSON documents written here by hand (not by the code under test); the
expected failure lines are computed from their numbers.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from bootproof.builder.layout.model import Layout
from bootproof.harness.golden import check_layout

pytest_plugins = ["pytester"]

INNER = '''
import json
import os
from pathlib import Path

from bootproof.builder.layout.model import Layout


def test_layout_file(assert_layout):
    assert_layout(Path(os.environ["BP_LAYOUT"]), "golden/app.json")


def test_layout_object(assert_layout):
    data = json.loads(Path(os.environ["BP_LAYOUT"]).read_text())
    assert_layout(Layout.from_json(data), "golden/object.json", ignore=("content",))
'''

KERNEL = (0x1000, 0x2000)
APP = (0x4000, 0x1000)
RAM = (0x0, 0x10000)


def document(app_start: int = APP[0], app_size: int = APP[1],
             app_sha: str = "aa" * 32) -> dict[str, Any]:
    """A layout JSON document: one RAM space with a kernel and an app."""
    return {
        "format": "bootproof-layout", "version": 1, "target": "xous",
        "spaces": [{
            "name": "ram", "unit": "byte", "start": RAM[0], "size": RAM[1],
            "items": [
                {"kind": "kernel", "name": "kernel", "start": KERNEL[0], "size": KERNEL[1]},
                {"kind": "program", "name": "app", "start": app_start, "size": app_size,
                 "source": "/somewhere/app.elf", "sha256": app_sha},
            ]}],
    }


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    pytester.makepyfile(test_inner=INNER)
    layout = pytester.path / "build" / "app.json"
    layout.parent.mkdir()
    layout.write_text(json.dumps(document()))
    monkeypatch.setenv("BP_LAYOUT", str(layout))
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    return layout


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly",
                                         *args)


def test_missing_golden_fails_with_a_hint_and_writes_nothing(
        pytester: pytest.Pytester, project: Path) -> None:
    result = run(pytester)
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert "golden layout" in out and "does not exist" in out
    assert "--bootproof-update-golden" in out
    assert not (pytester.path / "golden").exists()


def test_update_writes_then_match_passes(pytester: pytest.Pytester, project: Path) -> None:
    written = run(pytester, "--bootproof-update-golden")
    written.assert_outcomes(failed=2)  # a run that wrote goldens is not a green run
    golden = pytester.path / "golden" / "app.json"
    assert str(golden) in written.stdout.str()
    # the golden is the layout that was built: the document's spaces and items, less the
    # items' source paths (not compared, and they name the build's machine)
    expected = document()["spaces"]
    for item in expected[0]["items"]:
        item.pop("source", None)
    assert json.loads(golden.read_text())["spaces"] == expected
    assert (pytester.path / "golden" / "object.json").is_file()
    run(pytester).assert_outcomes(passed=2)


def test_mismatch_shows_the_moved_item(pytester: pytest.Pytester, project: Path) -> None:
    run(pytester, "--bootproof-update-golden")
    golden = pytester.path / "golden" / "app.json"
    before = golden.read_bytes()
    new_start = APP[0] + 0x2000
    project.write_text(json.dumps(document(app_start=new_start)))
    result = run(pytester)
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert re.search(rf"moved +app +0x{APP[0]:08x} -> 0x{new_start:08x} +\+0x2000 "
                     r"\(\+8 KiB\)", out), out
    # headroom of RAM: end of RAM minus the end of the highest item, before and after
    old_room = RAM[0] + RAM[1] - (APP[0] + APP[1])
    new_room = RAM[0] + RAM[1] - (new_start + APP[1])
    assert f"headroom: 0x{old_room:x} ({old_room // 1024} KiB) -> 0x{new_room:x} " \
        f"({new_room // 1024} KiB)  (-0x2000 (-8 KiB))" in out
    assert not re.search(r"^ +\w+ +kernel ", out, re.M)  # the kernel did not change
    assert golden.read_bytes() == before  # not rewritten without the option
    rewrite = run(pytester, "--bootproof-update-golden")
    rewrite.assert_outcomes(failed=2)
    assert json.loads(golden.read_text())["spaces"][0]["items"][1]["start"] == new_start
    run(pytester).assert_outcomes(passed=2)


def test_ignore_content_and_growth(pytester: pytest.Pytester, project: Path) -> None:
    run(pytester, "--bootproof-update-golden")
    project.write_text(json.dumps(document(app_sha="bb" * 32)))
    result = run(pytester)
    # the object test ignores "content": only the file test fails, on the app's bytes
    result.assert_outcomes(passed=1, failed=1)
    assert re.search(r"content +app +aaaaaaaaaaaa -> bbbbbbbbbbbb", result.stdout.str())
    project.write_text(json.dumps(document(app_size=APP[1] + 0x1800)))
    grown = run(pytester)
    grown.assert_outcomes(failed=2)
    assert re.search(rf"resized +app +0x{APP[1]:x} \(4 KiB\) -> 0x{APP[1] + 0x1800:x} "
                     r"\(10 KiB\) +\+0x1800 \(\+6 KiB\)", grown.stdout.str())


def test_check_layout_reports_space_bounds_and_overlaps() -> None:
    old = Layout.from_json(document())
    data = copy.deepcopy(document(app_start=KERNEL[0] + 0x1000))
    data["spaces"][0]["size"] = 0x20000
    report = check_layout(Layout.from_json(data), old)
    assert "space ram: start 0x00000000 -> 0x00000000, size 0x00010000 -> 0x00020000" \
        in report
    # app now starts inside the kernel's [0x1000, 0x3000)
    assert re.search(r"NEW overlap: kernel 0x00001000, .* and app 0x00002000", report)
    assert check_layout(old, old) == ""
    data["target"] = "xen"
    assert "target: xous -> xen" in check_layout(Layout.from_json(data), old)
    with pytest.raises(ValueError, match="unknown change kind"):
        check_layout(old, old, ignore=("bogus",))

"""Golden layouts in tests: ``assert_layout(layout, "golden/app.json")``.

The pytest plugin's ``assert_layout`` fixture compares a build's layout with a golden
layout file kept beside the test, and fails showing the layout diff (what moved, grew,
shrank, appeared or vanished, new overlaps, headroom) rather than a text diff of JSON::

    def test_image_layout(assert_layout, tmp_path):
        build_image(tmp_path)                      # writes tmp_path / "args.json" (--map)
        assert_layout(tmp_path / "args.json", "golden/args.json")

``layout`` is a :class:`~bootproof.builder.layout.model.Layout`, or a path that
``bootproof diff`` reads: a layout JSON file (what ``--map``/``--json`` write), an
args.bin, a disk image or an ImageBuilder config. The failure shows ``bootproof diff``'s
text report from the golden to this build. A relative golden path is relative to the test
file's directory. Equal means :func:`~bootproof.builder.layout.compare.compare` finds no
change (source paths and ``detail`` are not compared, nor kept in the golden), and the
target and every space's start, size and unit are the same; ``ignore=("content",)``
leaves out change kinds (here: a file whose bytes changed but not its size).

A missing golden fails with a hint and is not written. ``--bootproof-update-golden``
(or pytest-regressions' own ``--force-regen``) rewrites missing and differing goldens; like
``--force-regen``, each test that rewrote one fails naming the file, so a run that changed
goldens is never mistaken for a green one (pytest-regressions' ``--regen-all`` rewrites
them all and passes).

Why pytest-regressions: its ``file_regression.check`` takes a file path of the user's
choice (``fullpath``), a comparison of our own (``check_fn``, whose AssertionError becomes
the failure message) and does the writing, the ``.obtained`` copy and ``--force-regen``.
syrupy keeps snapshots where its extension class says (a class attribute per directory,
named after the test), reports files in that directory it did not write as unused and
deletes them with ``--snapshot-update``; a golden in a folder of the user's choice does not
fit it without subclassing per path, and its failure shows its own serialised diff.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection
from dataclasses import replace
from pathlib import Path

import pytest

from bootproof.builder.layout.compare import CHANGE_KINDS, SpaceChange, compare
from bootproof.builder.layout.model import Layout
from bootproof.builder.report import hexa

#: The option that rewrites goldens.
UPDATE_OPTION = "--bootproof-update-golden"
LayoutLike = Layout | str | os.PathLike[str]
AssertLayout = Callable[..., None]


def load_layout(source: LayoutLike) -> Layout:
    """A :class:`Layout` as given, or read as ``bootproof diff`` reads a side: a layout JSON
    (an older Xous map too), an args.bin, a disk image or an ImageBuilder config."""
    if isinstance(source, Layout):
        return source
    from bootproof.builder.diff.inputs import Source, load

    return load(Source(Path(source)))


def layout_text(layout: Layout) -> str:
    """The golden file's text: the layout JSON without what is not compared (items'
    ``source`` paths, which name the build's machine, and the target's ``detail``), sorted
    keys, two-space indent, final newline."""
    spaces = tuple(replace(s, items=tuple(replace(i, source=None) for i in s.items))
                   for s in layout.spaces)
    kept = replace(layout, spaces=spaces, detail=None)
    return json.dumps(kept.to_json(), indent=2, sort_keys=True) + "\n"


def _bounds(s: SpaceChange) -> str | None:
    old, new = s.old, s.new
    if old is None or new is None or (old.start, old.size, old.unit) == (
            new.start, new.size, new.unit):
        return None
    return (f"space {s.name}: start {hexa(old.start)} -> {hexa(new.start)}, size "
            f"{'-' if old.size is None else hexa(old.size)} -> "
            f"{'-' if new.size is None else hexa(new.size)}, unit {old.unit} -> {new.unit}")


def check_layout(actual: Layout, golden: Layout, ignore: Collection[str] = (),
                 golden_name: str = "golden", actual_name: str = "this build") -> str:
    """Why ``actual`` does not match ``golden``: ``bootproof diff``'s text report (changes
    of the kinds in ``ignore`` left out) plus target and space-bound changes; "" when they
    match."""
    unknown = set(ignore) - set(CHANGE_KINDS)
    if unknown:
        raise ValueError(f"ignore: unknown change kind(s) {sorted(unknown)}; "
                         f"known: {', '.join(CHANGE_KINDS)}")
    diff = compare(golden, actual)
    diff = replace(diff, changes=tuple(c for c in diff.changes if c.what not in ignore))
    extra = [line for line in (_bounds(s) for s in diff.spaces) if line]
    if golden.target != actual.target:
        extra.insert(0, f"target: {golden.target} -> {actual.target}")
    if not diff and not extra:
        return ""
    from bootproof.builder.diff.render import text

    return text(diff, golden_name, actual_name) + "".join(f"{line}\n" for line in extra)


class LayoutGolden:
    """The callable behind the ``assert_layout`` fixture, bound to one test."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self.request = request
        self.count = 0

    def golden_path(self, golden: str | os.PathLike[str]) -> Path:
        path = Path(golden)
        return path if path.is_absolute() else Path(self.request.path).parent / path

    def __call__(self, layout: LayoutLike, golden: str | os.PathLike[str], *,
                 ignore: Collection[str] = ()) -> None:
        __tracebackhide__ = True
        try:
            from pytest_regressions.file_regression import FileRegressionFixture
        except ImportError:  # pragma: no cover - the "pytest" extra installs it
            pytest.fail("assert_layout needs pytest-regressions: pip install "
                        "'bootproof[pytest]'", pytrace=False)
        actual = load_layout(layout)
        path = self.golden_path(golden)
        config = self.request.config
        update = bool(config.getoption(UPDATE_OPTION, False)
                      or config.getoption("force_regen", False))
        if not path.is_file() and not update and not config.getoption("regen_all", False):
            pytest.fail(f"golden layout {path} does not exist; run pytest with {UPDATE_OPTION} "
                        "to write it from this build, then review and commit it",
                        pytrace=False)

        def same_layout(obtained: Path, expected: Path) -> None:
            __tracebackhide__ = True
            problems = check_layout(load_layout(obtained), load_layout(expected), ignore,
                                    golden_name=str(path), actual_name=str(obtained))
            if problems:
                raise AssertionError(f"layout differs from the golden; {UPDATE_OPTION} "
                                     f"rewrites it\n{problems}")

        self.count += 1
        tmp = self.request.getfixturevalue("tmp_path")
        obtained = Path(tmp) / f"{path.stem}.{self.count}.obtained.json"
        check = FileRegressionFixture(self.request.getfixturevalue("lazy_datadir"),
                                      self.request.getfixturevalue("original_datadir"),
                                      self.request)
        check.force_regen = update
        check.check(layout_text(actual), extension=".json", fullpath=path,
                    obtained_filename=obtained, check_fn=same_layout)


def add_option(group: pytest.OptionGroup) -> None:
    group.addoption(
        UPDATE_OPTION, action="store_true", default=False,
        help="assert_layout: write missing golden layouts and rewrite differing ones (each "
             "test that rewrote one fails naming it; review and commit them)")

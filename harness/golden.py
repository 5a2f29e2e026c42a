"""Golden layouts in tests: ``assert_layout(layout, "golden/app.json")``.

The pytest plugin's ``assert_layout`` fixture compares a build's layout with a golden
layout file kept beside the test, and fails showing the layout diff (what moved, grew,
shrank, appeared or vanished, new overlaps, headroom) rather than a text diff of JSON::

    def test_image_layout(assert_layout, tmp_path):
        build_image(tmp_path)                      # writes tmp_path / "args.json" (--map)
        assert_layout(tmp_path / "args.json", "golden/args.json")

``layout`` is a :class:`~bootproof.builder.layout.model.Layout`, or the path of a layout
JSON file (what ``--map``/``--json`` write). A relative golden path is relative to the test
file's directory. Equal means :func:`~bootproof.builder.layout.compare.compare` finds no
change (source paths and ``detail`` are not compared), the target and every space's start,
size and unit are the same; ``ignore=("content",)`` leaves out change kinds (here: a file
whose bytes changed but not its size).

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
from pathlib import Path

import pytest

from bootproof.builder.errors import BootproofError
from bootproof.builder.layout.compare import CHANGE_KINDS, Change, LayoutDiff, compare
from bootproof.builder.layout.model import Layout, Space
from bootproof.builder.report import hexa, size_text

#: The option that rewrites goldens.
UPDATE_OPTION = "--bootproof-update-golden"
LayoutLike = Layout | str | os.PathLike[str]
AssertLayout = Callable[..., None]


def load_layout(source: LayoutLike) -> Layout:
    """A :class:`Layout` as given, or read from a layout JSON file."""
    if isinstance(source, Layout):
        return source
    path = Path(source)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BootproofError(f"cannot read the layout: {exc.strerror}", path=path) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BootproofError(f"not a layout JSON file: {exc}", path=path) from None
    return Layout.from_json(data, path=str(path))


def layout_text(layout: Layout) -> str:
    """The golden file's text: the layout JSON, sorted keys, two-space indent, final newline."""
    return json.dumps(layout.to_json(), indent=2, sort_keys=True) + "\n"


def _span(item_start: int | None, size: int) -> str:
    if item_start is None:
        return f"size {hexa(size)} ({size_text(size)})"
    return f"[{hexa(item_start)}, {hexa(item_start + size)}) {size_text(size)}"


def _change_line(c: Change) -> str:
    old, new = c.old, c.new
    if c.what == "removed" and old is not None:
        return f"removed  {c.name}: {_span(old.start, old.size)}"
    if c.what == "added" and new is not None:
        return f"added    {c.name}: {_span(new.start, new.size)}"
    assert old is not None and new is not None
    d = c.delta
    if c.what == "moved":
        return (f"moved    {c.name}: {hexa(old.start or 0)} -> {hexa(new.start or 0)} "
                f"({d:+#x})")
    if c.what == "resized":
        assert d is not None
        sign = "+" if d >= 0 else "-"
        return (f"resized  {c.name}: {hexa(old.size)} -> {hexa(new.size)} "
                f"({sign}{size_text(abs(d))})")
    if c.what == "realigned":
        return f"realigned {c.name}: align {hexa(old.align or 1)} -> {hexa(new.align or 1)}"
    if c.what == "content":
        return f"content  {c.name}: sha256 {(old.sha256 or '')[:12]} -> {(new.sha256 or '')[:12]}"
    return f"kind     {c.name}: {old.kind} -> {new.kind}"


def _space_bounds(old: Space | None, new: Space | None) -> str | None:
    if old is None or new is None:
        return None
    if (old.start, old.size, old.unit) == (new.start, new.size, new.unit):
        return None
    return (f"bounds   start {hexa(old.start)} -> {hexa(new.start)}, size "
            f"{'-' if old.size is None else hexa(old.size)} -> "
            f"{'-' if new.size is None else hexa(new.size)}, unit {old.unit} -> {new.unit}")


def render_diff(diff: LayoutDiff, golden: Layout, actual: Layout,
                ignore: Collection[str] = ()) -> list[str]:
    """The lines a failing ``assert_layout`` shows, per space (empty when they match)."""
    lines: list[str] = []
    if golden.target != actual.target:
        lines.append(f"target: {golden.target} -> {actual.target}")
    for s in diff.spaces:
        body = [_change_line(c) for c in diff.changes if c.space == s.name
                and c.what not in ignore]
        bounds = _space_bounds(s.old, s.new)
        if bounds:
            body.insert(0, bounds)
        body += [f"overlap  {o.a.name} {_span(o.a.start, o.a.size)} and {o.b.name} "
                 f"{_span(o.b.start, o.b.size)}" for o in diff.new_overlaps
                 if o.space == s.name]
        if s.old is None or s.new is None:
            body.insert(0, "space added" if s.old is None else "space removed")
        if not body:
            continue
        lines.append(f"space {s.name}:")
        lines += [f"  {line}" for line in body]
        delta = s.headroom_delta
        if delta:
            lines.append(f"  headroom {hexa(s.old_headroom or 0)} -> {hexa(s.new_headroom or 0)}"
                         f" ({delta:+#x})")
    return lines


def check_layout(actual: Layout, golden: Layout, ignore: Collection[str] = ()) -> list[str]:
    """The differences that make ``actual`` not match ``golden`` (empty: they match)."""
    unknown = set(ignore) - set(CHANGE_KINDS)
    if unknown:
        raise ValueError(f"ignore: unknown change kind(s) {sorted(unknown)}; "
                         f"known: {', '.join(CHANGE_KINDS)}")
    return render_diff(compare(golden, actual), golden, actual, ignore)


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
            problems = check_layout(load_layout(obtained), load_layout(expected), ignore)
            if problems:
                raise AssertionError(
                    f"layout differs from the golden {expected} (obtained: {obtained}); "
                    f"{UPDATE_OPTION} rewrites it\n" + "\n".join(problems))

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

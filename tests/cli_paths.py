"""Paths as users type them: the working directories and spellings the CLI tests run with.

A command is run from a working directory that is not the config's directory, in one of
three ways (``MODES``):

* ``dot``: from inside the ``-d`` directory, which is given as ``-d .``;
* ``sibling``: from a sibling directory, ``-d ../x``, every other path relative too;
* ``absolute``: from an unrelated directory, every path absolute.

The console scripts installed next to the interpreter are run as subprocesses, so the
working directory is the process's own, as in a shell.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from conftest import require

MODES = ("dot", "sibling", "absolute")


@dataclass(frozen=True)
class Tree:
    """``conf/`` (the config), ``x/`` (the ``-d`` directory), ``out/`` (outputs named on the
    command line), ``work/`` (``-w``) and ``cwd`` (where the command runs)."""

    mode: str
    root: Path
    cwd: Path

    @property
    def conf(self) -> Path:
        return self.root / "conf"

    @property
    def data(self) -> Path:
        return self.root / "x"

    @property
    def out(self) -> Path:
        return self.root / "out"

    @property
    def work(self) -> Path:
        return self.root / "work"

    def arg(self, path: Path) -> str:
        """``path`` as typed in this mode: relative to ``cwd``, or absolute."""
        if self.mode == "absolute":
            return str(path)
        rel = os.path.relpath(path, self.cwd)
        return "." if rel == "." else rel

    @property
    def d(self) -> str:
        """The ``-d`` argument: ``.``, ``../x`` or the absolute path."""
        return self.arg(self.data)


def make_tree(tmp: Path, mode: str) -> Tree:
    """Create the directories for ``mode`` under ``tmp`` (``tmp`` itself holds nothing else)."""
    assert mode in MODES, mode
    for name in ("conf", "x", "out", "work", "run"):
        (tmp / name).mkdir(exist_ok=True)
    cwd = tmp / "x" if mode == "dot" else tmp / "run"
    return Tree(mode, tmp, cwd)


def script(name: str) -> Path:
    """The installed console script ``name`` (skips locally, fails in CI, if missing)."""
    exe = Path(sys.executable).parent / name
    require(exe.exists(), f"{name} is not installed next to {sys.executable} (run ci/setup.sh)")
    return exe


def run_cli(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a console script (``argv[0]`` is its name) in ``cwd``; never raises on failure."""
    return subprocess.run([str(script(argv[0])), *argv[1:]], cwd=cwd, capture_output=True,
                          text=True, check=False, env={**os.environ, "LC_ALL": "C"})

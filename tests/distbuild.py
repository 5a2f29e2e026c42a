"""Build bootproof's distribution and install it into fresh virtualenvs outside the repository.

The tests that use this (``tests/dist``, and the e2e run of ``examples/ci-project``) check
what a user of the wheel gets, so nothing here points into the checkout except the build's
source directory. One build serves the whole test session, pytest-xdist workers included: the
first worker builds under a file lock in the directory the workers share, the others reuse it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest

from bootproof.harness.core.cache import cache_lock

REPO = Path(__file__).resolve().parents[1]
PIP_TIMEOUT = 900  # seconds: a first install may compile pylibfdt from its source


def project_version() -> str:
    """The version written in pyproject.toml (the one source of it)."""
    with open(REPO / "pyproject.toml", "rb") as fh:
        version: str = tomllib.load(fh)["project"]["version"]
    return version


@dataclass(frozen=True)
class Dist:
    """The wheel and the sdist of one build."""

    wheel: Path
    sdist: Path


def run(argv: list[str | Path], *, cwd: Path, timeout: float = PIP_TIMEOUT,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``argv``; fail the test with the command's output when it exits non-zero."""
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False, env=env)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(str(a) for a in argv)} exited {proc.returncode}\n"
                    f"--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}",
                    pytrace=False)
    return proc


def shared_dir(factory: pytest.TempPathFactory, name: str) -> Path:
    """A directory shared by every xdist worker of this run (the session's own otherwise)."""
    base = factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent
    return base / name


def build_dist(factory: pytest.TempPathFactory) -> Dist:
    """``python -m build`` (sdist, then the wheel built from the sdist), once per run."""
    out = shared_dir(factory, "dist")
    with cache_lock(out.parent, "dist"):
        wheels = sorted(out.glob("bootproof-*.whl"))
        sdists = sorted(out.glob("bootproof-*.tar.gz"))
        if not (wheels and sdists):
            run([sys.executable, "-m", "build", "--outdir", out, REPO], cwd=out.parent)
            wheels = sorted(out.glob("bootproof-*.whl"))
            sdists = sorted(out.glob("bootproof-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, (wheels, sdists)
    return Dist(wheels[0], sdists[0])


def fresh_venv(path: Path, *requirements: str | Path, cwd: Path) -> Path:
    """A new virtualenv at ``path`` (outside the repository) with ``requirements`` installed
    by pip from the package index (local wheels and project paths as given); returns its
    ``bin`` directory."""
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    bindir = path / "bin"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    run([bindir / "python", "-m", "pip", "install", "-q", "--disable-pip-version-check",
         *requirements], cwd=cwd, env=env)
    return bindir


def installed_wheel(factory: pytest.TempPathFactory, *extras: str) -> tuple[Dist, Path]:
    """The wheel installed (with ``extras``) into a fresh venv shared by the run's workers;
    returns the build and the venv's ``bin`` directory."""
    dist = build_dist(factory)
    name = "venv-" + ("-".join(extras) or "plain")
    path = shared_dir(factory, name)
    with cache_lock(path.parent, name):
        bindir = path / "bin"
        if not (path / ".installed").is_file():
            spec = f"{dist.wheel}[{','.join(extras)}]" if extras else str(dist.wheel)
            bindir = fresh_venv(path, spec, cwd=path.parent)
            (path / ".installed").write_text(spec)
    return dist, bindir

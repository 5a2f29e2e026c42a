"""The distribution: ``python -m build`` makes a wheel and an sdist that pass ``twine check``,
and the wheel, installed into a fresh venv outside the repository, brings every data file a
boot needs and finds it through the import system."""

from __future__ import annotations

import json
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from distbuild import REPO, Dist, build_dist, installed_wheel, project_version, run

pytestmark = pytest.mark.dist

#: Repository folder -> where the wheel installs it.
DATA_FOLDERS = {
    "qemu_configs": "bootproof/qemu_configs",
    "examples/xen": "bootproof/examples/xen",
    "harness/guests": "bootproof/harness/guests",
}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    return build_dist(tmp_path_factory)


def _metadata(wheel: Path) -> dict[str, list[str]]:
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        msg = Parser().parsestr(zf.read(name).decode())
    out: dict[str, list[str]] = {}
    for key, value in msg.items():
        out.setdefault(key, []).append(value)
    return out


def test_wheel_carries_every_data_file(dist: Dist) -> None:
    with zipfile.ZipFile(dist.wheel) as zf:
        names = set(zf.namelist())
    missing = []
    for folder, installed in DATA_FOLDERS.items():
        files = [p for p in (REPO / folder).rglob("*")
                 if p.is_file() and "__pycache__" not in p.parts]
        assert files, folder
        for path in files:
            want = f"{installed}/{path.relative_to(REPO / folder).as_posix()}"
            if want not in names:
                missing.append(want)
    assert not missing
    assert not [n for n in names if n.split("/")[0] in ("builder", "harness", "tests")]
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


def test_metadata_has_one_version_and_the_licence(dist: Dist) -> None:
    meta = _metadata(dist.wheel)
    assert meta["Version"] == [project_version()]
    assert meta["License-Expression"] == ["Apache-2.0"]
    assert meta["License-File"] == ["LICENSE"]
    assert "Typing :: Typed" in meta["Classifier"]
    assert dist.wheel.name == f"bootproof-{project_version()}-py3-none-any.whl"


def test_wheel_registers_the_pytest_plugin(dist: Dist) -> None:
    import configparser

    with zipfile.ZipFile(dist.wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt"))
        parser = configparser.ConfigParser()
        parser.read_string(zf.read(name).decode())
    assert dict(parser["pytest11"]) == {"bootproof": "bootproof.harness.pytest_plugin"}


def test_sdist_is_the_whole_source(dist: Dist) -> None:
    with tarfile.open(dist.sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    for want in ("pyproject.toml", "LICENSE", "CHANGELOG.md", "README.md", "MANIFEST.in",
                 "tests/conftest.py", "docs/xen-script.md", "ci/setup.sh",
                 "qemu_configs/riscv32-virt.toml", "harness/guests/loader.c"):
        assert want in names, want


def test_twine_check_passes(dist: Dist, tmp_path: Path) -> None:
    proc = run([sys.executable, "-m", "twine", "check", "--strict", dist.wheel, dist.sdist],
               cwd=tmp_path)
    assert proc.stdout.count("PASSED") == 2, proc.stdout


PROBE = """
import json, importlib.util
from bootproof.harness.core.boards import CONFIGS_DIR, load_board
from bootproof.harness.guests.build import SOURCE_DIR
from bootproof.harness.xen.scenarios import EXAMPLE_DIR
from bootproof.harness.xen.xen_build import FRAGMENT, parse_fragment
from bootproof.harness.xous.example import BOARD_CSV, BOARD_SVD
print(json.dumps({
    "boards": [str(load_board(n).path) for n in ("riscv32-virt", "aarch64-virt")],
    "configs": str(CONFIGS_DIR),
    "fragment": str(FRAGMENT), "fragment_options": len(parse_fragment(FRAGMENT)),
    "example": str(EXAMPLE_DIR / "config"),
    "guests": sorted(p.name for p in SOURCE_DIR.iterdir() if p.suffix in (".c", ".S", ".ld")),
    "csv": str(BOARD_CSV), "svd": str(BOARD_SVD),
    "top_level": [n for n in ("builder", "harness", "qemu_configs", "examples")
                  if importlib.util.find_spec(n) is not None],
}))
"""


def test_installed_wheel_finds_its_data_outside_the_repository(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    _, bindir = installed_wheel(tmp_path_factory)
    venv_root = bindir.parent.resolve()
    proc = run([bindir / "python", "-c", PROBE], cwd=tmp_path)
    found = json.loads(proc.stdout)
    paths = [*found["boards"], found["configs"], found["fragment"], found["example"],
             found["csv"], found["svd"]]
    for text in paths:
        path = Path(text).resolve()
        assert path.exists(), text
        assert path.is_relative_to(venv_root), text
        assert not path.is_relative_to(REPO), text
    assert found["fragment_options"] > 0
    repo_guests = sorted(p.name for p in (REPO / "harness" / "guests").iterdir()
                         if p.suffix in (".c", ".S", ".ld"))
    assert found["guests"] == repo_guests
    assert found["top_level"] == []


def test_version_option_prints_the_project_version(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    _, bindir = installed_wheel(tmp_path_factory)
    proc = run([bindir / "bootproof", "--version"], cwd=tmp_path)
    assert proc.stdout.strip() == f"bootproof {project_version()}"

"""The distribution installs one import namespace, ``bootproof.*``, and every package in it."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]


def _setuptools() -> dict[str, Any]:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        table: dict[str, Any] = tomllib.load(fh)["tool"]["setuptools"]
    return table


def test_every_package_folder_is_listed_under_the_bootproof_namespace() -> None:
    table = _setuptools()
    on_disk: set[str] = set()
    for name, folder in table["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            on_disk.add(".".join((name, *rel.parts)))
    assert sorted(table["packages"]) == sorted(on_disk)


def test_no_top_level_builder_or_harness_is_installed() -> None:
    table = _setuptools()
    assert all(name.startswith("bootproof.") for name in table["packages"])
    assert set(table["package-dir"]) == {"bootproof.builder", "bootproof.harness",
                                         "bootproof.qemu_configs", "bootproof.examples"}


def test_data_folders_stay_at_the_top_and_install_in_the_namespace() -> None:
    table = _setuptools()
    assert table["package-dir"]["bootproof.qemu_configs"] == "qemu_configs"
    assert table["package-dir"]["bootproof.examples"] == "examples"

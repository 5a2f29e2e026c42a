"""The package's public names (docs/xen-script.md): importable from ``bootproof.builder.xen``,
the same objects as in their home modules, and loaded only when used, so a program that
needs one submodule (the disk builder reads the config model) does not import the
generator with it."""

from __future__ import annotations

import subprocess
import sys

import pytest

import bootproof.builder.xen as xen
from bootproof.builder.xen import GenerateOptions, LoadLine, generate, load_config, with_overrides
from bootproof.builder.xen.config import load_config as home_load_config
from bootproof.builder.xen.config.overrides import with_overrides as home_with_overrides
from bootproof.builder.xen.generator import generate as home_generate
from bootproof.builder.xen.script import LoadLine as HomeLoadLine
from bootproof.builder.xen.steps import GenerateOptions as HomeOptions


def test_public_names_are_the_home_modules_objects() -> None:
    assert (generate, GenerateOptions, load_config, with_overrides, LoadLine) == (
        home_generate, HomeOptions, home_load_config, home_with_overrides, HomeLoadLine)
    assert set(xen.__all__) <= set(dir(xen))


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'genrate'"):
        getattr(xen, "genrate")  # noqa: B009


def _modules_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return set(out.split())


def test_the_config_model_alone_does_not_import_the_generator() -> None:
    loaded = _modules_after("import bootproof.builder.xen.config.model")
    assert "bootproof.builder.xen.config.model" in loaded
    assert "bootproof.builder.xen.generator" not in loaded
    assert "bootproof.builder.xen.plan" not in loaded


def test_a_public_name_imports_its_home_on_first_use() -> None:
    loaded = _modules_after("from bootproof.builder.xen import generate")
    assert "bootproof.builder.xen.generator" in loaded

"""Shared test helpers.

Tests that need an external program (QEMU, a cross compiler, mtools...) call
:func:`require_tool`. Locally a missing tool skips the test with the reason; in CI
(``CI=true``) the set-up installs every tool, so a missing one fails the test instead of
letting a skip pass for green.

bootproof's pytest plugin is not named here: the installed distribution registers it
through its ``pytest11`` entry point (naming it here too would register it twice).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import Section

FIXTURES = Path(__file__).parent / "fixtures"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(available: bool, reason: str) -> None:
    """Skip (locally) or fail (in CI) with ``reason`` unless ``available``: what CI sets up
    must never be missing there, and a skip must not pass for green."""
    if available:
        return
    if in_ci():
        pytest.fail(reason)
    pytest.skip(reason)


def elf_section(elf: ELFFile, name: str) -> Section:
    """The section ``name`` of ``elf`` read with pyelftools; the test fails when it is missing."""
    section = elf.get_section_by_name(name)
    assert section is not None, f"{elf.stream.name}: no section {name}"
    return section


def require_tool(*names: str) -> None:
    """Skip (locally) or fail (in CI) unless every program in ``names`` is on PATH."""
    missing = [n for n in names if shutil.which(n) is None]
    require(not missing, f"missing tool(s): {', '.join(missing)} (run ci/setup.sh)")


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES

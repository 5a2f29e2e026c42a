"""Kconfig fragment handling of the Xen source build (the build itself runs in e2e)."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.errors import ConfigError
from harness.xen_build import FRAGMENT, missing_options, parse_fragment


def test_bundled_fragment_has_the_dom0less_options() -> None:
    opts = parse_fragment(FRAGMENT)
    for name in ("CONFIG_UNSUPPORTED", "CONFIG_STATIC_MEMORY", "CONFIG_BOOT_TIME_CPUPOOLS",
                 "CONFIG_SCHED_NULL", "CONFIG_STATIC_SHM"):
        assert opts[name] == "y"


def test_bad_fragment_line_is_named(tmp_path: Path) -> None:
    p = tmp_path / "frag.config"
    p.write_text("# comment\nCONFIG_A=y\nNOT_A_CONFIG\n")
    with pytest.raises(ConfigError) as info:
        parse_fragment(p)
    assert info.value.line == 3
    assert str(p) in str(info.value)


def test_empty_fragment_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "frag.config"
    p.write_text("# nothing\n")
    with pytest.raises(ConfigError, match="no option"):
        parse_fragment(p)


def test_missing_options_reports_dropped_ones() -> None:
    resolved = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"x\"\n"
    assert missing_options({"CONFIG_A": "y", "CONFIG_B": "y", "CONFIG_C": '"x"'},
                           resolved) == ["CONFIG_B=y"]

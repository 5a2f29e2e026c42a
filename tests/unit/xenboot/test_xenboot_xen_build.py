"""Kconfig fragment handling of the Xen source build (the build itself runs in e2e)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bootproof.builder.errors import ConfigError, ToolError
from bootproof.harness.core.errors import InfrastructureError
from bootproof.harness.xen.xen_build import (
    FRAGMENT,
    _make,
    ensure_built_xen,
    missing_options,
    parse_fragment,
)


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


def _fake_build(root: Path, fragment: Path, version: str) -> Path:
    import hashlib
    import json

    out = root / "xen-build" / f"{version}-x"
    out.mkdir(parents=True)
    (out / "xen").write_bytes(b"xen " + version.encode())
    (out / "config").write_text("CONFIG_A=y\n")
    (out / "build.json").write_text(json.dumps({
        "source_version": version,
        "fragment_sha256": hashlib.sha256(fragment.read_bytes()).hexdigest(),
        "xen_sha256": hashlib.sha256((out / "xen").read_bytes()).hexdigest(),
        "build_seconds": 1.5}))
    return out


def test_cached_build_is_reused_offline_and_keyed_by_fragment(tmp_path: Path) -> None:
    frag = tmp_path / "frag.config"
    frag.write_text("CONFIG_A=y\n")
    out = _fake_build(tmp_path / "cache", frag, "4.17.5-1")
    got = ensure_built_xen(tmp_path / "cache", frag, offline=True, progress=None)
    assert got.path == out / "xen"
    assert (got.source_version, got.fetched) == ("4.17.5-1", False)
    # another fragment is another build: not in the cache, and offline forbids building
    frag.write_text("CONFIG_A=y\nCONFIG_B=y\n")
    with pytest.raises(ToolError, match="offline"):
        ensure_built_xen(tmp_path / "cache", frag, offline=True, progress=None)


def test_tampered_cached_build_is_not_used(tmp_path: Path) -> None:
    frag = tmp_path / "frag.config"
    frag.write_text("CONFIG_A=y\n")
    out = _fake_build(tmp_path / "cache", frag, "4.17.5-1")
    (out / "xen").write_bytes(b"something else")
    with pytest.raises(ToolError):
        ensure_built_xen(tmp_path / "cache", frag, offline=True, progress=None)


def test_missing_cross_compiler_names_its_apt_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frag = tmp_path / "frag.config"
    frag.write_text("CONFIG_A=y\n")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(InfrastructureError) as info:  # before any network access
        ensure_built_xen(tmp_path / "cache", frag, progress=None)
    assert info.value.program == "aarch64-linux-gnu-gcc"
    assert info.value.package == "gcc-aarch64-linux-gnu"
    assert isinstance(info.value, ToolError)


def test_failed_make_step_names_the_log_and_quotes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    make = bindir / "make"
    make.write_text("#!/bin/sh\necho \"make: *** no rule for $5\" >&2\nexit 2\n")
    make.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    log = tmp_path / "last-build.log"
    with pytest.raises(ToolError) as info:
        _make(["olddefconfig"], tmp_path, log)
    err = info.value
    assert err.returncode == 2 and err.path == str(log)
    assert "no rule for olddefconfig" in err.output
    assert log.read_text().startswith(
        "$ make -C xen XEN_TARGET_ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- olddefconfig\n")

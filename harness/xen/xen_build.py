"""Build Xen (arm64) from Debian's ``xen`` source package with a Kconfig fragment.

Debian's binary hypervisor lacks static memory, boot-time cpupools and the null scheduler,
which dom0less tests need. This module fetches the source package through a private apt
state with ``deb-src`` lines (see :mod:`bootproof.harness.xen.assets`), verifies every file against
the signed index, unpacks it with ``dpkg-source -x`` (Debian's patches applied), merges the
fragment into ``xen/.config`` with ``olddefconfig``, checks that every ``=y`` option of the
fragment survived, and cross-builds with ``aarch64-linux-gnu-``.

Builds are cached under ``<cache>/xen-build/<version>-<fragment sha256[:16]>/``; a later call
with the same fragment reuses the newest such build without network access.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bootproof.builder.errors import ConfigError, ToolError
from bootproof.builder.fileio import atomic_write
from bootproof.builder.tools import run_tool
from bootproof.harness.core.boards import CONFIGS_DIR
from bootproof.harness.core.cache import cache_lock, cache_root
from bootproof.harness.core.inputfiles import sha256_of
from bootproof.harness.core.toolchain import find_tool
from bootproof.harness.xen.debian import AptState, download

SOURCE_PACKAGE = "xen"
CROSS_COMPILE = "aarch64-linux-gnu-"
FRAGMENT = CONFIGS_DIR / "xen-dom0less.config"


@dataclass(frozen=True)
class BuiltXen:
    """A hypervisor built from source: the binary, its ``.config`` and where it came from."""

    path: Path
    config: Path
    source_version: str
    fragment_sha256: str
    build_seconds: float
    fetched: bool  # False when reused from the cache

    @property
    def syms(self) -> Path | None:
        """``xen-syms``, the hypervisor ELF with symbols (for gdb), when the build kept it
        (builds made before it was kept have none: ``--refresh`` rebuilds)."""
        path = self.path.with_name("xen-syms")
        return path if path.is_file() else None


def parse_fragment(path: Path) -> dict[str, str]:
    """Read a Kconfig fragment: ``CONFIG_X=value`` lines, comments and blanks ignored.

    Raises :class:`ConfigError` naming the line for anything else.
    """
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read Kconfig fragment: {exc.strerror}", path=path) from exc
    options: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.startswith("CONFIG_") or not value:
            raise ConfigError("expected CONFIG_NAME=value", path=path, line=lineno,
                              value=line)
        options[key] = value
    if not options:
        raise ConfigError("fragment sets no option", path=path)
    return options


def missing_options(fragment: dict[str, str], config_text: str) -> list[str]:
    """Options of ``fragment`` whose value did not make it into a resolved ``.config``."""
    have: dict[str, str] = {}
    for line in config_text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.startswith("CONFIG_"):
            have[key] = value
    return [f"{k}={v}" for k, v in fragment.items() if have.get(k) != v]


def _cached(build_root: Path, frag_sha: str) -> BuiltXen | None:
    best: tuple[float, BuiltXen] | None = None
    for info_path in build_root.glob("*/build.json"):
        try:
            info = json.loads(info_path.read_text())
        except (OSError, ValueError):
            continue
        xen = info_path.parent / "xen"
        if info.get("fragment_sha256") != frag_sha or not xen.is_file():
            continue
        if sha256_of(xen) != info.get("xen_sha256"):
            continue
        built = BuiltXen(path=xen, config=info_path.parent / "config",
                         source_version=str(info.get("source_version")),
                         fragment_sha256=frag_sha,
                         build_seconds=float(info.get("build_seconds", 0.0)), fetched=False)
        mtime = info_path.stat().st_mtime
        if best is None or mtime > best[0]:
            best = (mtime, built)
    return None if best is None else best[1]


def _make(args: list[str], cwd: Path, log: Path) -> None:
    run_tool(["make", "-C", "xen", "XEN_TARGET_ARCH=arm64", f"CROSS_COMPILE={CROSS_COMPILE}",
              *args], cwd=cwd, log=log)


def ensure_built_xen(
    root: Path | None = None,
    fragment: Path = FRAGMENT,
    *,
    offline: bool = False,
    refresh: bool = False,
    jobs: int | None = None,
    progress: TextIO | None = sys.stderr,
) -> BuiltXen:
    """Return a Xen built with ``fragment``; build it (and fetch its source) if not cached.

    Raises :class:`ConfigError` for a malformed fragment or one whose options Kconfig
    dropped (a dependency missing), :class:`ToolError` when offline with nothing cached, or
    when apt, ``dpkg-source``, the compiler or ``make`` fail (the build log path is named).
    """
    root = cache_root() if root is None else root
    options = parse_fragment(fragment)
    frag_sha = sha256_of(fragment)
    build_root = root / "xen-build"
    build_root.mkdir(parents=True, exist_ok=True)
    with cache_lock(root, "xen-build"):
        if not refresh:
            hit = _cached(build_root, frag_sha)
            if hit is not None:
                return hit
        if offline:
            raise ToolError("no Xen built with this fragment in the cache and offline mode "
                            "forbids fetching the source", path=fragment)
        find_tool(CROSS_COMPILE + "gcc")
        apt = AptState(root / "apt-src", with_sources=True)
        apt.update(progress)
        files = apt.source_uris(SOURCE_PACKAGE)
        src_dir = root / "xen-src"
        for rec in files:
            path = src_dir / rec.filename
            if not (path.is_file() and sha256_of(path) == rec.sha256):
                download(rec, src_dir, progress)
        dsc = next(r for r in files if r.filename.endswith(".dsc"))
        version = dsc.version
        out_dir = build_root / f"{version}-{frag_sha[:16]}"
        work = build_root / f"work-{os.getpid()}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        try:
            tree = work / "src"
            # Every file was checked against the signed index above; the .dsc's own
            # signature cannot be checked without the uploaders' keys, hence --no-check.
            unpack = ["dpkg-source", "--no-check", "-x", str(src_dir / dsc.filename), str(tree)]
            run_tool(unpack)
            log = build_root / "last-build.log"
            log.write_text("")
            shutil.copyfile(fragment, tree / "xen" / ".config")
            if progress is not None:
                print(f"xen-build: building Xen {version} with {fragment.name} "
                      f"(log {log})", file=progress, flush=True)
            start = time.monotonic()
            _make(["olddefconfig"], tree, log)
            config_text = (tree / "xen" / ".config").read_text()
            lost = missing_options(options, config_text)
            if lost:
                raise ConfigError("Kconfig dropped these options (a dependency is missing): "
                                  + ", ".join(lost), path=fragment)
            _make([f"-j{jobs or os.cpu_count() or 1}"], tree, log)
            seconds = time.monotonic() - start
            xen = tree / "xen" / "xen"
            out_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(xen, out_dir / "xen")
            if (tree / "xen" / "xen-syms").is_file():  # the ELF with symbols, for --gdb
                shutil.copyfile(tree / "xen" / "xen-syms", out_dir / "xen-syms")
            shutil.copyfile(tree / "xen" / ".config", out_dir / "config")
            shutil.copyfile(log, out_dir / "build.log")
            info = {"source_version": version, "fragment_sha256": frag_sha,
                    "xen_sha256": sha256_of(out_dir / "xen"), "build_seconds": seconds,
                    "source_files": [r.to_json() for r in files]}
            atomic_write(out_dir / "build.json", json.dumps(info, indent=2) + "\n")
            if progress is not None:
                print(f"xen-build: done in {seconds:.1f} s -> {out_dir / 'xen'}",
                      file=progress, flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return BuiltXen(path=out_dir / "xen", config=out_dir / "config", source_version=version,
                        fragment_sha256=frag_sha, build_seconds=seconds, fetched=True)

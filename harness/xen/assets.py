"""Guest assets from Debian arm64 packages: fetch once into a cache, then reuse offline.

The pipeline is ``resolve -> download -> verify -> unpack -> manifest``:

* **resolve** runs apt with a *private* state directory inside the cache (``apt/``; see
  :mod:`bootproof.harness.xen.debian`, which does the talking to Debian).
* **download** fetches each ``.deb`` over HTTP with a progress line, into ``debs/``.
* **verify** checks the size and SHA-256 that apt took from the signed index.
* **unpack** runs ``dpkg-deb -x`` (no root) into ``unpacked/<name>_<version>/``.
* **manifest** ``manifest.json`` records name, version, file and sha256 for every package.

A second call finds the manifest, re-hashes the cached ``.deb`` files and returns without
touching the network. Nothing fetched belongs in the repository.

The cache directory is :func:`bootproof.harness.core.cache.cache_root`.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bootproof.builder.errors import FormatError, ToolError
from bootproof.builder.fileio import atomic_write
from bootproof.harness.core.cache import cache_lock, cache_root
from bootproof.harness.core.inputfiles import sha256_of
from bootproof.harness.xen.debian import (
    AptState,
    PackageRecord,
    download,
    unpack_deb,
)

XEN_PACKAGE = "xen-hypervisor-4.17-arm64"
BUSYBOX_PACKAGE = "busybox-static"

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class Manifest:
    """The list of cached packages, as stored in ``manifest.json``."""

    packages: tuple[PackageRecord, ...]

    def get(self, name: str) -> PackageRecord | None:
        for rec in self.packages:
            if rec.name == name:
                return rec
        return None

    def to_text(self) -> str:
        body = {"format": MANIFEST_FORMAT, "packages": [p.to_json() for p in self.packages]}
        return json.dumps(body, indent=2, sort_keys=True) + "\n"

    @staticmethod
    def load(path: Path) -> Manifest:
        """Read a manifest; raises :class:`FormatError` if it is not one."""
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise FormatError(f"cannot read manifest: {exc}", path=path) from exc
        if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
            raise FormatError("unknown manifest format", path=path, field="format",
                              value=data.get("format") if isinstance(data, dict) else None)
        pkgs = data.get("packages")
        if not isinstance(pkgs, list):
            raise FormatError("no package list", path=path, field="packages")
        return Manifest(tuple(PackageRecord.from_json(p, path=path) for p in pkgs
                              if isinstance(p, dict)))


@dataclass(frozen=True)
class GuestAssets:
    """Paths of the unpacked guest binaries plus the manifest they came from."""

    root: Path
    manifest: Manifest
    xen: Path
    kernel: Path
    busybox: Path
    fetched: bool  # False when everything came from the cache

    def record(self, role: str) -> PackageRecord:
        names = {"xen": XEN_PACKAGE, "busybox": BUSYBOX_PACKAGE}
        name = names.get(role) or next(p.name for p in self.manifest.packages
                                       if p.name.startswith("linux-image-"))
        rec = self.manifest.get(name)
        assert rec is not None
        return rec


def _unpacked_dir(root: Path, rec: PackageRecord) -> Path:
    return root / "unpacked" / f"{rec.name}_{rec.version.replace(':', '%3a')}"


def cache_is_valid(root: Path, manifest: Manifest) -> bool:
    """True when every package in ``manifest`` is cached with the recorded SHA-256 and unpacked."""
    for rec in manifest.packages:
        deb = root / "debs" / rec.filename
        if not deb.is_file() or deb.stat().st_size != rec.size or sha256_of(deb) != rec.sha256:
            return False
        if not _unpacked_dir(root, rec).is_dir():
            return False
    return True


def _locate(root: Path, manifest: Manifest, *, fetched: bool) -> GuestAssets:
    def tree(name: str) -> Path:
        rec = manifest.get(name)
        if rec is None:
            raise FormatError("package missing from manifest", path=root / MANIFEST_NAME,
                              field="name", value=name)
        return _unpacked_dir(root, rec)

    kernel_rec = next((p for p in manifest.packages if p.name.startswith("linux-image-")), None)
    if kernel_rec is None:
        raise FormatError("no kernel package in manifest", path=root / MANIFEST_NAME)
    xen_dir = tree(XEN_PACKAGE) / "boot"
    xens = sorted(p for p in xen_dir.glob("xen-*-arm64") if p.is_file())
    kernels = sorted((_unpacked_dir(root, kernel_rec) / "boot").glob("vmlinuz-*"))
    busybox = tree(BUSYBOX_PACKAGE) / "bin" / "busybox"
    for label, found in (("xen", xens), ("kernel", kernels), ("busybox", [busybox])):
        if not found or not found[0].is_file():
            raise FormatError("expected file not found in unpacked package", path=root,
                              field=label)
    return GuestAssets(root=root, manifest=manifest, xen=xens[0], kernel=kernels[0],
                       busybox=busybox, fetched=fetched)


def ensure_guest_assets(
    root: Path | None = None,
    *,
    offline: bool = False,
    refresh: bool = False,
    progress: TextIO | None = sys.stderr,
) -> GuestAssets:
    """Make the arm64 Xen, kernel and busybox available; fetch only what the cache lacks.

    With a valid cache (manifest present, every ``.deb`` hashing to its recorded SHA-256 and
    unpacked) this makes no network access, unless ``refresh`` asks for a new resolve.
    Raises :class:`ToolError` when the cache is incomplete and ``offline`` is set, or when
    apt, the download or ``dpkg-deb`` fails.
    """
    root = cache_root() if root is None else root
    with cache_lock(root, "assets"):
        return _ensure_locked(root, offline=offline, refresh=refresh, progress=progress)


def _ensure_locked(
    root: Path, *, offline: bool, refresh: bool, progress: TextIO | None
) -> GuestAssets:
    manifest_path = root / MANIFEST_NAME
    if manifest_path.is_file() and not refresh:
        manifest = Manifest.load(manifest_path)
        if cache_is_valid(root, manifest):
            return _locate(root, manifest, fetched=False)
    if offline:
        raise ToolError("guest assets are not cached and offline mode forbids fetching them",
                        path=manifest_path)
    apt = AptState(root / "apt")
    apt.update(progress)
    names = [XEN_PACKAGE, apt.resolve_kernel(), BUSYBOX_PACKAGE]
    recs = apt.binary_uris(names)
    for rec in recs:
        deb = root / "debs" / rec.filename
        if not (deb.is_file() and sha256_of(deb) == rec.sha256):
            download(rec, root / "debs", progress)
        elif progress is not None:
            print(f"assets: {rec.filename}: cached", file=progress, flush=True)
        unpack_deb(deb, _unpacked_dir(root, rec))
    manifest = Manifest(tuple(recs))
    atomic_write(manifest_path, manifest.to_text())
    return _locate(root, manifest, fetched=True)

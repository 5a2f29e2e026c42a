"""Debian arm64 packages fetched without root and without the system's apt configuration.

* :class:`AptState` runs apt with a *private* state directory (its own ``sources.list``,
  lists, archive cache; ``APT::Architecture=arm64``) and its own ``update``; the system's
  apt configuration is never read for sources nor written. It resolves package names and
  their URLs, sizes and SHA-256 (:func:`parse_print_uris`), taken from the signed index.
* :func:`download` fetches one file over HTTP with a progress line and verifies it.
* :func:`unpack_deb` runs ``dpkg-deb -x`` (no root).

Used by the guest assets (:mod:`bootproof.harness.xen.assets`) and the Xen source build
(:mod:`bootproof.harness.xen.xen_build`).
"""

from __future__ import annotations

import hashlib
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO
from urllib.parse import unquote

from bootproof.builder.errors import FormatError, ToolError
from bootproof.builder.fileio import atomic_write
from bootproof.builder.tools import run_tool

DEBIAN_URL = "http://deb.debian.org/debian"
SECURITY_URL = "http://deb.debian.org/debian-security"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
SUITE = "bookworm"

KERNEL_META_PACKAGE = "linux-image-arm64"


@dataclass(frozen=True)
class PackageRecord:
    """One fetched package: what apt said about it and where it sits in the cache."""

    name: str
    version: str
    filename: str
    sha256: str
    size: int
    url: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "version": self.version,
            "file": self.filename,
            "sha256": self.sha256,
            "size": self.size,
            "url": self.url,
        }

    @staticmethod
    def from_json(data: Mapping[str, object], *, path: Path) -> PackageRecord:
        """Parse one manifest entry; raises :class:`FormatError` naming the missing field."""
        out: dict[str, object] = {}
        for key, kind in (("name", str), ("version", str), ("file", str), ("sha256", str),
                          ("size", int)):
            value = data.get(key)
            if not isinstance(value, kind):
                raise FormatError("missing or wrong type in manifest entry", path=path,
                                  field=key, value=value)
            out[key] = value
        url = data.get("url", "")
        return PackageRecord(
            name=str(out["name"]), version=str(out["version"]), filename=str(out["file"]),
            sha256=str(out["sha256"]), size=int(str(out["size"])),
            url=url if isinstance(url, str) else "",
        )


APT_TIMEOUT = 900.0  # seconds for one apt-get call (an index update or a download)


class AptState:
    """A private apt state under ``root``: sources, lists and archive cache of our own."""

    def __init__(self, root: Path, *, with_sources: bool = False) -> None:
        self.root = root
        self.with_sources = with_sources

    @property
    def sources_list(self) -> Path:
        return self.root / "sources.list"

    def sources_text(self) -> str:
        """The private ``sources.list``: bookworm, -updates, -security main for arm64."""
        opts = f"[arch=arm64 signed-by={KEYRING}]"
        lines = [
            f"deb {opts} {DEBIAN_URL} {SUITE} main",
            f"deb {opts} {DEBIAN_URL} {SUITE}-updates main",
            f"deb {opts} {SECURITY_URL} {SUITE}-security main",
        ]
        if self.with_sources:
            # Sources from the release pocket only: the security pocket's index may name
            # source files its pool no longer serves.
            lines.append(f"deb-src [signed-by={KEYRING}] {DEBIAN_URL} {SUITE} main")
        return "\n".join(lines) + "\n"

    def options(self) -> list[str]:
        """The ``-o`` options that point apt at this state and nothing of the system's."""
        r = self.root
        pairs = [
            ("Dir::State::Lists", r / "lists"),
            ("Dir::State::status", "/dev/null"),
            ("Dir::Etc::SourceList", self.sources_list),
            ("Dir::Etc::SourceParts", "/dev/null"),
            ("Dir::Cache", r / "cache"),
            ("APT::Architecture", "arm64"),
            ("APT::Architectures", "arm64"),
            ("Debug::NoLocking", "1"),
        ]
        out: list[str] = []
        for key, value in pairs:
            out += ["-o", f"{key}={value}"]
        return out

    def update(self, progress: TextIO | None) -> None:
        """Write the sources list and run ``apt-get update`` on the private state."""
        (self.root / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (self.root / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        atomic_write(self.sources_list, self.sources_text())
        if progress is not None:
            print("assets: apt-get update (private lists)", file=progress, flush=True)
        run_tool(["apt-get", *self.options(), "-q", "update"], timeout=APT_TIMEOUT)

    def resolve_kernel(self) -> str:
        """The current ``linux-image-<abi>-arm64-unsigned`` package name."""
        out = run_tool(["apt-cache", *self.options(), "depends", KERNEL_META_PACKAGE],
                       timeout=APT_TIMEOUT).stdout
        for line in out.splitlines():
            word = line.strip()
            if word.startswith("Depends:"):
                dep = word.split(":", 1)[1].strip()
                if dep.startswith("linux-image-") and dep.endswith("-arm64"):
                    return dep + "-unsigned"
        raise ToolError(f"no linux-image dependency of {KERNEL_META_PACKAGE}",
                        argv=["apt-cache", "depends", KERNEL_META_PACKAGE], output=out)

    def binary_uris(self, names: Sequence[str]) -> list[PackageRecord]:
        """URL, size and SHA-256 of each binary package's newest version."""
        out = run_tool(["apt-get", *self.options(), "download", "--print-uris", *names],
                       timeout=APT_TIMEOUT).stdout
        recs = parse_print_uris(out)
        by_file = {r.filename: r for r in recs}
        result: list[PackageRecord] = []
        for name in names:
            match = [r for f, r in by_file.items() if f.startswith(name + "_")]
            if not match:
                raise ToolError(f"apt did not offer package {name}", output=out)
            result.append(match[0])
        return result

    def source_uris(self, name: str) -> list[PackageRecord]:
        """URL, size and SHA-256 of each file of a source package (``.dsc`` and tarballs)."""
        out = run_tool(["apt-get", *self.options(), "source", "--print-uris", name],
                       timeout=APT_TIMEOUT).stdout
        recs = parse_print_uris(out)
        if not any(r.filename.endswith(".dsc") for r in recs):
            raise ToolError(f"no .dsc for source package {name}", output=out)
        return recs


def parse_print_uris(text: str) -> list[PackageRecord]:
    """Parse apt's ``--print-uris`` lines: ``'URL' FILE SIZE SHA256:HEX``.

    Name and version are taken from the file name (``name_version_arch.deb``), with the
    ``%3a`` epoch escape undone. Lines of other shapes are ignored.
    """
    recs: list[PackageRecord] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 4 or not parts[0].startswith("'") or not parts[3].startswith("SHA256:"):
            continue
        url = parts[0].strip("'")
        filename = parts[1]
        stem = unquote(filename)
        bits = stem.split("_")
        name = bits[0]
        version = bits[1] if len(bits) > 1 else ""
        if version.endswith((".dsc", ".tar.xz", ".tar.gz", ".tar.bz2")):
            version = version.split(".orig")[0].removesuffix(".dsc")
        recs.append(PackageRecord(name=name, version=version, filename=filename,
                                  sha256=parts[3].split(":", 1)[1].lower(),
                                  size=int(parts[2]), url=url))
    return recs


def download(rec: PackageRecord, dest_dir: Path, progress: TextIO | None) -> Path:
    """Fetch ``rec.url`` into ``dest_dir/rec.filename`` with a progress line; verify it.

    The file appears only once complete and verified (a ``.part`` file is renamed).
    Raises :class:`ToolError` on a network failure, a size or a SHA-256 mismatch.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / rec.filename
    part = dest.with_name(dest.name + ".part")
    h = hashlib.sha256()
    got = 0
    start = time.monotonic()
    last = 0.0
    try:
        with urllib.request.urlopen(rec.url, timeout=60) as resp, part.open("wb") as out:
            while True:
                chunk = resp.read(1 << 18)
                if not chunk:
                    break
                out.write(chunk)
                h.update(chunk)
                got += len(chunk)
                now = time.monotonic()
                if progress is not None and (now - last > 0.5 or got == rec.size):
                    last = now
                    pct = 100.0 * got / rec.size if rec.size else 100.0
                    print(f"\rassets: {rec.filename}: {got >> 10} / {rec.size >> 10} KiB "
                          f"({pct:5.1f}%)", end="", file=progress, flush=True)
    except (urllib.error.URLError, OSError) as exc:
        part.unlink(missing_ok=True)
        raise ToolError(f"download failed: {exc}", path=rec.url) from exc
    if progress is not None:
        rate = got / max(time.monotonic() - start, 1e-3) / (1 << 20)
        print(f"\rassets: {rec.filename}: {got >> 10} KiB done ({rate:.1f} MiB/s)"
              + " " * 10, file=progress, flush=True)
    if got != rec.size or h.hexdigest() != rec.sha256:
        part.unlink(missing_ok=True)
        raise ToolError(f"downloaded file does not match the index (size {got}, expected "
                        f"{rec.size}; sha256 {h.hexdigest()}, expected {rec.sha256})",
                        path=rec.url)
    part.replace(dest)
    return dest


def unpack_deb(deb: Path, dest: Path) -> Path:
    """Unpack a ``.deb`` with ``dpkg-deb -x`` (no root) into ``dest``; returns ``dest``.

    Unpacks into a sibling temporary directory first, so ``dest`` is complete or absent.
    """
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    run_tool(["dpkg-deb", "-x", deb, tmp], timeout=APT_TIMEOUT)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest

"""Version probes for a run record: QEMU's ``--version``, version strings inside binaries
(U-Boot, Linux), bootproof's own version and commit. Answers about a file are kept in the
asset cache, keyed by what identifies the file's content.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import os
import re
import subprocess
import zlib
from pathlib import Path
from typing import Any

from bootproof.harness.core.cache import cache_root
from bootproof.harness.core.inputfiles import sha256_of


def _facts_dir() -> Path:
    return cache_root() / "facts"


def _cached_fact(key: str, compute: Any) -> str | None:
    """A fact about a file, kept in the cache under ``key`` (which must identify the file's
    content); ``compute()`` runs when it is not there. Cache trouble only costs the lookup."""
    path = _facts_dir() / key
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return path.read_text(encoding="utf-8").strip() or None
    value = compute()
    if value:
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}")
            tmp.write_text(value + "\n", encoding="utf-8")
            os.replace(tmp, path)
    return value if value else None


@functools.lru_cache(maxsize=8)
def _qemu_version(binary: str, mtime_ns: int, size: int) -> str | None:
    def ask() -> str | None:
        try:
            r = subprocess.run([binary, "--version"], capture_output=True, text=True,
                               timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return None
        m = re.search(r"version (\S+(?: \([^)]*\))?)", r.stdout)
        return m.group(1) if m else None

    key = hashlib.sha256(f"{binary}\0{mtime_ns}\0{size}".encode()).hexdigest()[:32]
    return _cached_fact(f"qemu-version-{key}", ask)


def qemu_version(binary: str | Path) -> str | None:
    """What ``binary --version`` says (e.g. ``7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)``);
    None when it cannot be run. Kept in the cache per binary, size and modification time."""
    try:
        st = Path(binary).stat()
    except OSError:
        return None
    return _qemu_version(str(binary), st.st_mtime_ns, st.st_size)


def version_in_file(path: Path, regex: bytes, *, sha256: str | None = None) -> str | None:
    """The first match of ``regex`` (its group 1) in the bytes of ``path``, gunzipped first
    when the file is gzip; None when there is no match or the file cannot be read. Kept in
    the cache by content (``sha256``, computed when not given).

    Used for version strings that binaries carry: U-Boot's ``U-Boot 2023.01...`` banner,
    Linux's ``Linux version ...``.
    """
    pattern = re.compile(regex)

    def scan() -> str | None:
        try:
            with path.open("rb") as f:
                gz = f.read(2) == b"\x1f\x8b"
            tail = b""
            with gzip.open(path, "rb") if gz else path.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    buf = tail + chunk
                    m = pattern.search(buf)
                    if m is not None and m.end() < len(buf):
                        return m.group(1).decode("ascii", "replace")
                    tail = buf[-512:]
                m = pattern.search(tail)
                return m.group(1).decode("ascii", "replace") if m else None
        except (OSError, EOFError, zlib.error, gzip.BadGzipFile):
            return None

    try:
        digest = sha256 or sha256_of(path)
    except OSError:
        return None
    key = hashlib.sha256(regex + b"\0" + digest.encode()).hexdigest()[:32]
    return _cached_fact(f"version-{key}", scan)


@functools.lru_cache(maxsize=1)
def bootproof_version() -> str:
    """The installed bootproof version, plus the git commit when running from a checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        text = version("bootproof")
    except PackageNotFoundError:
        text = "unknown"
    commit = _git_commit(Path(__file__).resolve().parents[2])
    return f"{text} (git {commit})" if commit else text


def _git_commit(repo: Path) -> str | None:
    """HEAD's commit of a git checkout, read from ``.git`` (no git process); None otherwise."""
    git = repo / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head[:12] or None
        ref = head[5:]
        loose = git / ref
        if loose.is_file():
            return loose.read_text().strip()[:12]
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0][:12]
    except OSError:
        return None
    return None

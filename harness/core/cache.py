"""The bootproof cache: one directory per user for everything fetched or built once.

Guest assets (Debian packages, :mod:`bootproof.harness.xen.assets`), Xen built from source
(:mod:`bootproof.harness.xen.xen_build`) and cross-built guest programs
(:mod:`bootproof.harness.guests.build`) live under :func:`cache_root`; whoever fills a part
of it holds :func:`cache_lock` for that part, since parallel test workers share the cache.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Mapping
from pathlib import Path


def cache_root(environ: Mapping[str, str] | None = None) -> Path:
    """Return the cache directory (not created): ``$BOOTPROOF_CACHE``, else
    ``$XDG_CACHE_HOME/bootproof``, else ``~/.cache/bootproof``."""
    env = os.environ if environ is None else environ
    if env.get("BOOTPROOF_CACHE"):
        return Path(env["BOOTPROOF_CACHE"])
    if env.get("XDG_CACHE_HOME"):
        return Path(env["XDG_CACHE_HOME"]) / "bootproof"
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".cache" / "bootproof"


@contextlib.contextmanager
def cache_lock(root: Path, name: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``root/.NAME.lock`` for the block (``root`` is created)."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / f".{name}.lock").open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)

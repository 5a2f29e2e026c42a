"""The bootproof cache: where it is, and the lock that parallel workers share."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bootproof.harness.core.cache import cache_lock, cache_root
from bootproof.harness.guests.build import default_cache_dir


def test_cache_root_order() -> None:
    assert cache_root({"BOOTPROOF_CACHE": "/c", "XDG_CACHE_HOME": "/x", "HOME": "/h"}) == Path(
        "/c")
    assert cache_root({"XDG_CACHE_HOME": "/x", "HOME": "/h"}) == Path("/x/bootproof")
    assert cache_root({"HOME": "/h"}) == Path("/h/.cache/bootproof")


def test_guest_build_cache_follows_the_same_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/h")
    monkeypatch.setenv("XDG_CACHE_HOME", "/x")
    monkeypatch.setenv("BOOTPROOF_CACHE", "/c")
    assert default_cache_dir() == Path("/c/guests")
    monkeypatch.delenv("BOOTPROOF_CACHE")
    assert default_cache_dir() == Path("/x/bootproof/guests")
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path("/h/.cache/bootproof/guests")


def _other_process_can_lock(lock_file: Path) -> bool:
    code = ("import fcntl, sys\n"
            "with open(sys.argv[1], 'a') as f:\n"
            "    try:\n"
            "        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
            "    except BlockingIOError:\n"
            "        sys.exit(1)\n")
    return subprocess.run([sys.executable, "-c", code, str(lock_file)],
                          check=False).returncode == 0


def test_cache_lock_excludes_other_processes_until_released(tmp_path: Path) -> None:
    root = tmp_path / "new" / "cache"
    with cache_lock(root, "assets"):
        lock_file = root / ".assets.lock"
        assert lock_file.is_file()
        assert not _other_process_can_lock(lock_file)
    assert _other_process_can_lock(lock_file)

"""The files a boot reads: their digests, their record entries, and the ones a QEMU command
line names (the inputs of a run record, :mod:`bootproof.harness.core.runrecord`)."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

#: QEMU options whose value is a file the boot reads, and the ``key=`` inside option values
#: that name one (``-device loader,file=X``, ``-drive file=X``, ``-netdev user,tftp=DIR``).
_FILE_OPTIONS = ("-kernel", "-bios", "-initrd", "-dtb", "-pflash")
_FILE_KEYS = ("file", "tftp", "romfile")


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks (raises OSError)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class InputFile:
    """One file a boot read: what it is for, its absolute path, SHA-256 and size (both None
    for a directory or a file that could not be read)."""

    role: str
    path: Path
    sha256: str | None
    size: int | None

    @classmethod
    def of(cls, role: str, path: Path) -> InputFile:
        """Describe ``path`` as it is now."""
        full = path.absolute()
        try:
            if full.is_file():
                return cls(role, full, sha256_of(full), full.stat().st_size)
        except OSError:
            pass
        return cls(role, full, None, None)

    def to_json(self) -> dict[str, object]:
        return {"role": self.role, "path": str(self.path), "sha256": self.sha256,
                "size": self.size}


def argv_inputs(argv: Sequence[str]) -> list[tuple[str, str]]:
    """The files (and TFTP directories) a QEMU command line names, as (role, path) pairs in
    command-line order: the values of ``-kernel``, ``-bios``, ``-initrd``, ``-dtb`` and
    ``-pflash``, and the ``file=``, ``tftp=`` and ``romfile=`` keys of option values. Only
    paths that exist count (``-bios none`` and ``romfile=`` name no file)."""
    out: list[tuple[str, str]] = []
    for i, arg in enumerate(argv[1:], start=1):
        prev = argv[i - 1]
        if prev in _FILE_OPTIONS:
            if os.path.exists(arg):
                out.append((prev, arg))
            continue
        if not prev.startswith("-") or "=" not in arg:
            continue
        # QEMU option syntax: key=value pairs split at commas, a doubled comma is literal
        for part in re.split(r"(?<!,),(?!,)", arg):
            key, sep, value = part.partition("=")
            value = value.replace(",,", ",")
            if sep and key in _FILE_KEYS and value and os.path.exists(value):
                out.append((f"{prev} {key}=", value))
    return out

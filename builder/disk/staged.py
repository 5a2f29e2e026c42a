"""A staged rootfs tree: the directory ``mke2fs -d`` copies, plus what it cannot carry.

:mod:`bootproof.builder.disk.archive` fills a :class:`StagedTree` from an archive;
:mod:`bootproof.builder.disk.fs` builds the ext4 filesystem from it and writes the recorded
metadata (owners, special bits, device nodes, extended attributes, times) with debugfs.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from bootproof.builder.formats.cpio import Kind

DIR_BYTES = 4096  # what ``du -sb`` counts for a directory on the usual Linux filesystems


@dataclass(frozen=True)
class StagedEntry:
    """Metadata of one staged path (``""`` is the root directory).

    ``rdev`` is a device node's (major, minor); ``xattrs`` its extended attributes;
    ``link_to`` names the earlier path whose inode a hard link shares (the inode's
    metadata is that entry's).
    """

    path: str
    kind: Kind
    perm: int
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    rdev: tuple[int, int] | None = None
    xattrs: tuple[tuple[str, bytes], ...] = ()
    link_to: str | None = None


def staged_perm(kind: Kind, perm: int) -> int:
    """The permission bits the staging copy of an entry gets: the archive's, plus what
    the build needs to write it and ``mke2fs -d`` to read it (owner rwx on directories,
    rw on files and FIFOs). ``mke2fs -d`` copies them; the others are set in the image."""
    if kind is Kind.DIR:
        return perm | 0o700
    if kind is Kind.SYMLINK:
        return 0o777  # Linux symlinks have no mode of their own
    return perm | 0o600


def stamp(mtime: int) -> tuple[int, int]:
    return mtime * 1_000_000_000, mtime * 1_000_000_000


@dataclass
class StagedTree:
    """A staged directory tree plus the metadata to apply in the filesystem.

    ``content_bytes`` is what ``du -sb`` would report for the extracted tree (file sizes,
    hard links once, symlink target lengths, 4096 per directory), computed from the
    archive rather than the host filesystem so that it does not depend on the machine.
    ``root_listed`` tells whether the archive had an entry for its root directory.

    The staging copy carries what ``mke2fs -d`` copies: content, hard links between
    files, :func:`staged_perm` modes, and atime = mtime from the archive (directories get
    theirs from :meth:`settle`). Every entry is owned by ``staged_owner``.
    """

    root: Path
    source: Path | None = None
    entries: dict[str, StagedEntry] = field(default_factory=dict)
    content_bytes: int = DIR_BYTES
    files: int = 0
    root_listed: bool = False
    staged_owner: tuple[int, int] = (-1, -1)

    def __post_init__(self) -> None:
        self.entries.setdefault("", StagedEntry("", Kind.DIR, 0o755))
        if self.staged_owner == (-1, -1):
            st = os.stat(self.root)
            # new entries get the group of a set-gid directory, else ours
            gid = st.st_gid if st.st_mode & stat.S_ISGID else os.getegid()
            self.staged_owner = (os.geteuid(), gid)

    def settle(self) -> None:
        """Give the staging directories their modes and times (after the last change to
        the tree: adding an entry changes its directory's time)."""
        for rel, meta in sorted(self.entries.items(), reverse=True):
            if meta.kind is Kind.DIR and rel:
                path = self.root / rel
                os.chmod(path, staged_perm(Kind.DIR, meta.perm))
                os.utime(path, ns=stamp(meta.mtime))


def linked_in_staging(kind: Kind) -> bool:
    """Whether hard links of ``kind`` are made in the staging directory, for ``mke2fs -d``
    to copy: regular files and FIFOs. It makes device nodes not at all and copies a hard
    link to a symlink as a second symlink, so those links are made in the image."""
    return kind in (Kind.FILE, Kind.FIFO)

"""Safe extraction of rootfs archives (``.cpio``, ``.cpio.gz``, ``.tar.gz``) into a staging dir.

The staging directory is only a carrier for ``mke2fs -d``: ownership, permissions and
times are recorded per entry in a :class:`StagedTree` and applied to the filesystem
afterwards (:mod:`bootproof.builder.disk.fs`), so extraction works without root and gives the same
result whoever runs it.

Refused with a :class:`~bootproof.builder.errors.FormatError` naming the archive and the member:
absolute member paths, ``..`` components, paths that pass through a symlink or a file,
relative symlinks whose target climbs out of the root, hard links to anything but an
earlier regular file, device nodes and sockets, bad magic, truncated or corrupt gzip
streams. Nothing is ever written outside the staging directory. (Absolute symlink targets
such as ``/bin/busybox`` are kept: they are resolved inside the guest's root.)
"""

from __future__ import annotations

import gzip
import os
import posixpath
import stat
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO

from bootproof.builder.errors import FormatError, InputError
from bootproof.builder.formats.cpio import CpioEntry, Kind, iter_newc

ARCHIVE_SUFFIXES = (".cpio", ".cpio.gz", ".tar.gz")
DIR_BYTES = 4096  # what ``du -sb`` counts for a directory on the usual Linux filesystems
_CHUNK = 1 << 20


@dataclass(frozen=True)
class StagedEntry:
    """Metadata of one staged path (``""`` is the root directory)."""

    path: str
    kind: Kind
    perm: int
    uid: int = 0
    gid: int = 0
    mtime: int = 0


@dataclass
class StagedTree:
    """A staged directory tree plus the metadata to apply in the filesystem.

    ``content_bytes`` is what ``du -sb`` would report for the extracted tree (file sizes,
    hard links once, symlink target lengths, 4096 per directory), computed from the
    archive rather than the host filesystem so that it does not depend on the machine.
    """

    root: Path
    source: Path | None = None
    entries: dict[str, StagedEntry] = field(default_factory=dict)
    content_bytes: int = DIR_BYTES
    files: int = 0

    def __post_init__(self) -> None:
        self.entries.setdefault("", StagedEntry("", Kind.DIR, 0o755))


def archive_kind(path: Path) -> str:
    """``"cpio"``, ``"cpio.gz"`` or ``"tar.gz"`` from the name; InputError otherwise."""
    name = path.name
    for suffix in (".cpio.gz", ".tar.gz", ".cpio"):
        if name.endswith(suffix):
            return suffix[1:]
    raise InputError("rootfs archive must be .cpio, .cpio.gz or .tar.gz", path=path,
                     field="name", value=name)


def _clean_member(name: str, archive: Path) -> str:
    """The member's path relative to the root, or raise for absolute and ``..`` paths."""
    if "\0" in name or "\n" in name or '"' in name:
        raise FormatError("unsupported character in member name", path=archive,
                          field="member", value=name)
    if name.startswith("/"):
        raise FormatError("absolute member path", path=archive, field="member", value=name)
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise FormatError("member path contains '..'", path=archive, field="member",
                          value=name)
    return "/".join(parts)


class _Stager:
    """Writes members under ``tree.root`` without ever following a symlink."""

    def __init__(self, tree: StagedTree, archive: Path) -> None:
        self.tree = tree
        self.archive = archive
        self.links: dict[int, str] = {}  # cpio inode -> first staged path

    def _fail(self, message: str, member: str) -> FormatError:
        return FormatError(message, path=self.archive, field="member", value=member)

    def _parent(self, rel: str, member: str, mtime: int) -> None:
        """Make the parent directories of ``rel`` as real directories (never via a link)."""
        parts = rel.split("/")[:-1]
        current = self.tree.root
        for i, part in enumerate(parts):
            current = current / part
            try:
                st = os.lstat(current)
            except FileNotFoundError:
                os.mkdir(current, 0o755)
                sub = "/".join(parts[:i + 1])
                self.tree.entries[sub] = StagedEntry(sub, Kind.DIR, 0o755, mtime=mtime)
                self.tree.content_bytes += DIR_BYTES
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise self._fail("member path passes through a symlink or a file", member)

    def _clear(self, target: Path, member: str) -> None:
        """Remove an earlier non-directory at ``target`` (a later member replaces it)."""
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            raise self._fail("member replaces a directory", member)
        os.unlink(target)

    def add(self, entry: CpioEntry, member: str, body: IO[bytes] | None = None,
            hardlink_to: str | None = None) -> None:
        """Stage one member. ``body`` streams file data when ``entry.data`` is not used."""
        rel = _clean_member(member, self.archive)
        if entry.kind in (Kind.CHAR, Kind.BLOCK, Kind.SOCKET):
            raise self._fail(f"{entry.kind.name.lower()} node not allowed in a rootfs archive "
                             "(use devtmpfs)", member)
        meta = StagedEntry(rel, entry.kind, entry.perm & 0o7777, entry.uid, entry.gid,
                           entry.mtime)
        if rel == "":
            if entry.kind is not Kind.DIR:
                raise self._fail("archive root is not a directory", member)
            self.tree.entries[""] = meta
            return
        self._parent(rel, member, entry.mtime)
        target = self.tree.root / rel
        if entry.kind is Kind.DIR:
            try:
                st = os.lstat(target)
            except FileNotFoundError:
                os.mkdir(target, 0o755)
                self.tree.content_bytes += DIR_BYTES
            else:
                if not stat.S_ISDIR(st.st_mode):
                    raise self._fail("directory member replaces a file or symlink", member)
            self.tree.entries[rel] = meta
            return
        self._clear(target, member)
        if hardlink_to is not None:
            self._hardlink(rel, target, hardlink_to, member)
        elif entry.kind is Kind.SYMLINK:
            link = entry.data.decode("utf-8", errors="surrogateescape")
            if not link or "\0" in link:
                raise self._fail("empty symlink target", member)
            if not link.startswith("/"):
                resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), link))
                if resolved == ".." or resolved.startswith("../"):
                    raise self._fail(f"symlink target {link!r} escapes the archive root",
                                     member)
            os.symlink(link, target)
            self.tree.content_bytes += len(entry.data)
        elif entry.kind is Kind.FIFO:
            os.mkfifo(target, 0o644)
        else:
            self._write_file(target, entry, body)
            self.tree.content_bytes += os.lstat(target).st_size
            self.tree.files += 1
        self.tree.entries[rel] = meta

    def _write_file(self, target: Path, entry: CpioEntry, body: IO[bytes] | None) -> None:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as out:
            if body is None:
                out.write(entry.data)
                return
            while chunk := body.read(_CHUNK):
                out.write(chunk)

    def _hardlink(self, rel: str, target: Path, to: str, member: str) -> None:
        src_rel = _clean_member(to, self.archive)
        src = self.tree.root / src_rel
        existing = self.tree.entries.get(src_rel)
        if existing is None or existing.kind is not Kind.FILE:
            raise self._fail(f"hard link to {to!r}, which is not an earlier regular file",
                             member)
        os.link(src, target, follow_symlinks=False)


def _stage_cpio(fh: BinaryIO, stager: _Stager) -> None:
    for entry in iter_newc(fh, archive=stager.archive):
        if entry.kind is Kind.FILE and entry.nlink > 1:
            first = stager.links.get(entry.ino)
            if first is not None:
                if entry.data:  # GNU cpio puts the data on the last link
                    path = stager.tree.root / first
                    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW)
                    with os.fdopen(fd, "wb") as out:
                        out.write(entry.data)
                    stager.tree.content_bytes += len(entry.data)
                stager.add(entry, entry.name, hardlink_to=first)
                continue
            stager.links[entry.ino] = _clean_member(entry.name, stager.archive)
        stager.add(entry, entry.name)


def _tar_entry(info: tarfile.TarInfo, archive: Path) -> CpioEntry:
    if info.isreg():
        kind = Kind.FILE
    elif info.isdir():
        kind = Kind.DIR
    elif info.issym():
        kind = Kind.SYMLINK
    elif info.isfifo():
        kind = Kind.FIFO
    elif info.ischr():
        kind = Kind.CHAR
    elif info.isblk():
        kind = Kind.BLOCK
    elif info.islnk():
        kind = Kind.FILE
    else:
        raise FormatError("unsupported tar member type", path=archive, field="member",
                          value=info.name)
    data = info.linkname.encode("utf-8", errors="surrogateescape") if info.issym() else b""
    return CpioEntry(info.name, kind, perm=info.mode & 0o7777, data=data, uid=info.uid,
                     gid=info.gid, mtime=int(info.mtime))


def _stage_tar(path: Path, stager: _Stager) -> None:
    with tarfile.open(path, mode="r|gz") as tar:
        for info in tar:
            entry = _tar_entry(info, path)
            if info.islnk():
                stager.add(entry, info.name, hardlink_to=info.linkname)
                continue
            body = tar.extractfile(info) if info.isreg() else None
            stager.add(entry, info.name, body=body)


def extract_archive(archive: Path, staging: Path) -> StagedTree:
    """Extract ``archive`` into the (empty, existing) directory ``staging``.

    Returns the tree with per-entry metadata and its ``du -sb``-like size. Raises
    :class:`InputError` when the archive is missing or has an unknown suffix and
    :class:`FormatError` for any member or stream problem listed in the module docstring.
    """
    kind = archive_kind(archive)
    if not archive.is_file():
        raise InputError("rootfs archive not found", path=archive)
    tree = StagedTree(root=staging, source=archive)
    stager = _Stager(tree, archive)
    try:
        if kind == "tar.gz":
            _stage_tar(archive, stager)
        elif kind == "cpio.gz":
            with gzip.open(archive, "rb") as fh:
                _stage_cpio(fh, stager)  # type: ignore[arg-type]
        else:
            with open(archive, "rb") as fh:
                _stage_cpio(fh, stager)
    except FormatError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise FormatError(f"cannot read archive: {exc or type(exc).__name__}", path=archive,
                          field="format", value=kind) from exc
    except OSError as exc:
        raise InputError(f"cannot read archive: {exc}", path=archive) from exc
    return tree


def add_file(tree: StagedTree, rel: str, data: bytes, *, perm: int = 0o644,
             mtime: int = 0) -> None:
    """Add (or replace) a root-owned file at ``rel`` in a staged tree, making parents.

    Used to drop generated files (xl configs) into a rootfs. Raises :class:`FormatError`
    when the path passes through a symlink or replaces a directory.
    """
    stager = _Stager(tree, tree.source or tree.root)
    stager.add(CpioEntry(rel, Kind.FILE, perm=perm, data=data, mtime=mtime), rel)

"""Safe extraction of rootfs archives into a staging directory plus metadata.

Formats, recognised by content (:func:`bootproof.builder.formats.magic.sniff`), not by name: cpio
(newc) and tar (POSIX, GNU, V7), each plain or compressed with gzip, bzip2, xz or zstd
(:mod:`bootproof.builder.formats.compression`): the ``.cpio``, ``.cpio.gz``, ``.tar.gz`` of
ImageBuilder and the ``.tar``, ``.tar.bz2``, ``.tar.xz``, ``.tar.zst``, ``.cpio.xz``,
``.cpio.zst`` of Yocto's IMAGE_FSTYPES.

The staging directory is only a carrier for ``mke2fs -d``: regular files, directories,
symlinks, FIFOs and hard links between them are made there; ownership, permissions
(set-uid/gid and sticky bits included), times, device nodes (which an unprivileged process
cannot make) and extended attributes (tar ``SCHILY.xattr.*`` and ``LIBARCHIVE.xattr.*``
PAX records; newc cpio has no place for them) are recorded per entry in a
:class:`~bootproof.builder.disk.staged.StagedTree` and written into the filesystem afterwards
(:mod:`bootproof.builder.disk.fs`). So extraction needs no root and gives the same result whoever
runs it.

Refused with a :class:`~bootproof.builder.errors.FormatError` naming the archive and the member,
before anything is written outside the staging directory: absolute member paths, ``..``
components, paths that pass through a symlink, a file or a device node, relative symlinks
whose target climbs out of the root, hard links to anything but an earlier non-directory
member, a name met again with another type, sockets (they cannot be archived), device
numbers Linux cannot hold, unknown formats, truncated or corrupt streams, and an extracted
size over the limit (a decompression bomb; ``--max-rootfs-size``). Absolute symlink
targets such as ``/bin/busybox`` are kept: they are resolved inside the guest's root.
"""

from __future__ import annotations

import base64
import os
import posixpath
import urllib.parse
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO, Protocol

from bootproof.builder.disk.plan import DEFAULT_MAX_ROOTFS_MIB, MIB
from bootproof.builder.disk.staged import (
    DIR_BYTES,
    StagedEntry,
    StagedTree,
    linked_in_staging,
    staged_perm,
    stamp,
)
from bootproof.builder.errors import FormatError, InputError
from bootproof.builder.formats import tar
from bootproof.builder.formats.compression import decompressed
from bootproof.builder.formats.cpio import CpioEntry, Kind, stream_newc
from bootproof.builder.formats.magic import COMPRESSIONS, SNIFF_BYTES, Magic, sniff

DEFAULT_MAX_BYTES = DEFAULT_MAX_ROOTFS_MIB * MIB  # --max-rootfs-size
_CHUNK = 1 << 20
MAX_MAJOR = (1 << 12) - 1  # Linux dev_t: 12-bit major, 20-bit minor
MAX_MINOR = (1 << 20) - 1
XATTR_NAMESPACES = ("user.", "trusted.", "security.", "system.posix_acl_access",
                    "system.posix_acl_default")


def archive_format(path: Path, *, field_name: str = "rootfs") -> tuple[Magic, Magic]:
    """``(compression or NONE-as-archive, archive)`` of the file ``path``, from its content.

    The first item is the compression (:data:`Magic.GZIP`...) or, for an uncompressed
    file, the archive format itself. Raises :class:`InputError` when the file cannot be
    read and :class:`FormatError` for content that is neither cpio (newc) nor tar.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except FileNotFoundError as exc:
        raise InputError("rootfs archive not found", path=path, field=field_name) from exc
    except OSError as exc:
        raise InputError(f"cannot read archive: {exc.strerror}", path=path,
                         field=field_name) from exc
    outer = sniff(head)
    if outer in COMPRESSIONS:
        if outer in (Magic.LZ4, Magic.LZMA):
            raise FormatError(f"{outer.value}-compressed archives are not read: recompress "
                              "with gzip, bzip2, xz or zstd", path=path, field="format",
                              value=outer.value)
        inner = _inner_format(path, outer)
    else:
        inner = outer
    _check_archive(inner, path)
    return outer, inner


def _inner_format(path: Path, outer: Magic) -> Magic:
    """The archive format inside a compressed file (reads only its first bytes)."""
    head = b""
    try:
        with decompressed(path, outer, trailing_limit=1 << 62) as stream:
            head = stream.read(SNIFF_BYTES)
            raise _Sniffed
    except _Sniffed:
        pass
    return sniff(head)


class _Sniffed(Exception):
    """Ends a decompression early once the head has been read."""


def _check_archive(kind: Magic, path: Path) -> None:
    if kind in (Magic.CPIO_NEWC, Magic.TAR):
        return
    if kind in (Magic.CPIO_ODC, Magic.CPIO_BIN):
        raise FormatError(f"{kind.value} format (magic 070707 or binary) is not read: make "
                          "the archive with cpio -H newc", path=path, field="format",
                          value=kind.value)
    raise FormatError("not a cpio (newc) or tar archive, nor one compressed with gzip, "
                      "bzip2, xz or zstd", path=path, field="format", value=kind.value)


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


class _Body(Protocol):
    def read(self, n: int = -1, /) -> bytes: ...


class _Stager:
    """Writes members under ``tree.root`` without ever following a symlink.

    The staging directory is private and only this class writes to it, so what exists
    there is known from ``tree.entries``: no path is looked up on disk before writing.
    """

    def __init__(self, tree: StagedTree, archive: Path, max_bytes: int | None) -> None:
        self.tree = tree
        self.archive = archive
        self.max_bytes = max_bytes
        self.links: dict[tuple[int, int, int], str] = {}  # cpio (dev, ino) -> first path
        self.linked: dict[str, list[str]] = {}  # path -> hard links made to it

    def _fail(self, message: str, member: str) -> FormatError:
        return FormatError(message, path=self.archive, field="member", value=member)

    def _grow(self, n: int, member: str) -> None:
        """Count ``n`` more extracted bytes, refusing to pass the limit."""
        self.tree.content_bytes += n
        if self.max_bytes is not None and self.tree.content_bytes > self.max_bytes:
            raise self._fail(f"extracted size passes the limit of {self.max_bytes} bytes "
                             f"(--max-rootfs-size {self.max_bytes >> 20} MiB); a "
                             "decompression bomb, or raise the limit", member)

    def _parent(self, rel: str, member: str, mtime: int) -> None:
        """Make the parent directories of ``rel`` as real directories (never via a link)."""
        parts = rel.split("/")[:-1]
        for i in range(len(parts)):
            sub = "/".join(parts[:i + 1])
            known = self.tree.entries.get(sub)
            if known is None:
                os.mkdir(self.tree.root / sub, 0o755)
                self.tree.entries[sub] = StagedEntry(sub, Kind.DIR, 0o755, mtime=mtime)
                self._grow(DIR_BYTES, member)
            elif known.kind is not Kind.DIR:
                raise self._fail("member path passes through a symlink, a file or a device "
                                 "node", member)

    def _replace(self, rel: str, kind: Kind, member: str) -> bool:
        """Make way for a new member ``rel`` of ``kind``; True if ``rel`` is a directory
        already. Raises when a name would change its type."""
        known = self.tree.entries.get(rel)
        if known is None:
            return False
        if known.kind is Kind.DIR:
            if kind is Kind.DIR:
                return True
            raise self._fail("member replaces a directory (a name may not change type)",
                             member)
        if known.kind is not kind:
            raise self._fail(f"member changes the type of an earlier member of that name "
                             f"({known.kind.name.lower()} to {kind.name.lower()})", member)
        self._unlink(rel, known)
        return False

    def _unlink(self, rel: str, known: StagedEntry) -> None:
        """Remove an earlier non-directory ``rel``, keeping the hard links made to it."""
        if known.rdev is None and (known.link_to is None or linked_in_staging(known.kind)):
            os.unlink(self.tree.root / rel)
        del self.tree.entries[rel]
        if known.link_to is not None:
            self.linked[known.link_to].remove(rel)
            return
        others = self.linked.pop(rel, [])
        if others:  # the first remaining link now carries the inode's metadata
            heir, rest = others[0], others[1:]
            self.tree.entries[heir] = replace(known, path=heir, link_to=None)
            for other in rest:
                self.tree.entries[other] = replace(self.tree.entries[other], link_to=heir)
            self.linked[heir] = rest
        elif known.kind is Kind.FILE:
            self.tree.files -= 1

    def add(self, entry: CpioEntry, member: str, body: _Body | None = None, *,
            xattrs: tuple[tuple[str, bytes], ...] = ()) -> None:
        """Stage one member. ``body`` streams file data when ``entry.data`` is not used."""
        rel = _clean_member(member, self.archive)
        if entry.kind is Kind.SOCKET:
            raise self._fail("a socket cannot be archived (it exists only while a program "
                             "listens on it): leave it out of the rootfs", member)
        rdev = None
        if entry.kind in (Kind.CHAR, Kind.BLOCK):
            if entry.rdev_major > MAX_MAJOR or entry.rdev_minor > MAX_MINOR:
                raise self._fail(f"device number {entry.rdev_major}:{entry.rdev_minor} is "
                                 "past Linux's 12-bit major and 20-bit minor", member)
            rdev = (entry.rdev_major, entry.rdev_minor)
        if not (0 <= entry.uid <= 0xFFFFFFFF and 0 <= entry.gid <= 0xFFFFFFFF):
            raise self._fail(f"owner {entry.uid}:{entry.gid} does not fit in 32 bits", member)
        meta = StagedEntry(rel, entry.kind, entry.perm & 0o7777, entry.uid, entry.gid,
                           entry.mtime, rdev, xattrs)
        if rel == "":
            if entry.kind is not Kind.DIR:
                raise self._fail("archive root is not a directory", member)
            self.tree.entries[""] = meta
            self.tree.root_listed = True
            return
        self._parent(rel, member, entry.mtime)
        exists = self._replace(rel, entry.kind, member)
        target = self.tree.root / rel
        if entry.kind is Kind.DIR:
            if not exists:
                os.mkdir(target, 0o755)
                self._grow(DIR_BYTES, member)
        elif entry.kind is Kind.SYMLINK:
            link = entry.data.decode("utf-8", errors="surrogateescape")
            if not link or "\0" in link:
                raise self._fail("empty symlink target", member)
            if not link.startswith("/"):
                resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), link))
                if resolved == ".." or resolved.startswith("../"):
                    raise self._fail(f"symlink target {link!r} escapes the archive root",
                                     member)
            self._grow(len(entry.data), member)
            os.symlink(link, target)
            os.utime(target, ns=stamp(entry.mtime), follow_symlinks=False)
        elif entry.kind is Kind.FIFO:
            os.mkfifo(target, 0o600)
            os.chmod(target, staged_perm(Kind.FIFO, meta.perm))
            os.utime(target, ns=stamp(entry.mtime))
        elif entry.kind is Kind.FILE:
            self._write_file(target, entry, body, member)
            self.tree.files += 1
        self.tree.entries[rel] = meta

    def hardlink(self, member: str, to: str) -> None:
        """Stage ``member`` as a hard link to the earlier member ``to``."""
        rel = _clean_member(member, self.archive)
        src_rel = _clean_member(to, self.archive)
        source = self.tree.entries.get(src_rel)
        if source is None or source.kind is Kind.DIR or src_rel == rel:
            raise self._fail(f"hard link to {to!r}, which is not an earlier regular file "
                             "(or other non-directory member) of the archive", member)
        owner = source.link_to or src_rel
        self._parent(rel, member, source.mtime)
        self._replace(rel, source.kind, member)
        if linked_in_staging(source.kind):
            os.link(self.tree.root / src_rel, self.tree.root / rel, follow_symlinks=False)
        self.tree.entries[rel] = replace(self.tree.entries[owner], path=rel, link_to=owner)
        self.linked.setdefault(owner, []).append(rel)

    def _write_file(self, target: Path, entry: CpioEntry, body: _Body | None,
                    member: str) -> None:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            if body is None:
                self._grow(len(entry.data), member)
                out.write(entry.data)
            else:
                while chunk := body.read(_CHUNK):
                    self._grow(len(chunk), member)
                    out.write(chunk)
            out.flush()
            os.fchmod(fd, staged_perm(Kind.FILE, entry.perm))
            os.utime(fd, ns=stamp(entry.mtime))

    def fill_link_data(self, rel: str, body: _Body, member: str) -> None:
        """Write the data GNU cpio puts on the last name of a hard-linked file into the
        file staged for its first name."""
        path = self.tree.root / rel
        self.tree.content_bytes -= os.lstat(path).st_size  # a writer that repeats the data
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_NOFOLLOW)
        with os.fdopen(fd, "wb") as out:
            while chunk := body.read(_CHUNK):
                self._grow(len(chunk), member)
                out.write(chunk)
            out.flush()
            os.utime(fd, ns=stamp(self.tree.entries[rel].mtime))


def _stage_cpio(fh: BinaryIO, stager: _Stager) -> None:
    for entry, content in stream_newc(fh, archive=stager.archive):
        if entry.kind is not Kind.DIR and entry.nlink > 1:
            key = (entry.dev_major, entry.dev_minor, entry.ino)
            first = stager.links.get(key)
            if first is not None:
                if content.size and entry.kind is Kind.FILE:
                    stager.fill_link_data(first, content, entry.name)
                stager.hardlink(entry.name, first)
                continue
            stager.links[key] = _clean_member(entry.name, stager.archive)
        stager.add(entry, entry.name, body=content)


_TAR_KINDS = {**dict.fromkeys(tar.REGULAR, Kind.FILE), tar.DIRECTORY: Kind.DIR,
              tar.SYMLINK: Kind.SYMLINK, tar.FIFO: Kind.FIFO, tar.CHAR: Kind.CHAR,
              tar.BLOCKDEV: Kind.BLOCK, b"D": Kind.DIR}  # D: a GNU incremental directory


def _xattrs(member: tar.TarMember, stager: _Stager) -> tuple[tuple[str, bytes], ...]:
    """Extended attributes from the pax records of GNU tar/star (``SCHILY.xattr.NAME``,
    raw value) and libarchive (``LIBARCHIVE.xattr.URL-ENCODED-NAME``, base64 value)."""
    found: dict[str, bytes] = {}
    for key, raw in member.pax.items():
        if key.startswith("SCHILY.xattr."):
            name = key[len("SCHILY.xattr."):]
        elif key.startswith("LIBARCHIVE.xattr."):
            name = urllib.parse.unquote(key[len("LIBARCHIVE.xattr."):])
            try:
                raw = base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=True)
            except ValueError as exc:
                raise stager._fail(f"extended attribute {name!r}: bad base64 value",
                                   member.name) from exc
        else:
            continue
        if (not name.startswith(XATTR_NAMESPACES) or len(name.encode()) > 255
                or any(c in name for c in ' "\n\0\\')):
            raise stager._fail(f"extended attribute {name!r} cannot be stored in ext4",
                               member.name)
        found[name] = raw
    return tuple(sorted(found.items()))


def _stage_tar(fh: BinaryIO, stager: _Stager) -> None:
    for member, content in tar.stream_tar(fh, archive=stager.archive):
        if member.type == tar.HARDLINK:
            stager.hardlink(member.name, member.linkname)
            continue
        kind = _TAR_KINDS.get(member.type)
        if kind is None:
            if member.type == b"V":  # a GNU volume label: not a file
                continue
            raise stager._fail(f"unsupported tar member type {member.type!r}", member.name)
        data = (member.linkname.encode("utf-8", errors="surrogateescape")
                if kind is Kind.SYMLINK else b"")
        entry = CpioEntry(member.name, kind, perm=member.mode, data=data, uid=member.uid,
                          gid=member.gid, mtime=member.mtime, rdev_major=member.devmajor,
                          rdev_minor=member.devminor)
        stager.add(entry, member.name, body=content if kind is Kind.FILE else None,
                   xattrs=_xattrs(member, stager))


def extract_archive(archive: Path, staging: Path, *,
                    max_bytes: int | None = DEFAULT_MAX_BYTES) -> StagedTree:
    """Extract ``archive`` into the (empty, existing) directory ``staging``.

    Returns the tree with per-entry metadata and its ``du -sb``-like size. ``max_bytes``
    bounds that size (``None``: no bound). Raises :class:`InputError` when the archive is
    missing or unreadable and :class:`FormatError` for any member or stream problem
    listed in the module docstring.
    """
    outer, inner = archive_format(archive)
    tree = StagedTree(root=staging, source=archive)
    stager = _Stager(tree, archive, max_bytes)
    trailing = max_bytes if max_bytes is not None else 1 << 62
    try:
        with decompressed(archive, outer, trailing_limit=trailing) as fh:
            if inner is Magic.TAR:
                _stage_tar(fh, stager)
            else:
                _stage_cpio(fh, stager)
    except FormatError:
        raise
    except OSError as exc:
        raise InputError(f"cannot read archive: {exc}", path=archive) from exc
    return tree


def add_file(tree: StagedTree, rel: str, data: bytes, *, perm: int = 0o644,
             mtime: int = 0) -> None:
    """Add (or replace) a root-owned file at ``rel`` in a staged tree, making parents.

    Used to drop generated files (xl configs) into a rootfs. Raises :class:`FormatError`
    when the path passes through a symlink or replaces something other than a file.
    """
    stager = _Stager(tree, tree.source or tree.root, None)
    stager.add(CpioEntry(rel, Kind.FILE, perm=perm, data=data, mtime=mtime), rel)

"""The cpio "newc" format (``070701``, as used for Linux initramfs): reader and writer.

Writer: :func:`write_newc` turns a sequence of :class:`CpioEntry` (files, directories,
symlinks, character/block device nodes, FIFOs) into archive bytes. Output is deterministic:
inode numbers count up from 1 in entry order, times are whatever the entries carry (0 by
default), and the ``TRAILER!!!`` record ends the archive.

Reader: :func:`iter_newc` reads entries from a binary stream (``070701``, or ``070702``
whose checksum field is ignored) up to the trailer, checking the magic, the hex fields, the
name terminator and truncation. :func:`stream_newc` does the same without holding a file's
data in memory: it yields each member with a :class:`MemberData` reader of its content
(symlink targets, at most 4096 bytes as Linux allows, are read into ``data``). Both raise
:class:`~bootproof.builder.errors.FormatError` naming the archive, the member and the offset.
"""

from __future__ import annotations

import dataclasses
import enum
import io
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from bootproof.builder.errors import FormatError
from bootproof.builder.formats.members import MemberData, read_exact

MAGIC_NEWC = b"070701"
MAGIC_CRC = b"070702"
HEADER_SIZE = 110
TRAILER = "TRAILER!!!"
_MAX_NAME = 4096


class Kind(enum.Enum):
    """What an entry is; maps to the ``S_IFMT`` bits of the mode."""

    FILE = stat.S_IFREG
    DIR = stat.S_IFDIR
    SYMLINK = stat.S_IFLNK
    CHAR = stat.S_IFCHR
    BLOCK = stat.S_IFBLK
    FIFO = stat.S_IFIFO
    SOCKET = stat.S_IFSOCK


@dataclass(frozen=True)
class CpioEntry:
    """One archive member. ``data`` is the file content, or the target of a symlink.

    ``perm`` holds the permission bits (including set-uid/gid and sticky); the type comes
    from ``kind``. ``ino``, ``nlink`` and the ``dev_major``/``dev_minor`` of the filesystem
    the member came from (which, with ``ino``, identify hard links) are filled by the
    reader; the writer numbers inodes itself.
    """

    name: str
    kind: Kind
    perm: int = 0o644
    data: bytes = b""
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    rdev_major: int = 0
    rdev_minor: int = 0
    ino: int = 0
    nlink: int = 1
    dev_major: int = 0
    dev_minor: int = 0

    @property
    def mode(self) -> int:
        return self.kind.value | (self.perm & 0o7777)


def _pad4(n: int) -> int:
    return (4 - n % 4) % 4


def _header(fields: list[int]) -> bytes:
    for value in fields:
        if not 0 <= value <= 0xFFFFFFFF:
            raise FormatError("cpio header field does not fit in 32 bits", value=value)
    return MAGIC_NEWC + b"".join(b"%08X" % v for v in fields)


def _record(entry: CpioEntry, ino: int) -> bytes:
    name = entry.name.encode() + b"\0"
    if entry.kind not in (Kind.FILE, Kind.SYMLINK) and entry.data:
        raise FormatError("only files and symlinks carry data", field=entry.name,
                          value=entry.kind.name)
    nlink = 2 if entry.kind is Kind.DIR else 1
    head = _header([ino, entry.mode, entry.uid, entry.gid, nlink, entry.mtime,
                    len(entry.data), 0, 0, entry.rdev_major, entry.rdev_minor, len(name), 0])
    return (head + name + b"\0" * _pad4(HEADER_SIZE + len(name))
            + entry.data + b"\0" * _pad4(len(entry.data)))


def write_newc(entries: Iterable[CpioEntry]) -> bytes:
    """Archive bytes for ``entries`` in the given order, followed by the trailer.

    Raises :class:`FormatError` for an empty or trailer-named member, data on a member
    that cannot carry it, or a field over 32 bits.
    """
    out = io.BytesIO()
    for ino, entry in enumerate(entries, start=1):
        if not entry.name or entry.name == TRAILER or "\0" in entry.name:
            raise FormatError("bad cpio member name", field="name", value=entry.name)
        out.write(_record(entry, ino))
    out.write(_record(CpioEntry(TRAILER, Kind.FILE, perm=0), 0))
    out.write(b"\0" * _pad4(out.tell()))
    return out.getvalue()


def _parse_header(raw: bytes, *, offset: int, archive: str | None) -> list[int]:
    magic = raw[:6]
    if magic not in (MAGIC_NEWC, MAGIC_CRC):
        raise FormatError("bad cpio magic (want 070701 or 070702)", path=archive,
                          field="magic", value=magic)
    fields: list[int] = []
    for i in range(13):
        text = raw[6 + 8 * i:14 + 8 * i]
        try:
            fields.append(int(text, 16))
        except ValueError:
            raise FormatError("bad hex field in cpio header", path=archive,
                              field=f"header@{offset}", value=text) from None
    return fields


_MAX_LINK = 4096  # PATH_MAX: the longest symlink target Linux accepts


def stream_newc(fh: BinaryIO, *, archive: str | Path | None = None
                ) -> Iterator[tuple[CpioEntry, MemberData]]:
    """Yield ``(entry, content)`` for each member of a newc archive, stopping at the trailer.

    ``entry.data`` holds a symlink's target; a file's content comes from ``content``,
    which must be read (or left: the rest is skipped) before the next member is asked for.
    Raises :class:`FormatError` as :func:`iter_newc`, and for a symlink target longer
    than 4096 bytes.
    """
    where = str(archive) if archive is not None else None
    offset = 0
    while True:
        raw = read_exact(fh, HEADER_SIZE, what="a header", name=f"header@{offset}",
                          offset=offset, archive=where)
        (ino, mode, uid, gid, nlink, mtime, filesize, dmaj, dmin, rmaj, rmin, namesize,
         _check) = _parse_header(raw, offset=offset, archive=where)
        if not 1 <= namesize <= _MAX_NAME:
            raise FormatError("bad cpio name size", path=where, field=f"header@{offset}",
                              value=namesize)
        raw_name = read_exact(fh, namesize + _pad4(HEADER_SIZE + namesize), what="a name",
                               name=f"header@{offset}", offset=offset, archive=where)
        if raw_name[namesize - 1] != 0:
            raise FormatError("cpio member name not NUL-terminated", path=where,
                              field=f"header@{offset}", value=raw_name[:namesize])
        name = raw_name[:namesize - 1].decode("utf-8", errors="surrogateescape")
        if name == TRAILER:
            return
        try:
            kind = Kind(stat.S_IFMT(mode))
        except ValueError:
            raise FormatError("unknown file type in cpio mode", path=where, field=name,
                              value=mode) from None
        content = MemberData(fh, filesize, name=name, offset=offset, archive=where)
        data = b""
        if kind is Kind.SYMLINK:
            if filesize > _MAX_LINK:
                raise FormatError(f"symlink target longer than {_MAX_LINK} bytes",
                                  path=where, field=name, value=filesize)
            data = content.read()
        yield (CpioEntry(name=name, kind=kind, perm=mode & 0o7777, data=data, uid=uid,
                         gid=gid, mtime=mtime, rdev_major=rmaj, rdev_minor=rmin, ino=ino,
                         nlink=nlink, dev_major=dmaj, dev_minor=dmin), content)
        content.skip()
        read_exact(fh, _pad4(filesize), what="padding", name=name, offset=offset,
                    archive=where)
        offset += HEADER_SIZE + len(raw_name) + filesize + _pad4(filesize)


def iter_newc(fh: BinaryIO, *, archive: str | Path | None = None) -> Iterator[CpioEntry]:
    """Yield the members of a newc archive read from ``fh``, stopping at the trailer.

    Raises :class:`FormatError` on a bad magic, a non-hex field, a missing name
    terminator, an unknown file type, or when the stream ends before the trailer.
    """
    for entry, content in stream_newc(fh, archive=archive):
        if entry.kind is Kind.SYMLINK:
            yield entry
        else:
            yield dataclasses.replace(entry, data=content.read())


def read_newc(data: bytes, *, archive: str | Path | None = None) -> list[CpioEntry]:
    """All members of the newc archive ``data``. Raises as :func:`iter_newc`."""
    return list(iter_newc(io.BytesIO(data), archive=archive))


#: The other cpio header formats: "odc" (ASCII octal) and the old binary one, whose magic
#: 0o070707 is a 16-bit word in the writer's byte order. Recognised, not read.
MAGIC_ODC = b"070707"
MAGIC_BINARY = 0o070707


def is_cpio(head: bytes) -> bool:
    """True when ``head`` (a file's first bytes) starts like a cpio archive of any of the
    four header formats."""
    return (head[:6] in (MAGIC_NEWC, MAGIC_CRC, MAGIC_ODC)
            or head[:2] in (MAGIC_BINARY.to_bytes(2, "little"), MAGIC_BINARY.to_bytes(2, "big")))

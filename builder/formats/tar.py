"""Reading tar archives as a stream: POSIX (pax and ustar), GNU and V7 headers.

:func:`stream_tar` yields each member as a :class:`TarMember` with a
:class:`~bootproof.builder.formats.members.MemberData` reader of its content, reading the stream
once, front to back, so it works on a pipe from a decompressor.

Understood: 512-byte headers with their checksum; octal and base-256 numbers; the ustar
name prefix; GNU long names and link names (``L``/``K``); pax extended headers (``x``)
and global ones (``g``), of which ``path``, ``linkpath``, ``size``, ``uid``, ``gid``,
``mtime`` replace the header's fields, and every record is kept in ``TarMember.pax``
(bytes values: ``SCHILY.xattr.*`` values are raw bytes). Extended records over 1 MiB
(no real archive has them) are refused, so the reader holds at most that much metadata.
Not read: sparse members (GNU ``S`` type or ``GNU.sparse`` records, made only by
``tar --sparse``) and multi-volume archives; they raise
:class:`~bootproof.builder.errors.FormatError` naming the archive, the member and the header offset.
The archive ends at a zero block or at the end of the stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from bootproof.builder.errors import FormatError
from bootproof.builder.formats.members import MemberData, read_exact

BLOCK = 512
MAX_META = 1 << 20  # largest pax record set or GNU long name read
REGULAR = (b"0", b"\0", b"7")
HARDLINK, SYMLINK, CHAR, BLOCKDEV, DIRECTORY, FIFO = b"1", b"2", b"3", b"4", b"5", b"6"
_META = (b"x", b"g", b"L", b"K")
_ZERO = bytes(BLOCK)


@dataclass(frozen=True)
class TarMember:
    """One member's header, after pax and GNU long-name records are applied."""

    name: str
    type: bytes  # the typeflag: see REGULAR, HARDLINK, SYMLINK, ...
    mode: int
    uid: int
    gid: int
    size: int
    mtime: int
    linkname: str
    devmajor: int
    devminor: int
    pax: dict[str, bytes] = field(default_factory=dict)


def _number(raw: bytes, *, what: str, offset: int, archive: str | None) -> int:
    """An octal (NUL/space terminated) or GNU base-256 numeric header field."""
    if raw[:1] and raw[0] & 0x80:
        if raw[0] == 0xFF:
            return int.from_bytes(raw, "big", signed=True)
        return int.from_bytes(bytes([raw[0] & 0x7F]) + raw[1:], "big")
    text = raw.split(b"\0", 1)[0].strip(b" ")
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise FormatError(f"bad octal number in the tar header's {what}", path=archive,
                          field=f"header@{offset}", value=raw) from None


def _checksum_ok(block: bytes, stored: int) -> bool:
    unsigned = sum(block[:148]) + 8 * 0x20 + sum(block[156:])
    if stored == unsigned:
        return True
    signed = sum(b - 256 if b > 127 else b for b in block[:148] + block[156:]) + 8 * 0x20
    return stored == signed  # some old tars summed signed chars


def _pax_records(data: bytes, *, offset: int, archive: str | None) -> dict[str, bytes]:
    """``LENGTH KEY=VALUE\\n`` records of a pax extended header."""
    records: dict[str, bytes] = {}
    pos = 0
    while pos < len(data) and data[pos] != 0:
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space])
        except ValueError:
            length = 0
        record = data[pos:pos + length]
        if space < 0 or length <= 0 or len(record) != length or not record.endswith(b"\n") \
                or b"=" not in record:
            raise FormatError("bad pax extended header record", path=archive,
                              field=f"header@{offset}", value=data[pos:pos + 60])
        key, _, value = record[space - pos + 1:-1].partition(b"=")
        records[key.decode("utf-8", errors="surrogateescape")] = value
        pos += length
    return records


def _text(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="surrogateescape")


def _pax_int(records: dict[str, bytes], key: str, default: int, *, name: str,
             archive: str | None) -> int:
    """A numeric pax record (decimal; a fraction of a second is dropped), or ``default``."""
    if key not in records:
        return default
    text = records[key].decode("ascii", errors="replace")
    try:
        return int(text.split(".", 1)[0] or "0")
    except ValueError:
        raise FormatError(f"bad pax {key} record", path=archive, field=name,
                          value=text) from None


def _member(block: bytes, offset: int, records: dict[str, bytes], long_name: bytes | None,
            long_link: bytes | None, archive: str | None) -> TarMember:
    """The member a header ``block`` describes, with the records that precede it."""
    def num(lo: int, hi: int, what: str) -> int:
        return _number(block[lo:hi], what=what, offset=offset, archive=archive)

    kind = block[156:157]
    if "GNU.sparse.name" in records:  # pax sparse 1.0: "path" is a made-up name
        name = records["GNU.sparse.name"].decode("utf-8", errors="surrogateescape")
    elif "path" in records:
        name = records["path"].decode("utf-8", errors="surrogateescape")
    elif long_name is not None:
        name = long_name.decode("utf-8", errors="surrogateescape")
    else:
        name = _text(block[:100])
        if block[257:263] == b"ustar\0" and block[345]:  # POSIX ustar: a name prefix
            name = _text(block[345:500]) + "/" + name
    if "linkpath" in records:
        linkname = records["linkpath"].decode("utf-8", errors="surrogateescape")
    elif long_link is not None:
        linkname = long_link.decode("utf-8", errors="surrogateescape")
    else:
        linkname = _text(block[157:257])
    if kind in (b"S", b"M") or any(k.startswith("GNU.sparse.") for k in records):
        raise FormatError("sparse or multi-volume tar member is not read: make the archive "
                          "without --sparse or --multi-volume", path=archive, field=name,
                          value=offset)
    if kind in (b"\0", b"0") and name.endswith("/"):
        kind = DIRECTORY  # V7 tar marks directories by the name alone
    return TarMember(
        name=name, type=kind, mode=num(100, 108, "mode") & 0o7777,
        uid=_pax_int(records, "uid", num(108, 116, "uid"), name=name, archive=archive),
        gid=_pax_int(records, "gid", num(116, 124, "gid"), name=name, archive=archive),
        size=_pax_int(records, "size", num(124, 136, "size"), name=name, archive=archive),
        mtime=_pax_int(records, "mtime", num(136, 148, "mtime"), name=name,
                       archive=archive),
        linkname=linkname, devmajor=num(329, 337, "devmajor"),
        devminor=num(337, 345, "devminor"), pax=records)


def stream_tar(fh: BinaryIO, *, archive: str | Path | None = None
               ) -> Iterator[tuple[TarMember, MemberData]]:
    """Yield ``(member, content)`` for each member of the tar stream ``fh``.

    ``content`` must be read (or left: the rest is skipped) before the next member is
    asked for. Raises :class:`FormatError` for a bad checksum or number, a truncated
    stream, an oversized extended record, a sparse member or a multi-volume archive.
    """
    where = str(archive) if archive is not None else None
    offset = 0
    global_pax: dict[str, bytes] = {}
    pax: dict[str, bytes] = {}
    long_name: bytes | None = None
    long_link: bytes | None = None
    while True:
        block = fh.read(BLOCK)
        if not block or block == _ZERO:
            return
        if len(block) != BLOCK:
            raise FormatError("archive truncated in a header", path=where,
                              field=f"header@{offset}", value=offset)
        stored = _number(block[148:156], what="checksum", offset=offset, archive=where)
        if not _checksum_ok(block, stored):
            raise FormatError("bad tar header checksum", path=where,
                              field=f"header@{offset}", value=offset)
        kind = block[156:157]
        if kind in _META:
            size = _number(block[124:136], what="size", offset=offset, archive=where)
            if size > MAX_META:
                raise FormatError(f"extended header record of {size} bytes (over "
                                  f"{MAX_META})", path=where, field=f"header@{offset}",
                                  value=size)
            padded = size + (-size % BLOCK)
            data = read_exact(fh, padded, what="an extended header", name=f"header@{offset}",
                              offset=offset, archive=where)[:size]
            if kind == b"x":
                pax.update(_pax_records(data, offset=offset, archive=where))
            elif kind == b"g":
                global_pax.update(_pax_records(data, offset=offset, archive=where))
            elif kind == b"L":
                long_name = data.split(b"\0", 1)[0]
            else:
                long_link = data.split(b"\0", 1)[0]
            offset += BLOCK + padded
            continue
        member = _member(block, offset, {**global_pax, **pax}, long_name, long_link, where)
        padded = member.size + (-member.size % BLOCK)
        content = MemberData(fh, member.size, name=member.name, offset=offset, archive=where)
        yield member, content
        content.skip()
        read_exact(fh, padded - member.size, what="padding", name=member.name, offset=offset,
                   archive=where)
        offset += BLOCK + padded
        pax, long_name, long_link = {}, None, None

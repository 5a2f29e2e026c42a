"""Exact reads from an archive stream, and a bounded reader of one member's content.

Shared by the cpio and tar readers: :func:`read_exact` raises
:class:`~bootproof.builder.errors.FormatError` (naming the archive, the member and the offset of its
header) when the stream ends early or its decompressor reports corrupt data;
:class:`MemberData` hands a member's content to the caller chunk by chunk, never reading
past it, so no member is ever held in memory whole.
"""

from __future__ import annotations

from typing import BinaryIO

from bootproof.builder.errors import FormatError

CHUNK = 1 << 20


def read_exact(fh: BinaryIO, n: int, *, what: str, name: str, offset: int,
               archive: str | None) -> bytes:
    """Exactly ``n`` bytes of ``fh``, or :class:`FormatError` ("archive truncated in
    ``what``") naming ``name`` and ``offset``."""
    try:
        data = fh.read(n)
    except (EOFError, OSError) as exc:  # gzip streams report truncation and bad CRCs here
        raise FormatError(f"cannot read archive: {exc}", path=archive, field=name,
                          value=offset) from exc
    if len(data) != n:
        raise FormatError(f"archive truncated in {what}", path=archive, field=name,
                          value=offset)
    return data


class MemberData:
    """The content of one member, read from the archive stream as the caller asks.

    Never reads past the member; :meth:`read` raises :class:`FormatError` when the
    stream ends before the member does.
    """

    def __init__(self, fh: BinaryIO, size: int, *, name: str, offset: int,
                 archive: str | None) -> None:
        self._fh = fh
        self.size = size
        self.left = size
        self._name = name
        self._offset = offset
        self._archive = archive

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all that is left for ``n < 0``); ``b""`` at the member's end."""
        count = self.left if n < 0 else min(n, self.left)
        if count == 0:
            return b""
        data = read_exact(self._fh, count, what="member data", name=self._name,
                          offset=self._offset, archive=self._archive)
        self.left -= count
        return data

    def skip(self) -> None:
        """Read and drop what the caller left of this member."""
        while self.read(CHUNK):
            pass

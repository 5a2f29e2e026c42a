"""What a file is, from its first bytes, in the words the input type checks use.

ImageBuilder asks ``file -L`` whether a kernel is "executable", a ramdisk a "cpio archive"
and so on; :func:`file_kind` answers the same questions without a subprocess. It asks each
format module for its own magic (:mod:`.fdt`, :mod:`.cpio`, :mod:`.executable`,
:mod:`.uimage`) and names the result:

``empty``, ``dtb``, ``gzip``, ``zstd``, ``cpio``, ``arm64-image``, ``arm-zimage``,
``uimage``, ``elf``, ``pe``, ``text`` (printable with blanks or line breaks) or ``data``;
a gzip file is opened and named by its content: ``gzip-cpio``, ``gzip-arm64-image``...
(``gzip`` alone when the stream is damaged).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from pathlib import Path

from bootproof.builder.formats.cpio import is_cpio
from bootproof.builder.formats.executable import is_arm64_image, is_elf, is_pe, is_zimage
from bootproof.builder.formats.fdt import is_dtb
from bootproof.builder.formats.magic import Magic, sniff
from bootproof.builder.formats.uimage import is_uimage

#: How many leading bytes :func:`kind_of` looks at (the arm64 Image header is 64).
HEAD_SIZE = 64


def _is_gzip(head: bytes) -> bool:
    return sniff(head) is Magic.GZIP


def _is_zstd(head: bytes) -> bool:
    return sniff(head) is Magic.ZSTD


#: Each format's test and the kind it names, asked in this order.
_KINDS: tuple[tuple[Callable[[bytes], bool], str], ...] = (
    (is_dtb, "dtb"),
    (_is_gzip, "gzip"),
    (_is_zstd, "zstd"),
    (is_cpio, "cpio"),
    (is_arm64_image, "arm64-image"),
    (is_zimage, "arm-zimage"),
    (is_uimage, "uimage"),
    (is_elf, "elf"),
    (is_pe, "pe"),
)


def kind_of(head: bytes) -> str:
    """Name what a file starting with ``head`` is (see the module docstring)."""
    if not head:
        return "empty"
    for test, kind in _KINDS:
        if test(head):
            return kind
    if all(0x20 <= b < 0x7F or b in b"\t\n\r" for b in head) and any(b in b" \t\n" for b in head):
        return "text"  # printable with blanks or line breaks: a script, a config, a README
    return "data"


def file_kind(path: Path) -> str:
    """Name what the file at ``path`` is; a gzip file by what it holds (``gzip-cpio``).

    Raises :class:`OSError` when the file cannot be read.
    """
    with open(path, "rb") as fh:
        head = fh.read(HEAD_SIZE)
    kind = kind_of(head)
    if kind == "gzip":
        try:
            with gzip.open(path, "rb") as gz:
                inner = kind_of(gz.read(HEAD_SIZE))
        except (OSError, EOFError, zlib.error):  # damaged: still a gzip file, of nothing known
            return "gzip"
        return f"gzip-{inner}"
    return kind

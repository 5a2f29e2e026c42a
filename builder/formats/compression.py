"""Decompressed streams of gzip, bzip2, xz and zstd files, read through the standard tools.

:func:`decompressed` opens a file and yields a binary stream of its decompressed bytes,
produced by ``gzip -dc``, ``bzip2 -dc``, ``xz -dc`` or ``zstd -dc`` running as a child
process that reads the file on its standard input (so the file's name and the working
directory do not matter to the tool).

Why the tools and not Python modules: Python 3.11 has no zstd module, so zstd means
either the ``zstandard`` package from PyPI (a compiled extension, one more thing for the
set-up to fetch) or the ``zstd`` tool, which ``ci/setup.sh`` installs and every build
system that makes ``.tar.zst`` already has. The tool was chosen, and then used for all
four formats so that there is one way to read a compressed archive, tested by all of them,
and one way to report corrupt data (the tool's own message). The child process
decompresses on another core when one is free; on a busy two-core machine it measured the
same as :mod:`gzip` in-process (benchmark archive of ``benchmarks/disk_rootfs.py``,
extraction only: median 3.2 s both ways over five runs).

Integrity: the stream is read to its end when the caller is done, so that the checksum at
the end of a gzip/xz/zstd/bzip2 stream is verified; a non-zero exit status (gzip's 2,
"trailing garbage ignored", is only a warning) raises :class:`~bootproof.builder.errors.FormatError`
with the tool's message. Bytes after the archive's own end are read but not kept, up to
``trailing_limit``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from bootproof.builder.errors import FormatError, InputError
from bootproof.builder.formats.magic import Magic

_TOOLS = {Magic.GZIP: ["gzip", "-dc"], Magic.BZIP2: ["bzip2", "-dc"],
          Magic.XZ: ["xz", "-dc"], Magic.ZSTD: ["zstd", "-dcq"]}
_WARNING_STATUS = {Magic.GZIP: 2}
_CHUNK = 1 << 20


class TrailingDataError(FormatError):
    """More than the allowed number of bytes follow the end of the archive."""


def _tool_failure(magic: Magic, status: int, err: bytes, path: Path) -> FormatError:
    text = " ".join(err.decode("utf-8", "replace").split()) or f"exit status {status}"
    tool = _TOOLS[magic][0]
    text = text if text.startswith(tool) else f"{tool}: {text}"
    return FormatError(f"cannot decompress: {text}", path=path, field="format",
                       value=magic.value)


@contextlib.contextmanager
def decompressed(path: Path, magic: Magic, *, trailing_limit: int) -> Iterator[BinaryIO]:
    """A binary stream of ``path``'s content, decompressed when ``magic`` is a compression.

    When the caller's block ends normally, the rest of the stream is read (at most
    ``trailing_limit`` bytes, else :class:`TrailingDataError`) and the tool's exit status
    checked. If the caller raises after the stream ended early because the data is
    corrupt or truncated, the tool's message replaces the caller's error (which becomes
    its cause). Raises :class:`InputError` when the file cannot be opened or the tool is
    missing, :class:`FormatError` for corrupt data.
    """
    try:
        source = open(path, "rb")  # noqa: SIM115 - closed below, after the tool started
    except OSError as exc:
        raise InputError(f"cannot read archive: {exc.strerror}", path=path) from exc
    with source:
        if magic not in _TOOLS:
            yield source
            return
        argv = _TOOLS[magic]
        with tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.Popen(argv, stdin=source, stdout=subprocess.PIPE,
                                        stderr=err, env={**os.environ, "LC_ALL": "C"})
            except OSError as exc:
                raise InputError(f"cannot run {argv[0]} to decompress the archive "
                                 f"({exc.strerror}; run ci/setup.sh)", path=path,
                                 field="format", value=magic.value) from exc
            assert proc.stdout is not None
            stream = proc.stdout
            try:
                yield stream  # type: ignore[misc]
            except BaseException as exc:
                if not stream.read(1) and proc.wait() not in (0, _WARNING_STATUS.get(magic)):
                    err.seek(0)
                    raise _tool_failure(magic, proc.returncode, err.read(), path) from exc
                raise
            else:
                trailing = 0
                while chunk := stream.read(_CHUNK):
                    trailing += len(chunk)
                    if trailing > trailing_limit:
                        raise TrailingDataError(
                            f"more than {trailing_limit} bytes follow the end of the archive",
                            path=path, field="format", value=magic.value)
                status = proc.wait()
                if status not in (0, _WARNING_STATUS.get(magic)):
                    err.seek(0)
                    raise _tool_failure(magic, status, err.read(), path)
            finally:
                stream.close()
                if proc.poll() is None:
                    proc.kill()
                proc.wait()


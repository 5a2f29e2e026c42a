"""Output files that appear whole or not at all, and the input readers beside them.

Every file bootproof writes goes through :func:`atomic_write` or :class:`OutputSet`: the
bytes go to a temporary file in the destination directory, which is renamed over the
target only once everything succeeded. On any error the temporary files are removed, so
a failed run leaves no half-written output and never touches a pre-existing file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

from bootproof.builder.errors import FormatError, InputError


def _temp_beside(path: Path) -> tuple[int, Path]:
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise InputError("output directory does not exist", path=directory)
    if path.is_dir():
        raise InputError("output is a directory, not a file", path=path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    return fd, Path(name)


@contextlib.contextmanager
def atomic_output(path: str | Path) -> Iterator[BinaryIO]:
    """Yield a binary file object; on clean exit it replaces ``path`` atomically."""
    target = Path(path)
    fd, tmp = _temp_beside(target)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def check_outputs(outputs: Sequence[tuple[str, Path]], inputs: Sequence[Path]) -> None:
    """Refuse (InputError naming the option) an output that is one of the ``inputs`` or
    names the same file as another output; ``outputs`` pairs each with its option."""
    for i, (what, out) in enumerate(outputs):
        for other, earlier in outputs[:i]:
            if out.resolve() == earlier.resolve():
                raise InputError(f"{what} names the same file as {other}", path=out,
                                 field=what, value=str(out))
        for p in inputs:
            if out.exists() and p.exists() and out.resolve() == p.resolve():
                raise InputError("an output file is one of the inputs", path=out,
                                 field="output", value=str(out))


def read_input(path: str | Path) -> bytes:
    """The bytes of the input file ``path``; InputError naming it if it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read file ({exc.strerror})", path=path) from exc


def read_json(path: Path, what: str) -> Any:
    """The JSON document in the file ``path``. Raises InputError ("cannot read WHAT") when
    the file cannot be read, FormatError naming the file (and the line) when it is not UTF-8
    JSON."""
    import json  # only JSON readers need it: 1.6 ms of a plain create-image otherwise

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror}", path=path) from exc
    except json.JSONDecodeError as exc:
        raise FormatError(f"not JSON: {exc.msg}", path=path, line=exc.lineno) from exc
    except UnicodeDecodeError as exc:
        raise FormatError(f"not UTF-8 text: {exc.reason} at byte {exc.start}",
                          path=path) from exc


def atomic_write(path: str | Path, data: bytes | str) -> None:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` atomically."""
    with atomic_output(path) as fh:
        fh.write(data.encode() if isinstance(data, str) else data)


class OutputSet:
    """Several outputs committed together: all renamed at the end, or none.

    >>> with OutputSet() as out:            # doctest: +SKIP
    ...     out.write("boot.source", text)
    ...     out.write("boot.scr", blob)
    """

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []

    def write(self, path: str | Path, data: bytes | str) -> Path:
        target = Path(path)
        fd, tmp = _temp_beside(target)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data.encode() if isinstance(data, str) else data)
            os.chmod(tmp, 0o644)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._pending.append((tmp, target))
        return target

    def __enter__(self) -> OutputSet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            for tmp, target in self._pending:
                os.replace(tmp, target)
        else:
            for tmp, _ in self._pending:
                tmp.unlink(missing_ok=True)
        self._pending.clear()

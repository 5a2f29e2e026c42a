"""The builder's error hierarchy.

Every error a user can cause derives from :class:`BootproofError`; the command-line layer
turns it into one line on stderr and exit status 2 (3 for a ToolError, 1 for a
VerificationError), with no traceback::

    BootproofError
     +-- InputError            a file, option or field given by the user is wrong
     |    +-- ConfigError      a config file (ImageBuilder config, board file) is malformed
     |    +-- FormatError      a binary input (ELF, args.bin, DTB, archive) cannot be decoded
     +-- LayoutError           the inputs are valid one by one but do not fit together
     |    +-- OverlapError     two placed items or regions overlap
     |    +-- OverflowError_   an item runs past the end of its region or field
     |    +-- AlignmentError   an item is not at the alignment it needs
     +-- ToolError             an external tool we ran failed (its command and output kept)
     |    +-- ToolNotFoundError  the program to run does not exist
     +-- VerificationError     a signature or an authenticated encryption tag does not check
                               out with the key(s) given: a failed check, exit status 1

Errors carry the file, the field and the offending value so the message can name them;
``__cause__`` keeps the root cause where there is one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bootproof.builder.report import hex_dec


def _fmt_value(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return hex_dec(value) if abs(value) > 9 else str(value)
    if isinstance(value, (str, bytes)):
        text = repr(value)
        return text if len(text) <= 120 else text[:117] + "..."
    return repr(value)


class BootproofError(Exception):
    """Base of every error bootproof raises on purpose.

    ``path``, ``field`` and ``value`` locate the problem; ``message`` says what is wrong.
    ``str(err)`` gives a single line ``PATH: FIELD=VALUE: MESSAGE`` with the parts that are set.
    """

    _NO_VALUE: object = object()

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        field: str | None = None,
        value: object = _NO_VALUE,
        line: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = str(path) if path is not None else None
        self.field = field
        self.value = value
        self.line = line

    @property
    def has_value(self) -> bool:
        return self.value is not BootproofError._NO_VALUE

    def __str__(self) -> str:
        where = []
        if self.path is not None:
            where.append(self.path if self.line is None else f"{self.path}:{self.line}")
        if self.field is not None:
            if self.has_value:
                where.append(f"{self.field}={_fmt_value(self.value)}")
            else:
                where.append(self.field)
        elif self.has_value:
            where.append(_fmt_value(self.value))
        prefix = ": ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class InputError(BootproofError):
    """A file, option or field given by the user is wrong or missing."""


class ConfigError(InputError):
    """A config file is malformed or asks for something impossible."""


class FormatError(InputError):
    """A binary input cannot be decoded (bad magic, truncated, wrong class...)."""


class LayoutError(BootproofError):
    """Valid inputs that do not fit together in the image."""


class OverlapError(LayoutError):
    """Two placed items or regions overlap."""


class OverflowError_(LayoutError):  # trailing underscore: the builtin name is taken
    """An item runs past the end of its region, or a value past the width of its field."""


class AlignmentError(LayoutError):
    """An item is not placed at the alignment it needs."""


class ToolError(BootproofError):
    """An external tool failed. ``argv`` and ``output`` keep what was run and what it said."""

    def __init__(
        self,
        message: str,
        *,
        argv: Sequence[str] = (),
        output: str = "",
        returncode: int | None = None,
        path: str | Path | None = None,
    ) -> None:
        super().__init__(message, path=path)
        self.argv = list(argv)
        self.output = output
        self.returncode = returncode

    def __str__(self) -> str:
        text = super().__str__()
        if self.argv:
            text += f" (ran: {' '.join(self.argv)}"
            if self.returncode is not None:
                text += f", exit {self.returncode}"
            text += ")"
        tail = self.output.strip().splitlines()[-3:]
        if tail:
            text += ": " + " | ".join(tail)
        return text


class ToolNotFoundError(ToolError):
    """The program to run does not exist (``argv[0]`` names it)."""


class VerificationError(BootproofError):
    """A signed or encrypted image does not check out with the key(s) given: the check a
    command performs failed (exit status 1), the input itself may be well formed."""

    exit_code = 1

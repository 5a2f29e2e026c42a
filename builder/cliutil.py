"""What every bootproof command line shares: error reporting and exit codes.

Exit codes: 0 success; 1 the check a command performs failed (e.g. a boot did not show
what was expected); 2 bad input or usage (a :class:`~bootproof.builder.errors.BootproofError`);
3 an external tool or the machine failed; 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from bootproof.builder.errors import BootproofError, ToolError

# The number parser lives in bootproof.builder.numbers; builder/disk/cli.py and
# builder/xous/regions.py still import it from here.
from bootproof.builder.numbers import parse_int as parse_int

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TOOL = 3
EXIT_INTERRUPTED = 130


def run_main(
    prog: str,
    body: Callable[[Sequence[str] | None], int],
    argv: Sequence[str] | None,
    *,
    error_exit: int | None = None,
) -> int:
    """Run ``body(argv)`` and map the project's errors to one stderr line and an exit code.

    ``error_exit``, when given, is the status of every project error instead of the
    per-class codes above (``uboot-script-gen`` exits 1 on any error, as ImageBuilder does).
    """
    try:
        return body(argv)
    except BootproofError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        if error_exit is not None:
            return error_exit
        if isinstance(exc, ToolError):
            return EXIT_TOOL
        return int(getattr(exc, "exit_code", EXIT_USAGE))
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's line breaks (examples) and shows defaults."""


_SIZE_RE = re.compile(r"(?P<number>.*?[0-9a-fA-F_])(?P<suffix>[kKmMgG](?:[iI][bB])?)?", re.ASCII)
_SIZE_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_UNIT_NAMES = {1: "bytes", 1 << 10: "KiB", 1 << 20: "MiB", 1 << 30: "GiB"}


def parse_size(text: str, *, field: str, path: str | None = None, unit: int = 1) -> int:
    """Parse a size: a number as :func:`parse_int` reads it, with an optional ``K``, ``M`` or
    ``G`` suffix (also ``KiB``, ``MiB``, ``GiB``; any case; powers of 1024).

    A bare number counts ``unit`` bytes (1 for byte counts, 1 MiB for ``disk_image -s``);
    the result is in ``unit``s, so a suffixed size must be a whole number of them. Raises
    :class:`InputError` naming ``field`` and the text for anything else.
    """
    m = _SIZE_RE.fullmatch(text.strip())
    if m is None:
        raise InputError("not a size (a number, optionally with K, M or G)", path=path,
                         field=field, value=text)
    try:
        number = parse_int(m.group("number"), field=field, path=path)
    except InputError as exc:
        raise InputError("not a size (a number, optionally with K, M or G)", path=path,
                         field=field, value=text) from exc
    suffix = m.group("suffix")
    if suffix is None:
        return number
    size = number * _SIZE_UNITS[suffix[0].lower()]
    if size % unit:
        raise InputError(f"not a whole number of {_UNIT_NAMES.get(unit, f'{unit}-byte units')}",
                         path=path, field=field, value=text)
    return size // unit

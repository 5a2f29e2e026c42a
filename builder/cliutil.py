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

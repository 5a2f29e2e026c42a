"""Running an external program from the builder (mkimage, fdtoverlay, mkfs.vfat, mke2fs...).

One way to run a tool and report its failure: an argument list (never a shell string),
output captured as text, and a :class:`~bootproof.builder.errors.ToolError` that keeps the command
line, its exit status and its output when the program is missing or exits non-zero.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from bootproof.builder.errors import ToolError


def run_tool(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    path: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` and return the completed process (``stdout``/``stderr`` as text).

    ``env`` replaces the environment when given; ``path`` names the input the run is about
    in the error. Raises :class:`ToolError` when the program is missing or exits non-zero.
    """
    try:
        proc = subprocess.run(list(argv), cwd=cwd, env=env, input=stdin, capture_output=True,
                              text=True, check=False)
    except FileNotFoundError as exc:
        raise ToolError(f"program not found: {argv[0]}", argv=argv, path=path) from exc
    if proc.returncode != 0:
        raise ToolError(f"{Path(argv[0]).name} failed", argv=argv,
                        output=proc.stdout + proc.stderr, returncode=proc.returncode,
                        path=path)
    return proc

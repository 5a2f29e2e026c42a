"""The one way bootproof runs an external program (mkimage, mke2fs, apt-get, make, QEMU -dump...).

:func:`run_tool` takes an argument list (never a shell string), waits at most ``timeout``
seconds, captures the output (or appends it to a log file for long builds) and turns every
way a run can go wrong into a :class:`~bootproof.builder.errors.ToolError` that carries the
command line (``argv``), what the program printed (``output``) and its exit status
(``returncode``), with the underlying exception kept as ``__cause__``:

* the program does not exist: :class:`~bootproof.builder.errors.ToolNotFoundError`;
* it cannot be started (not executable, missing working directory): :class:`ToolError`;
* it runs past ``timeout``: it is killed, :class:`ToolError` with what it printed so far;
* it exits non-zero: :class:`ToolError` with its exit status and output.

The harness builds on this runner (:mod:`bootproof.harness.core.toolchain` adds the apt
package hint for a missing program); the builder never imports the harness.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, overload

from bootproof.builder.errors import ToolError, ToolNotFoundError

if TYPE_CHECKING:
    import subprocess

#: How much of a log file a failed logged run quotes in its error.
LOG_TAIL_CHARS = 4000

Argv = Sequence[str | os.PathLike[str]]


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", "replace")


@overload
def run_tool(
    argv: Argv,
    *,
    cwd: str | os.PathLike[str] | None = ...,
    env: Mapping[str, str] | None = ...,
    stdin: str | None = ...,
    timeout: float | None = ...,
    text: Literal[True] = ...,
    log: Path | None = ...,
    path: str | Path | None = ...,
) -> subprocess.CompletedProcess[str]: ...


@overload
def run_tool(
    argv: Argv,
    *,
    cwd: str | os.PathLike[str] | None = ...,
    env: Mapping[str, str] | None = ...,
    stdin: bytes | None = ...,
    timeout: float | None = ...,
    text: Literal[False],
    log: Path | None = ...,
    path: str | Path | None = ...,
) -> subprocess.CompletedProcess[bytes]: ...


def run_tool(
    argv: Argv,
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str | bytes | None = None,
    timeout: float | None = None,
    text: bool = True,
    log: Path | None = None,
    path: str | Path | None = None,
) -> subprocess.CompletedProcess[str] | subprocess.CompletedProcess[bytes]:
    """Run ``argv`` and return the completed process when it exits with status 0.

    ``stdout``/``stderr`` are captured as text (``text=True``) or bytes; ``stdin`` is fed to
    the program when given. ``env`` replaces the environment; ``timeout`` (seconds, None for
    no limit) kills the program when exceeded. With ``log``, the command line and everything
    the program prints (stdout and stderr interleaved) are appended to that file instead of
    being captured, and the returned ``stdout``/``stderr`` are empty. ``path`` names the input
    the run is about (the log file, when not given) in the error.

    Raises :class:`ToolNotFoundError` when the program does not exist and :class:`ToolError`
    when it cannot be started, times out or exits non-zero; both carry ``argv``, the output
    seen (the log's last :data:`LOG_TAIL_CHARS` characters with ``log``) and the exit status.
    Raises :class:`ValueError` for an empty ``argv``.
    """
    # Imported on the first run: uboot-script-gen imports this module but runs no program on
    # its default path, and subprocess would cost its start-up 4 ms (python -X importtime).
    import subprocess

    args = [os.fspath(a) for a in argv]
    if not args:
        raise ValueError("run_tool needs a program to run")
    name = Path(args[0]).name
    where = path if path is not None else log

    def output_so_far(stdout: str | bytes | None, stderr: str | bytes | None) -> str:
        if log is not None:
            return log.read_text(errors="replace")[-LOG_TAIL_CHARS:]
        return _text(stdout) + _text(stderr)

    try:
        if log is None:
            proc = subprocess.run(args, cwd=cwd, env=env, input=stdin, capture_output=True,
                                  text=text, timeout=timeout, check=False)
        else:
            with log.open("a") as out:
                out.write("$ " + " ".join(args) + "\n")
                out.flush()
                proc = subprocess.run(args, cwd=cwd, env=env, input=stdin, stdout=out,
                                      stderr=subprocess.STDOUT, text=text, timeout=timeout,
                                      check=False)
            proc.stdout = proc.stderr = "" if text else b""
    except FileNotFoundError as exc:
        if exc.filename not in (None, args[0]):  # the working directory is missing
            raise ToolError(f"cannot run {name}: {exc.strerror}: {exc.filename}", argv=args,
                            path=where) from exc
        raise ToolNotFoundError(f"program not found: {args[0]}", argv=args,
                                path=where) from exc
    except subprocess.TimeoutExpired as exc:
        raise ToolError(f"{name} timed out after {timeout:g} s", argv=args,
                        output=output_so_far(exc.stdout, exc.stderr), path=where) from exc
    except OSError as exc:  # not executable, exec format error...
        raise ToolError(f"cannot run {name}: {exc.strerror}", argv=args, path=where) from exc
    if proc.returncode != 0:
        raise ToolError(f"{name} failed", argv=args, returncode=proc.returncode,
                        output=output_so_far(proc.stdout, proc.stderr), path=where)
    return proc

"""The harness's failure taxonomy.

Every failure a boot can end in is one of these classes, so a report (and a CI log) says at
once whether the *machine* was broken or the *guest* was wrong::

    BootproofError                      (bootproof.builder.errors)
     +-- HarnessError                   anything the harness raises on purpose
          +-- InfrastructureError       QEMU or a toolchain program missing, broken, or QEMU
          |                             died while starting (exit code 3); also a ToolError
          |                             (bootproof.builder.errors), whose argv, output and
          |                             returncode it carries
          +-- BootFailure               the guest booted but did not do what was expected
               +-- BootTimeout          an expected line did not appear before the deadline
               +-- BadPattern           a line from the bad-pattern table appeared (panic, trap...)
               +-- UnexpectedExit       QEMU exited while we were still waiting for something
               +-- LayoutMismatch       the layout the guest printed differs from the builder's

``exit_code`` is 1 for boot failures (the check failed) and 3 for infrastructure (the
machine could not run the check). Boot failures carry ``log_path`` (the full serial log) and
``log_tail`` (its last lines) and print both, so a failing test shows where to look. Once a
boot flow has written its run record (:mod:`bootproof.harness.core.runrecord`), the error also
names the files that re-run and describe that boot (:attr:`HarnessError.run_files`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from bootproof.builder.errors import BootproofError, ToolError
from bootproof.builder.report import hex_dec

EXIT_BOOT_FAILED = 1
EXIT_INFRASTRUCTURE = 3


def _lines(text: str) -> list[str]:
    """``text`` as lines: carriage returns dropped first, so ``\\r\\n`` (U-Boot) and
    ``\\r\\r\\n`` (Xen) end one line, not two; trailing empty lines dropped."""
    return text.replace("\r", "").rstrip("\n").split("\n") if text.strip() else []


def _files_block(files: Mapping[str, str]) -> str:
    return "".join(f"\n  {label}: {path}" for label, path in files.items())


def _tail_block(log_path: str | None, log_tail: str,
                files: Mapping[str, str] = MappingProxyType({})) -> str:
    parts = []
    if log_path:
        parts.append(f"\n  serial log: {log_path}")
    parts.append(_files_block(files))
    lines = _lines(log_tail)
    if lines:
        parts.append("\n  last lines of the serial log:")
        parts.extend(f"\n    | {line}" for line in lines)
    return "".join(parts)


class HarnessError(BootproofError):
    """Base of every error the harness raises on purpose.

    ``run_files`` maps a label (``repro script``, ``run record``) to the path of a file that
    belongs to the failed boot; the message lists them. Empty until :meth:`name_files`.
    """

    exit_code: int = EXIT_BOOT_FAILED
    run_files: Mapping[str, str] = MappingProxyType({})

    def name_files(self, files: Mapping[str, str | Path]) -> None:
        """Add ``files`` (label -> path) to the ones this error's message names."""
        self.run_files = {**self.run_files, **{k: str(v) for k, v in files.items()}}


class InfrastructureError(HarnessError, ToolError):
    """QEMU or a tool is missing or broken, or QEMU exited while starting.

    ``program`` names the binary, ``package`` the apt package that provides it (when known).
    As a :class:`~bootproof.builder.errors.ToolError` it keeps ``argv`` (the command line that
    was run), ``output`` (what it printed, e.g. QEMU's stderr) and ``returncode``; its message
    shows them on lines of their own, with up to 20 lines of output.
    """

    exit_code = EXIT_INFRASTRUCTURE

    def __init__(
        self,
        message: str,
        *,
        program: str | None = None,
        package: str | None = None,
        argv: Sequence[str] = (),
        output: str = "",
        returncode: int | None = None,
        path: str | Path | None = None,
    ) -> None:
        super().__init__(message, argv=argv, output=output, returncode=returncode, path=path)
        self.program = program
        self.package = package

    def __str__(self) -> str:
        text = BootproofError.__str__(self)  # not ToolError's one-line command summary
        if self.program is not None:
            text = f"{self.program}: {text}"
        if self.package is not None:
            text += f" (install the apt package {self.package})"
        if self.argv:
            text += f"\n  command line: {' '.join(self.argv)}"
        if self.returncode is not None:
            text += f"\n  exit status: {self.returncode}"
        out = _lines(self.output.strip())[-20:]
        if out:
            text += "\n  output:" + "".join(f"\n    | {line}" for line in out)
        return text + _files_block(self.run_files)


class BootFailure(HarnessError):
    """The guest ran but did not behave as expected. Carries the serial log and its tail."""

    exit_code = EXIT_BOOT_FAILED

    def __init__(
        self,
        message: str,
        *,
        log_path: str | Path | None = None,
        log_tail: str = "",
    ) -> None:
        super().__init__(message)
        self.log_path = str(log_path) if log_path is not None else None
        self.log_tail = log_tail

    def __str__(self) -> str:
        return super().__str__() + _tail_block(self.log_path, self.log_tail, self.run_files)


class BootTimeout(BootFailure):
    """An expected pattern did not appear before its deadline.

    ``waiting_for`` names what was awaited; ``missing`` lists every expected line never seen
    (for ordered or any-order expectations); ``seconds`` is the (scaled) time allowed.
    """

    def __init__(
        self,
        message: str,
        *,
        waiting_for: str = "",
        missing: Sequence[str] = (),
        seconds: float | None = None,
        log_path: str | Path | None = None,
        log_tail: str = "",
    ) -> None:
        super().__init__(message, log_path=log_path, log_tail=log_tail)
        self.waiting_for = waiting_for
        self.missing = list(missing)
        self.seconds = seconds


class BadPattern(BootFailure):
    """A line matching the bad-pattern table appeared. ``pattern_name`` says which entry,
    ``matched_line`` is the whole console line that matched."""

    def __init__(
        self,
        message: str,
        *,
        pattern_name: str,
        matched_line: str,
        log_path: str | Path | None = None,
        log_tail: str = "",
    ) -> None:
        super().__init__(message, log_path=log_path, log_tail=log_tail)
        self.pattern_name = pattern_name
        self.matched_line = matched_line


class UnexpectedExit(BootFailure):
    """QEMU exited while the harness still waited for output. ``exitcode`` is its status
    (negative: killed by that signal; None: unknown)."""

    def __init__(
        self,
        message: str,
        *,
        exitcode: int | None,
        missing: Sequence[str] = (),
        log_path: str | Path | None = None,
        log_tail: str = "",
    ) -> None:
        super().__init__(message, log_path=log_path, log_tail=log_tail)
        self.exitcode = exitcode
        self.missing = list(missing)


class LayoutMismatch(BootFailure):
    """The layout a booted guest reported differs from the builder's layout report.

    ``differences`` holds one human-readable line per differing item.
    """

    def __init__(
        self,
        message: str,
        *,
        differences: Sequence[str],
        log_path: str | Path | None = None,
        log_tail: str = "",
    ) -> None:
        super().__init__(message, log_path=log_path, log_tail=log_tail)
        self.differences = list(differences)

    def __str__(self) -> str:
        head = BootproofError.__str__(self)
        body = "".join(f"\n  - {d}" for d in self.differences)
        return head + body + _tail_block(self.log_path, self.log_tail, self.run_files)


def _show(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return hex_dec(value)
    return repr(value)


def layout_differences(
    expected: Mapping[str, object], actual: Mapping[str, object]
) -> list[str]:
    """Compare two flat layouts (name -> value) and describe every difference.

    Returns one line per name that is missing from ``actual``, unexpected in ``actual``, or
    has a different value; an empty list when they agree. Integers are shown in hex and decimal.
    """
    diffs: list[str] = []
    for key in expected:
        if key not in actual:
            diffs.append(f"{key}: expected {_show(expected[key])}, guest did not report it")
        elif actual[key] != expected[key]:
            diffs.append(
                f"{key}: expected {_show(expected[key])}, guest reported {_show(actual[key])}"
            )
    for key in actual:
        if key not in expected:
            diffs.append(f"{key}: guest reported {_show(actual[key])}, not in the layout report")
    return diffs


def check_layout(
    expected: Mapping[str, object],
    actual: Mapping[str, object],
    *,
    log_path: str | Path | None = None,
    log_tail: str = "",
) -> None:
    """Raise :class:`LayoutMismatch` listing every difference unless the layouts agree."""
    diffs = layout_differences(expected, actual)
    if diffs:
        raise LayoutMismatch(
            f"booted layout differs from the layout report in {len(diffs)} item(s)",
            differences=diffs,
            log_path=log_path,
            log_tail=log_tail,
        )

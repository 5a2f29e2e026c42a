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
from bootproof.builder.layout.compare import Change, compare
from bootproof.builder.layout.model import AttrValue, Item, Layout, Space
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


#: The space of a flat ``name -> value`` report (:func:`flat_model`).
FLAT_SPACE = "report"


def flat_model(values: Mapping[str, object]) -> Layout:
    """A flat ``name -> value`` report as a layout: one item per name (no address) in space
    :data:`FLAT_SPACE`, its value as attr ``value`` (a value that is not a JSON scalar as
    its ``repr``), so that it is compared like any layout."""
    def scalar(v: object) -> AttrValue:
        return v if v is None or isinstance(v, str | int | bool) else repr(v)

    items = tuple(Item("value", k, None, 0, attrs={"value": scalar(v)})
                  for k, v in values.items())
    return Layout("report", (Space(FLAT_SPACE, "byte", 0, None, items),))


def _label(space: str, name: str) -> str:
    return name if space == FLAT_SPACE else f"{space} {name}"


def _describe(space: str, item: Item) -> str:
    if space == FLAT_SPACE:
        return _show(item.attrs.get("value"))
    where = "no address" if item.start is None else f"at {hex_dec(item.start)}"
    return f"{item.kind} {where}, size {hex_dec(item.size)}"


_FIELDS = {"moved": "start", "resized": "size", "realigned": "align", "kind": "kind",
           "content": "sha256"}


def _item_lines(space: str, old: Item, new: Item, changes: Sequence[Change]) -> list[str]:
    label = _label(space, old.name)
    out = [f"{label}: {_FIELDS[c.what]}: expected {_show(getattr(old, _FIELDS[c.what]))}, "
           f"guest reported {_show(getattr(new, _FIELDS[c.what]))}"
           for c in changes if c.what in _FIELDS]
    for key in list(old.attrs) + [k for k in new.attrs if k not in old.attrs]:
        head = label if space == FLAT_SPACE and key == "value" else f"{label}: {key}"
        if key not in new.attrs:
            out.append(f"{head}: expected {_show(old.attrs[key])}, guest did not report it")
        elif key not in old.attrs:
            out.append(f"{head}: guest reported {_show(new.attrs[key])}, not in the layout "
                       "report")
        elif old.attrs[key] != new.attrs[key]:
            out.append(f"{head}: expected {_show(old.attrs[key])}, guest reported "
                       f"{_show(new.attrs[key])}")
    return out


def layout_differences(expected: Layout, reported: Layout) -> list[str]:
    """Every difference between the builder's layout and what a booted guest reported, one
    readable line each (empty when they agree).

    The items are compared by :func:`bootproof.builder.layout.compare.compare` with
    ``partial=True`` (a guest reports what it saw: a space it does not report on is not
    compared, nor a field it leaves unknown), and their attrs key by key. In a space the
    guest does report on, an expected item it did not report is a difference, and so is
    an item it reported that the layout lacks. Integers show in hex and decimal.
    """
    diff = compare(expected, reported, partial=True)
    by_item: dict[tuple[str, str], list[Change]] = {}
    for c in diff.changes:
        by_item.setdefault((c.space, c.name), []).append(c)
    lines: list[str] = []
    for space in expected.spaces:
        seen = reported.space(space.name)
        if seen is None:
            continue
        for item in space.items:
            got = seen.find(item.name)
            if got is None:
                lines.append(f"{_label(space.name, item.name)}: expected "
                             f"{_describe(space.name, item)}, guest did not report it")
            else:
                lines += _item_lines(space.name, item, got,
                                     by_item.get((space.name, item.name), []))
    lines += [f"{_label(c.space, c.name)}: guest reported {_describe(c.space, c.new)}, "
              "not in the layout report" for c in diff.of("added") if c.new is not None]
    return lines


def check_layout(
    expected: Layout | Mapping[str, object],
    actual: Layout | Mapping[str, object],
    *,
    log_path: str | Path | None = None,
    log_tail: str = "",
) -> None:
    """Raise :class:`LayoutMismatch` listing every difference (:func:`layout_differences`)
    unless the layouts agree. A flat ``name -> value`` mapping is compared as its
    :func:`flat_model`."""
    exp = expected if isinstance(expected, Layout) else flat_model(expected)
    act = actual if isinstance(actual, Layout) else flat_model(actual)
    diffs = layout_differences(exp, act)
    if diffs:
        raise LayoutMismatch(
            f"booted layout differs from the layout report in {len(diffs)} item(s)",
            differences=diffs,
            log_path=log_path,
            log_tail=log_tail,
        )

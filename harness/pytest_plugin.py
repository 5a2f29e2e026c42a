"""pytest plugin: boot tests that read like the work they do.

Installed with bootproof and registered through the ``pytest11`` entry point ``bootproof``
(``-p no:bootproof`` disables it). Its options, in the "bootproof" group of ``pytest -h``:

* ``--timeout-multiplier X``: scales every :class:`~bootproof.harness.core.deadline.Deadline`
  (it sets ``BOOTPROOF_TIMEOUT_MULTIPLIER`` for the session, so commands run by tests see it
  too) and, with pytest-timeout, every test's timeout;
* ``--bootproof-cache DIR``: the cache of guest assets and cross-built guests (sets
  ``BOOTPROOF_CACHE``);
* ``--bootproof-board NAME|PATH`` (repeatable): boot on this board instead of the flow's
  default one with the same QEMU binary; tests pinned by the marker to another board are
  deselected (one CI job per board).

The marker ``@pytest.mark.bootproof(timeout=SECONDS, board=NAME)`` sets a test's boot
deadline and pins its board. Fixtures:

* ``xous_boot``, ``xen_boot``, ``xen_booted`` (boot once per session, resume per test),
  ``bootproof_assets``: see :mod:`bootproof.harness.boot_fixtures`;
* ``boot_log_dir``: a per-test directory for serial logs and QEMU output. When a test that
  used it fails, the report gets a "boot logs" section with the directory, the repro
  scripts and run records of its boots, and the tail of every serial log in it.
* ``assert_layout``: ``assert_layout(layout, "golden/app.json", ignore=())`` compares a
  layout (a ``Layout`` or a layout JSON file) with a golden layout file and fails showing
  the layout diff; ``--bootproof-update-golden`` writes missing and differing goldens. See
  :mod:`bootproof.harness.golden` (built on pytest-regressions);
* ``qemu_machine_factory``: ``factory(board_or_argv, *, extra=(), name=None, qmp=True)``
  creates and launches a :class:`~bootproof.harness.core.machine.QemuMachine` logging into
  ``boot_log_dir``; at teardown every machine is shut down and the test errors if any QEMU
  process is still alive (checked by PID).

A test then reads::

    def test_boot(qemu_machine_factory):
        machine = qemu_machine_factory(load_board("riscv32-virt"), extra=["-kernel", elf])
        machine.console.expect_ordered(["hello", "layout:"], Deadline(10))
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path

import pytest

from bootproof.builder.errors import BootproofError, ConfigError
from bootproof.harness.boot_fixtures import (
    BOARDS_KEY,
    MARKER,
    bootproof_assets,
    marker_board_name,
    xen_boot,
    xen_booted,
    xous_boot,
)
from bootproof.harness.core.boards import Board, load_board
from bootproof.harness.core.console import DEFAULT_TAIL_LINES
from bootproof.harness.core.deadline import MULTIPLIER_ENV, parse_multiplier, timeout_multiplier
from bootproof.harness.core.machine import QemuMachine
from bootproof.harness.core.processes import pid_alive
from bootproof.harness.golden import AssertLayout, LayoutGolden
from bootproof.harness.golden import add_option as add_golden_option

__all__ = ["assert_layout", "boot_log_dir", "bootproof_assets", "qemu_machine_factory",
           "xen_boot", "xen_booted", "xous_boot"]

CACHE_ENV = "BOOTPROOF_CACHE"
_LOG_DIR_KEY = pytest.StashKey[Path]()
_OLD_ENV_KEY = pytest.StashKey[dict[str, str | None]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bootproof", "bootproof: boot images under QEMU")
    group.addoption(
        "--timeout-multiplier", action="store", default=None, metavar="X",
        help=f"scale every boot deadline and test timeout by X (sets {MULTIPLIER_ENV}; "
             "default 1, or the variable's value)",
    )
    group.addoption(
        "--bootproof-cache", action="store", default=None, metavar="DIR",
        help=f"cache of guest assets and cross-built guests (sets {CACHE_ENV}; default "
             "the variable's value, else ~/.cache/bootproof)",
    )
    group.addoption(
        "--bootproof-board", action="append", default=[], metavar="NAME|PATH",
        help="boot on this board (a qemu_configs name or a .toml file) instead of the "
             "default board with the same QEMU binary; deselects tests whose "
             f"@pytest.mark.{MARKER}(board=...) names another board (repeatable)",
    )
    add_golden_option(group)


def _set_env(config: pytest.Config, name: str, value: str) -> None:
    config.stash.setdefault(_OLD_ENV_KEY, {}).setdefault(name, os.environ.get(name))
    os.environ[name] = value


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(timeout=None, board=None): the boot deadline (seconds, before "
                   "the multiplier) and the board of the test's xous_boot/xen_boot boots")
    value = config.getoption("--timeout-multiplier", default=None)
    if value is not None:
        try:
            parse_multiplier(str(value), field="--timeout-multiplier")
        except ConfigError as exc:  # a usage error: report it the way pytest reports bad options
            raise pytest.UsageError(str(exc)) from None
        _set_env(config, MULTIPLIER_ENV, str(value))
    try:
        timeout_multiplier()
    except ConfigError as exc:  # a bad BOOTPROOF_TIMEOUT_MULTIPLIER: say so before collecting
        raise pytest.UsageError(str(exc)) from None
    cache = config.getoption("--bootproof-cache", default=None)
    if cache is not None:
        _set_env(config, CACHE_ENV, str(Path(cache).absolute()))
    boards: dict[str, Board] = {}
    for spec in config.getoption("--bootproof-board", default=None) or []:
        try:
            board = load_board(spec)
        except BootproofError as exc:
            raise pytest.UsageError(f"--bootproof-board: {exc}") from None
        other = boards.setdefault(board.binary, board)
        if other is not board:
            raise pytest.UsageError(
                f"--bootproof-board: {board.name} and {other.name} both run {board.binary}; "
                "give one board per QEMU binary (one CI job per board)")
    config.stash[BOARDS_KEY] = boards


def pytest_unconfigure(config: pytest.Config) -> None:
    for name, old in config.stash.get(_OLD_ENV_KEY, {}).items():
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def pytest_report_header(config: pytest.Config) -> str:
    from bootproof.harness.version import version

    boards = ", ".join(b.name for b in config.stash.get(BOARDS_KEY, {}).values()) or "defaults"
    try:
        multiplier = f"x{timeout_multiplier():g}"
    except ConfigError as exc:
        multiplier = str(exc)
    return f"bootproof {version()}: timeout multiplier {multiplier}, boards: {boards}"


def _base_timeout(config: pytest.Config) -> float:
    """pytest-timeout's own setting: ``--timeout``, else ``PYTEST_TIMEOUT``, else the ini
    ``timeout`` (0: none)."""
    for value in (config.getoption("timeout", None), os.environ.get("PYTEST_TIMEOUT"),
                  config.getini("timeout")):
        if value not in (None, ""):
            return float(str(value))
    return 0.0


def scale_test_timeouts(items: Sequence[pytest.Item], config: pytest.Config,
                        multiplier: float) -> None:
    """Give every item a ``timeout`` marker scaled by ``multiplier``: its own marker's
    value, else pytest-timeout's setting. Items without any timeout stay without one."""
    base = _base_timeout(config)
    for item in items:
        mark = item.get_closest_marker("timeout")
        kwargs = dict(mark.kwargs) if mark is not None else {}
        seconds = (mark.args[0] if mark is not None and mark.args
                   else kwargs.pop("timeout", None) if mark is not None else base)
        if seconds is None or float(seconds) <= 0:
            continue
        kwargs.pop("timeout", None)
        item.add_marker(pytest.mark.timeout(float(seconds) * multiplier, *(
            mark.args[1:] if mark is not None else ()), **kwargs), append=False)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    boards = {b.name for b in config.stash.get(BOARDS_KEY, {}).values()}
    if boards:
        keep: list[pytest.Item] = []
        dropped: list[pytest.Item] = []
        for item in items:
            pinned = marker_board_name(item)
            (keep if pinned is None or pinned in boards else dropped).append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep
    multiplier = timeout_multiplier()
    if multiplier != 1.0 and config.pluginmanager.hasplugin("timeout"):
        scale_test_timeouts(items, config, multiplier)


@pytest.fixture
def assert_layout(request: pytest.FixtureRequest) -> AssertLayout:
    """``assert_layout(layout, golden_path, ignore=())``: see :mod:`bootproof.harness.golden`."""
    return LayoutGolden(request)


@pytest.fixture
def boot_log_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A per-test directory for boot logs (under pytest's tmp dir; kept after the run)."""
    path = tmp_path / "boot-logs"
    path.mkdir()
    request.node.stash[_LOG_DIR_KEY] = path
    return path


def _tail(path: Path, n: int) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").replace("\r", "").splitlines()
    except OSError as exc:
        return f"(cannot read: {exc.strerror})"
    return "\n".join(lines[-n:]) if lines else "(empty)"


def boot_log_summary(log_dir: Path, lines: int = DEFAULT_TAIL_LINES) -> str:
    """The text added to a failed test's report: the directory, the scripts that re-run its
    boots and their run records, then each serial log's tail and any QEMU stderr output
    (the boot fixtures' per-boot folders included)."""
    parts = [f"boot logs in {log_dir}"]
    for script in sorted(log_dir.rglob("*.repro.sh")):
        parts.append(f"repro script: {script}")
    for record in sorted(log_dir.rglob("*.run.json")):
        parts.append(f"run record: {record}")
    for log in sorted(log_dir.rglob("*.serial.log")):
        parts.append(f"--- {log} (last {lines} lines)\n{_tail(log, lines)}")
    for err in sorted(log_dir.rglob("*.stderr.log")):
        if err.stat().st_size:
            parts.append(f"--- {err}\n{_tail(err, lines)}")
    return "\n".join(parts)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.failed and _LOG_DIR_KEY in item.stash:
        report.sections.append(("boot logs", boot_log_summary(item.stash[_LOG_DIR_KEY])))


class MachineFactory:
    """Creates launched :class:`QemuMachine` objects for one test and ends them all."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.machines: list[QemuMachine] = []
        self.pids: list[int] = []

    def __call__(self, board_or_argv: Board | Sequence[str], *, extra: Sequence[str] = (),
                 name: str | None = None, qmp: bool = True,
                 launch: bool = True) -> QemuMachine:
        """A machine for a board (plus ``extra`` options) or a full QEMU argv, launched
        unless ``launch=False``. Names default to qemu, qemu-2, qemu-3..."""
        if isinstance(board_or_argv, Board):
            argv = board_or_argv.argv(extra=extra)
        else:
            argv = [*board_or_argv, *extra]
        n = len(self.machines) + 1
        label = name or ("qemu" if n == 1 else f"qemu-{n}")
        machine = QemuMachine(argv, log_dir=self.log_dir, name=label, qmp=qmp)
        self.machines.append(machine)
        if launch:
            machine.launch()
            self.pids.append(machine.pid)
        return machine

    def finish(self) -> list[int]:
        """Shut every machine down; return the PIDs still alive afterwards (should be none)."""
        for machine in self.machines:
            machine.shutdown()
            if machine.is_running():  # pragma: no cover - shutdown ends in SIGKILL + wait
                self.pids.append(machine.pid)
        return [pid for pid in dict.fromkeys(self.pids) if pid_alive(pid)]


@pytest.fixture
def qemu_machine_factory(boot_log_dir: Path) -> Iterator[MachineFactory]:
    """A factory of launched QEMU machines, all shut down (and checked by PID) at teardown."""
    factory = MachineFactory(boot_log_dir)
    yield factory
    alive = factory.finish()
    if alive:
        pytest.fail(f"QEMU process(es) still alive after the test: {alive}", pytrace=False)

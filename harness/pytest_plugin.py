"""pytest plugin: boot tests that read like the work they do.

Enable it with ``pytest_plugins = ["bootproof.harness.pytest_plugin"]`` in a conftest. It adds:

* ``--timeout-multiplier X``: scales every :class:`~bootproof.harness.core.deadline.Deadline` (it
  sets ``BOOTPROOF_TIMEOUT_MULTIPLIER`` for the session, so commands run by tests see it too).
* ``boot_log_dir``: a per-test directory for serial logs and QEMU output. When a test that
  used it fails, the report gets a "boot logs" section with the directory, the repro
  scripts and run records of its boots, and the tail of every serial log in it.
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

from bootproof.builder.errors import ConfigError
from bootproof.harness.core.boards import Board
from bootproof.harness.core.console import DEFAULT_TAIL_LINES
from bootproof.harness.core.deadline import MULTIPLIER_ENV, parse_multiplier
from bootproof.harness.core.machine import QemuMachine, pid_alive

_LOG_DIR_KEY = pytest.StashKey[Path]()
_OLD_ENV_KEY = pytest.StashKey[str | None]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bootproof")
    group.addoption(
        "--timeout-multiplier", action="store", default=None, metavar="X",
        help=f"scale every boot deadline by X (sets {MULTIPLIER_ENV}; default 1, or the "
             "variable's value)",
    )


def pytest_configure(config: pytest.Config) -> None:
    value = config.getoption("--timeout-multiplier", default=None)
    if value is None:
        return
    try:
        parse_multiplier(str(value), field="--timeout-multiplier")
    except ConfigError as exc:  # a usage error: report it the way pytest reports bad options
        raise pytest.UsageError(str(exc)) from None
    config.stash[_OLD_ENV_KEY] = os.environ.get(MULTIPLIER_ENV)
    os.environ[MULTIPLIER_ENV] = str(value)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _OLD_ENV_KEY not in config.stash:
        return
    old = config.stash[_OLD_ENV_KEY]
    if old is None:
        os.environ.pop(MULTIPLIER_ENV, None)
    else:
        os.environ[MULTIPLIER_ENV] = old


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
    boots and their run records, then each serial log's tail and any QEMU stderr output."""
    parts = [f"boot logs in {log_dir}"]
    for script in sorted(log_dir.glob("*.repro.sh")):
        parts.append(f"repro script: {script}")
    for record in sorted(log_dir.glob("*.run.json")):
        parts.append(f"run record: {record}")
    for log in sorted(log_dir.glob("*.serial.log")):
        parts.append(f"--- {log} (last {lines} lines)\n{_tail(log, lines)}")
    for err in sorted(log_dir.glob("*.stderr.log")):
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

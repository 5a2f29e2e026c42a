"""The boot fixtures of the pytest plugin: ``xous_boot``, ``xen_boot``, ``xen_booted``,
``bootproof_assets``.

A test hands its image to a fixture and reads the result::

    def test_image_boots(xous_boot):
        result = xous_boot("build/args.bin", map="build/args.json", expect=["app: ready"])
        assert [m.name for m in result.markers] == ["shell", "app"]

    def test_product_boots(bootproof_assets, xen_boot, tmp_path):
        guests = bootproof_assets.xen_guests(tmp_path / "guests")
        boot = xen_boot("product.cfg", guests.directory, expect=["app: ready"])
        assert boot.domains["domU0"].cpus == 2

``xen_booted`` (session-scoped) boots a config once per session, saves the booted machine
(:mod:`bootproof.harness.xen.snapshot`) and hands out the snapshot; each test resumes its
own copy of the saved machine, so what one test changes is gone in the next::

    def test_domu_answers(booted, boot_log_dir):      # booted = xen_booted(cfg, dir)
        with booted.resume(boot_log_dir) as xen:
            assert xen.run("domU0", "uname -m").output == "aarch64"

Every boot (passed or not) records JUnit properties through ``record_property``, numbered
per test: ``bootproof.boot<N>.kind`` (``xous``/``xen``), ``.board``, ``.serial_log``, one
``.stage.<NN>.<name>`` per passed stage (seconds since QEMU started) and ``.verdict``
(``passed``, or ``failed: <ErrorClass>``). Logs go into the test's ``boot_log_dir``, one
subdirectory per boot, so a failed test's report shows every serial log's tail.

Each fixture's board is, from the first that applies: the call's ``board=``, the test's
``@pytest.mark.bootproof(board=...)``, a ``--bootproof-board`` for the same QEMU binary,
the flow's default. The boot deadline is the call's ``timeout=``, else the marker's
``timeout=``, else the flow's default; all are scaled by the timeout multiplier.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import pytest

from bootproof.harness.core.boards import Board, load_board
from bootproof.harness.core.errors import BootFailure
from bootproof.harness.core.stages import Stage

if TYPE_CHECKING:
    from bootproof.builder.xen.plan import XenLayout
    from bootproof.builder.xous.layout import XousLayout
    from bootproof.harness.xen.assets import GuestAssets
    from bootproof.harness.xen.flow import XenBootResult
    from bootproof.harness.xen.generated import Generated
    from bootproof.harness.xen.guests import GuestSet
    from bootproof.harness.xen.snapshot import XenSnapshot
    from bootproof.harness.xous.flow import XousBootResult

#: Where the plugin keeps the boards given with ``--bootproof-board`` (by QEMU binary).
BOARDS_KEY = pytest.StashKey[Mapping[str, Board]]()
#: The plugin's marker.
MARKER = "bootproof"

RecordProperty = Callable[[str, object], None]


def marker_options(node: pytest.Item) -> dict[str, Any]:
    """The keyword arguments of the closest ``@pytest.mark.bootproof`` (empty without one).
    Raises pytest.UsageError for an argument the marker does not know."""
    mark = node.get_closest_marker(MARKER)
    if mark is None:
        return {}
    unknown = set(mark.kwargs) - {"timeout", "board"}
    if mark.args or unknown:
        raise pytest.UsageError(
            f"{node.nodeid}: @pytest.mark.{MARKER} takes only timeout= and board= "
            f"(got {', '.join([*map(repr, mark.args), *sorted(unknown)])})")
    return dict(mark.kwargs)


def marker_board_name(node: pytest.Item) -> str | None:
    """The board a test's marker pins it to, as a board name (a file's stem), or None."""
    board = marker_options(node).get("board")
    if board is None:
        return None
    return board.name if isinstance(board, Board) else Path(str(board)).stem


def choose_board(node: pytest.Item, given: str | Path | Board | None, default: str) -> Board:
    """The board a boot uses (see the module docstring for the order)."""
    choice = given if given is not None else marker_options(node).get("board")
    if isinstance(choice, Board):
        return choice
    if choice is not None:
        return load_board(choice)
    board = load_board(default)
    return node.config.stash.get(BOARDS_KEY, {}).get(board.binary, board)


def choose_timeout(node: pytest.Item, given: float | None, default: float) -> float:
    """The boot deadline in seconds before the multiplier (see the module docstring)."""
    if given is not None:
        return float(given)
    marked = marker_options(node).get("timeout")
    return float(marked) if marked is not None else default


class BootRecord:
    """The JUnit properties of one boot, recorded as the boot goes."""

    def __init__(self, record: RecordProperty, number: int, kind: str, board: Board) -> None:
        self._record = record
        self.prefix = f"bootproof.boot{number}"
        self.stages = 0
        record(f"{self.prefix}.kind", kind)
        record(f"{self.prefix}.board", board.name)

    def stage(self, stage: Stage) -> None:
        """``on_stage`` callback: one property per passed stage."""
        self.stages += 1
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", stage.name).strip("_")
        self._record(f"{self.prefix}.stage.{self.stages:02d}.{name}", f"{stage.seconds:.3f}")

    def finish(self, log_path: Path | str | None, error: BaseException | None) -> None:
        """The serial log and the verdict."""
        if log_path is not None:
            self._record(f"{self.prefix}.serial_log", str(log_path))
        verdict = "passed" if error is None else f"failed: {type(error).__name__}"
        self._record(f"{self.prefix}.verdict", verdict)


class _Booter:
    """What both boot fixtures share: the test, its log directory, the boot count."""

    kind = ""

    def __init__(self, node: pytest.Item, log_dir: Path, record: RecordProperty) -> None:
        self.node = node
        self.log_dir = log_dir
        self.record = record

    def _start(self, board: Board) -> tuple[BootRecord, Path]:
        # numbered by the boot folders already there: with both fixtures in one test,
        # properties and log folders never collide
        number = sum(1 for p in self.log_dir.iterdir() if p.is_dir()) + 1
        log_dir = self.log_dir / f"{number:02d}-{self.kind}"
        log_dir.mkdir()
        return BootRecord(self.record, number, self.kind, board), log_dir


class XousBooter(_Booter):
    """The ``xous_boot`` fixture's callable."""

    kind = "xous"

    def __call__(self, args_bin: str | Path, *, expect: Sequence[str] = (),
                 map: str | Path | XousLayout | None = None,
                 board: str | Path | Board | None = None, timeout: float | None = None,
                 placement: str = "flash") -> XousBootResult:
        """Boot ``args_bin`` under the Xous loader model (:func:`bootproof.harness.xous.
        flow.boot_args`) and return its result: ``stages``, init ``markers``, the
        loader's ``layout`` (compared with ``map``, a ``--map`` JSON file or a layout,
        when given) and the serial ``log_path``. ``expect``: texts that must appear on
        the console. Raises what ``boot_args`` raises (a BootFailure subclass when the
        boot does not do what was expected)."""
        from bootproof.builder.xous.layout import XousLayout
        from bootproof.harness.xous.flow import DEFAULT_BOARD, DEFAULT_TIMEOUT, boot_args

        brd = choose_board(self.node, board, DEFAULT_BOARD)
        seconds = choose_timeout(self.node, timeout, DEFAULT_TIMEOUT)
        record, log_dir = self._start(brd)
        log_path: Path | str | None = None
        try:
            expected = XousLayout.read(Path(map)) if isinstance(map, (str, Path)) else map
            result = boot_args(Path(args_bin), log_dir=log_dir, expected_layout=expected,
                               expectations=expect, board=brd, timeout=seconds,
                               on_stage=record.stage, placement=placement)
            log_path = result.log_path
        except BaseException as exc:
            record.finish(exc.log_path if isinstance(exc, BootFailure) else None, exc)
            raise
        record.finish(log_path, None)
        return result


@dataclass(frozen=True)
class DomainReport:
    """One guest of a Xen boot: what it reported from inside, and what its config asked."""

    label: str  # "dom0", "domU<i>" or "linux"
    marker: str
    cpus: int
    ram_bytes: int
    config_cpus: int | None  # domUs only
    config_memory_kb: int | None  # domUs only


@dataclass(frozen=True)
class XenBoot:
    """A verified Xen (or Linux-only) boot: the generated set and what the boot showed.

    ``domains`` holds each guest's own report by label; the flow already failed the boot
    if a guest's cpus or memory differ from the config. ``layout_items``: how many
    addresses and sizes U-Boot and Xen reported equal to the generated layout.
    """

    generated: Generated
    result: XenBootResult
    domains: Mapping[str, DomainReport]

    @property
    def stages(self) -> tuple[Stage, ...]:
        return self.result.stages

    @property
    def stage_names(self) -> tuple[str, ...]:
        return tuple(stage.name for stage in self.result.stages)

    @property
    def layout(self) -> XenLayout:
        return self.generated.layout

    @property
    def layout_items(self) -> int:
        return self.result.layout_items

    @property
    def log_path(self) -> Path:
        return self.result.log_path


class XenBooter(_Booter):
    """The ``xen_boot`` fixture's callable."""

    kind = "xen"

    def __call__(self, config: str | Path, directory: str | Path, *,
                 expect: Sequence[str] = (), fit: bool = False,
                 board: str | Path | Board | None = None,
                 timeout: float | None = None) -> XenBoot:
        """Generate ``config`` into ``directory`` as ``uboot-script-gen -c CONFIG -d DIR -t
        tftp [-f]`` does, boot it through U-Boot (:func:`bootproof.harness.xen.flow.
        run_boot`) and return a :class:`XenBoot`. ``expect``: more texts that must
        appear. Raises the generator's errors for a config that does not generate and a
        BootFailure subclass when the boot does not do what the config says."""
        from bootproof.harness.xen.flow import BOARD, run_boot
        from bootproof.harness.xen.generated import expectations, generate

        brd = choose_board(self.node, board, BOARD)
        seconds = choose_timeout(self.node, timeout, 180.0)
        record, log_dir = self._start(brd)
        try:
            gen = generate(Path(config), Path(directory), fit=fit)
            result = run_boot(gen, log_dir=log_dir, board=brd, expect=expect,
                              timeout=seconds, on_stage=record.stage)
        except BaseException as exc:
            record.finish(exc.log_path if isinstance(exc, BootFailure) else None, exc)
            raise
        record.finish(result.log_path, None)
        asked = {e.label: e for e in expectations(gen.config)}
        domains = {
            label: DomainReport(label=label, marker=rep.name, cpus=rep.cpus,
                                ram_bytes=rep.ram_bytes, config_cpus=asked[label].cpus,
                                config_memory_kb=asked[label].memory_kb)
            for label, rep in result.markers.items()}
        return XenBoot(generated=gen, result=result, domains=MappingProxyType(domains))


class XenSnapshots:
    """The ``xen_booted`` fixture's callable: one verified boot and snapshot per config."""

    def __init__(self, config: pytest.Config, root: Path) -> None:
        self._config = config
        self.root = root
        self._made: dict[tuple[Path, Path, bool, str], XenSnapshot] = {}

    def __call__(self, config: str | Path, directory: str | Path, *, fit: bool = False,
                 board: str | Path | Board | None = None,
                 timeout: float | None = None) -> XenSnapshot:
        """Generate ``config`` into ``directory``, boot it with every check of ``xen_boot``
        until dom0's shell answers, save the machine and return the snapshot (the same one
        on later calls with the same arguments in this session). Raises what ``xen_boot``
        raises, and :class:`~bootproof.harness.core.machinestate.SaveFailed`."""
        from bootproof.harness.xen.flow import BOARD, run_boot
        from bootproof.harness.xen.generated import generate
        from bootproof.harness.xen.snapshot import XenSnapshot, snapshot_steps

        if isinstance(board, Board):
            brd = board
        elif board is not None:
            brd = load_board(board)
        else:
            default = load_board(BOARD)
            brd = self._config.stash.get(BOARDS_KEY, {}).get(default.binary, default)
        key = (Path(config).resolve(), Path(directory).resolve(), fit, str(brd.path))
        if key not in self._made:
            base = self.root / f"{len(self._made) + 1:02d}"
            gen = generate(Path(config), Path(directory), fit=fit)
            run_boot(gen, log_dir=base / "boot", board=brd,
                     timeout=180.0 if timeout is None else timeout,
                     at_end=snapshot_steps(gen, base / "snapshot"))
            self._made[key] = XenSnapshot.read(base / "snapshot")
        return self._made[key]


@dataclass(frozen=True)
class BootproofAssets:
    """The Debian arm64 guest assets (Xen, Linux, busybox) in the bootproof cache."""

    cache: Path
    guests: GuestAssets

    def xen_guests(self, directory: Path, *, xen: str = "debian",
                   board: Board | None = None) -> GuestSet:
        """Fill ``directory`` with ``xen``, ``Image``/``Image.gz``, a test ``initrd`` whose
        ``/init`` reports ``marker=NAME`` from its command line, and the board's ``virt.dtb``
        (``xen="built"``: Xen built from Debian's source with the dom0less fragment, built
        once into the cache). Raises what
        :func:`~bootproof.harness.xen.guests.prepare_guest_set` raises."""
        from bootproof.harness.xen.guests import prepare_guest_set

        return prepare_guest_set(Path(directory), xen_source=xen, board=board,
                                 cache=self.cache, progress=None)


@pytest.fixture(scope="session")
def bootproof_assets() -> BootproofAssets:
    """The guest assets, fetched once into the cache (``--bootproof-cache``, else
    ``$BOOTPROOF_CACHE`` or ``~/.cache/bootproof``) and reused offline afterwards. Safe
    under pytest-xdist: workers take the cache's file lock, one fetches, the others wait."""
    from bootproof.harness.core.cache import cache_root
    from bootproof.harness.xen.assets import ensure_guest_assets

    cache = cache_root()
    return BootproofAssets(cache=cache, guests=ensure_guest_assets(cache, progress=None))


@pytest.fixture(scope="session")
def xen_booted(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> XenSnapshots:
    """``xen_booted(config, directory, *, fit=False, board=None, timeout=None)``: boot once
    per session, save the machine and return the snapshot; tests resume it with
    ``snapshot.resume(log_dir)``. See :class:`XenSnapshots`."""
    return XenSnapshots(request.config, tmp_path_factory.mktemp("xen-booted"))


@pytest.fixture
def xous_boot(request: pytest.FixtureRequest, boot_log_dir: Path,
              record_property: RecordProperty) -> XousBooter:
    """``xous_boot(args_bin, *, expect=(), map=None, board=None, timeout=None,
    placement="flash")``: boot a Xous args.bin under the loader model; see
    :class:`XousBooter`."""
    return XousBooter(request.node, boot_log_dir, record_property)


@pytest.fixture
def xen_boot(request: pytest.FixtureRequest, boot_log_dir: Path,
             record_property: RecordProperty) -> XenBooter:
    """``xen_boot(config, directory, *, expect=(), fit=False, board=None, timeout=None)``:
    generate an ImageBuilder config and boot it; see :class:`XenBooter`."""
    return XenBooter(request.node, boot_log_dir, record_property)

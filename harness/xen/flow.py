"""Boot a generated Xen dom0less (or plain Linux) set under QEMU aarch64 + U-Boot.

The flow, in ordered stages, each checked on the serial console:

1. **generate** (before the boot, :func:`bootproof.harness.xen.generated.generate`): what
   ``uboot-script-gen -c CONFIG -d DIR -t tftp -o boot --map boot.map.json`` (``-f`` for
   FIT) does, through its Python API: ``boot.scr``, the layout and the line to type;
2. **U-Boot prompt**: QEMU runs U-Boot (``-bios``) with the ``-d`` directory served by QEMU's
   built-in TFTP; the harness stops autoboot;
3. **script loaded**: it types the generator's load-and-source line (echo checked);
4. **Xen banner**, then one ``LOADING DOMU`` line per booted domU whose ``cpus`` and
   ``memory`` must be what the config asked for (Linux mode: U-Boot's ``Starting kernel``);
5. **markers**: each domain's ``/init`` report line (see
   :mod:`bootproof.harness.xen.initramfs`) and any extra ``--expect`` text, in any order;
6. **layout**: addresses U-Boot reported for every TFTP load, the byte counts of every
   storage load and the module addresses and sizes Xen reported for every domain are
   compared with the generated layout
   (:class:`~bootproof.harness.core.errors.LayoutMismatch` lists every difference). With
   ``-s`` the layout is the one U-Boot computed, printed before the boot command and first
   checked against the rules (:func:`~bootproof.harness.xen.generated.runtime_layout`).

A disk image (``disk``, e.g. made by ``disk_image``) is attached as a virtio-blk disk, and
``virtio scan`` is typed before the load line, so a config that loads with
``load virtio 0:N`` boots from it.

Bad patterns (Xen or Linux panic, U-Boot TFTP and ``fdt`` errors...) fail the boot at once,
naming the pattern. The harness stops QEMU itself at the end (a dom0less system has nobody
to power it off). The flow prints nothing: stages go to the ``on_stage`` callback and into
the returned :class:`XenBootResult`. Beside the serial log it leaves ``xen-boot.repro.sh``
and ``xen-boot.run.json`` (:mod:`bootproof.harness.core.runrecord`): every file the script
loads, the versions of U-Boot (from its binary), Xen (its banner) and Linux (from the
kernel files), the stages and the verdict.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from bootproof.builder.errors import FormatError
from bootproof.harness.core.boards import Board, load_board
from bootproof.harness.core.console import Console
from bootproof.harness.core.deadline import Deadline
from bootproof.harness.core.errors import (
    BootTimeout,
    InfrastructureError,
    LayoutMismatch,
    check_layout,
)
from bootproof.harness.core.handover import Handover
from bootproof.harness.core.machine import QemuMachine
from bootproof.harness.core.runrecord import RunRecord
from bootproof.harness.core.stages import Stage, StageCallback
from bootproof.harness.core.versions import version_in_file
from bootproof.harness.xen.generated import (
    DomainExpectation,
    Generated,
    domain_problems,
    expectations,
    expected_layout,
    runtime_layout,
)
from bootproof.harness.xen.initramfs import MarkerReport, marker_pattern, parse_marker
from bootproof.harness.xen.parsers import (
    AUTOBOOT_RE,
    KERNEL_STARTED_RE,
    LOADING_DOMU_RE,
    SCRIPT_RUNNING_RE,
    SERIAL_INPUT_RE,
    UBOOT_PROMPT_RE,
    XEN_BANNER_RE,
    XEN_KERNEL_RE,
    DomUBuild,
    KernelModule,
    bad_patterns,
    printed_variables,
    report_model,
    reported_layout,
)

BOARD = "aarch64-virt"
UBOOT_BIOS = Path("/usr/lib/u-boot/qemu_arm64/u-boot.bin")
GUEST_IP = "10.0.2.15"
SERVER_IP = "10.0.2.2"  # QEMU user networking's host address, where its TFTP server lives

PostCheck = Callable[[Console, Deadline], str]
#: A step on the running machine after every check (e.g. saving its state): its detail text.
MachineStep = Callable[[QemuMachine, Deadline], str]


@dataclass(frozen=True)
class XenBootResult:
    """What a boot proved: ``stages`` in the order they passed, each guest's own report
    (``markers``, by ``dom0``/``domU<i>``/``linux``), Xen's version (None in Linux mode),
    how many layout items matched, and the QEMU process the harness stopped."""

    log_path: Path
    stages: tuple[Stage, ...]
    markers: Mapping[str, MarkerReport]
    xen_version: str | None
    layout_items: int
    qemu_pid: int | None
    qemu_exitcode: int | None  # after the harness stopped QEMU


class _Stages:
    """The stages passed so far, timed from QEMU's start, handed to ``on_stage`` and kept
    in the run record."""

    def __init__(self, on_stage: StageCallback | None, record: RunRecord) -> None:
        self.start = time.monotonic()
        self.passed: list[Stage] = []
        self._on_stage = on_stage
        self._record = record

    def __call__(self, name: str, detail: str = "") -> None:
        stage = Stage(name, time.monotonic() - self.start, detail)
        self.passed.append(stage)
        self._record.add_stage(stage)
        if self._on_stage is not None:
            self._on_stage(stage)


#: Version strings in the binaries: U-Boot's banner, Linux's ``linux_banner``.
UBOOT_VERSION_RE = rb"U-Boot (\d{4}\.\d{2}[^\x00\n]*)"
LINUX_VERSION_RE = rb"Linux version ([^\x00\n]+)"
#: Xen's banner with the compiler's identity (``4.17.7 (Debian 4.17.7+13-...)``).
XEN_VERSION_LINE_RE = re.compile(r"\(XEN\) Xen version (\S+(?: \([^)\n]*\))?)")


def run_record(gen: Generated, log_dir: Path, bios: Path = UBOOT_BIOS) -> RunRecord:
    """A run record for booting ``gen``: the config, the script and every file it loads
    (from the TFTP directory), U-Boot's version (from ``bios``) and Linux's (from the
    kernels' banners)."""
    record = RunRecord(log_dir, "xen-boot")
    record.add_input("ImageBuilder config", gen.config_path)
    record.add_input("boot script", gen.directory / gen.load.file)
    for mod in gen.modules:
        path = gen.directory / mod.file
        if path.is_file():
            record.add_input("board DTB" if mod.role == "dtb" else mod.role, path)
    record.versions["u-boot"] = version_in_file(bios, UBOOT_VERSION_RE)
    kernels = {f.path: f.sha256 for f in record.inputs if f.role.endswith("-kernel")}
    linux = {version_in_file(path, LINUX_VERSION_RE, sha256=sha)
             for path, sha in kernels.items()} - {None}
    record.versions["linux"] = " | ".join(sorted(v for v in linux if v)) or None
    return record


def boot_argv(board: Board, tftp_dir: Path, *, bios: Path = UBOOT_BIOS,
              disk: Path | None = None) -> list[str]:
    """QEMU's command line: the board, U-Boot as firmware, user networking with TFTP and,
    with ``disk``, that raw image as a read-only virtio-blk disk.

    Raises :class:`InfrastructureError` when U-Boot for qemu_arm64 is not installed.
    """
    if not bios.is_file():
        raise InfrastructureError("U-Boot for qemu_arm64 not found", program=str(bios),
                                  package="u-boot-qemu")
    extra = [
        "-bios", str(bios),
        "-netdev", f"user,id=n0,tftp={tftp_dir}",
        # romfile= : no iPXE option ROM needed (U-Boot drives virtio-net itself)
        "-device", "virtio-net-pci,netdev=n0,romfile=",
    ]
    if disk is not None:
        extra += ["-drive", f"if=none,format=raw,readonly=on,file={disk.resolve()},id=hd0",
                  "-device", "virtio-blk-pci,drive=hd0,romfile="]
    return board.argv(extra=extra)


def typed_line(gen: Generated, *, disk: bool = False) -> str:
    """What the harness types at U-Boot's prompt: ``virtio scan`` when a disk is attached,
    network set-up, then the generator's load-and-source line."""
    scan = "virtio scan; " if disk else ""
    return (f"{scan}setenv autoload no; setenv ipaddr {GUEST_IP}; setenv serverip {SERVER_IP}; "
            + gen.load_line)


def xen_debug_key(console: Console, key: str, until: Sequence[str], deadline: Deadline) -> str:
    """Switch the serial input to Xen (CTRL-a three times, as often as needed: it cycles
    through the domains) and press the debug ``key``; return the console text from the key
    press until the regexes ``until`` have appeared, in that order (one line each). Raises
    BootTimeout if Xen never takes the input or never prints it."""
    for _ in range(8):
        console.send("\x01\x01\x01")
        m = console.expect(SERIAL_INPUT_RE, deadline.child(10), name="Xen serial input switch")
        if m.group(1) == "Xen":
            break
    else:
        raise BootTimeout("Xen never took the serial input", waiting_for="Serial input to Xen",
                          log_path=console.log_path, log_tail=console.tail())
    mark = len(console.log_text())
    console.send(key)
    console.expect_ordered(list(until), deadline.child(20))
    return console.log_text()[mark:]


def symbol_files(gen: Generated) -> list[Path]:
    """Symbol files for a debugger: Xen's ``xen-syms`` (the ELF with symbols that a source
    build leaves, kept as ``<XEN>-syms`` or ``xen-syms`` next to the config's Xen image),
    when there is one."""
    xen = gen.config.xen
    if not xen:
        return []
    image = gen.directory / xen
    for cand in (image.with_name(image.name + "-syms"), image.with_name("xen-syms")):
        if cand.is_file():
            return [cand]
    return []


def run_boot(
    gen: Generated,
    *,
    log_dir: Path,
    board: Board | None = None,
    expect: Sequence[str] = (),
    timeout: float = 180.0,
    on_stage: StageCallback | None = None,
    check_layout_report: bool = True,
    post_checks: Sequence[tuple[str, PostCheck]] = (),
    disk: Path | None = None,
    handover: Handover | None = None,
    at_end: Sequence[tuple[str, MachineStep]] = (),
) -> XenBootResult:
    """Boot ``gen`` under QEMU and verify every stage (see the module docstring).

    ``timeout`` (seconds, scaled by the multiplier) bounds the whole boot; ``expect`` adds
    texts that must appear (any order, with the markers); ``disk`` is a raw disk image
    attached as virtio-blk. ``post_checks`` are (stage name,
    function) pairs run on the live console after the markers (e.g. :func:`xen_debug_key`);
    each returns the stage's detail text or raises a boot error. Raises
    :class:`~bootproof.harness.core.errors.BadPattern`,
    :class:`~bootproof.harness.core.errors.BootTimeout`,
    :class:`~bootproof.harness.core.errors.UnexpectedExit` or
    :class:`~bootproof.harness.core.errors.LayoutMismatch` (all with the serial log path and tail)
    when the boot does not do what the config says, and
    :class:`~bootproof.harness.core.errors.InfrastructureError` when QEMU or U-Boot is missing.
    ``handover``: the console handed to a person after the checks (or at the first failure),
    or QEMU's gdbstub (:mod:`bootproof.harness.core.handover`; no deadline under gdb).
    ``at_end``: (stage name, step) pairs run on the machine once every check passed.
    """
    board = board or load_board(BOARD)
    hands = handover or Handover()
    deadline = Deadline(hands.timeout(timeout))
    argv = [*boot_argv(board, gen.directory, disk=disk), *hands.qemu_options()]
    record = run_record(gen, log_dir)
    machine = QemuMachine(argv, log_dir=log_dir, name="xen-boot", bad_patterns=bad_patterns(),
                          record=record)
    layout_items = 0
    with record.judging(), machine, hands.at_end(machine):
        console = machine.console
        qemu_pid = machine.pid
        if hands.gdb:
            hands.announce_gdb(machine, symbol_files(gen), "aarch64")
        passed = _Stages(on_stage, record)
        _load_script(gen, console, deadline, passed, disk=disk is not None)
        xen_version = _boot_started(gen, console, deadline, passed)
        if xen_version is not None:
            full = XEN_VERSION_LINE_RE.search(console.log_text())
            record.versions["xen"] = full.group(1) if full else xen_version
        markers = _await_markers(gen, console, deadline, passed, expect)
        for stage_name, check in post_checks:
            passed(stage_name, check(console, deadline))
        console.drain(0.5)  # a late panic right after the last marker still fails the boot
        if check_layout_report:
            log = console.log_text()
            layout = None
            if gen.calc:
                layout, problems = runtime_layout(gen, printed_variables(log))
                if problems:
                    raise LayoutMismatch("the layout U-Boot computed (-s) breaks the rules",
                                         differences=problems, log_path=machine.log_path,
                                         log_tail=console.tail())
                passed("run-time layout keeps the rules",
                       f"{len(layout.modules)} files placed by U-Boot")
            expected = expected_layout(gen, layout)
            actual = reported_layout(log, xen=gen.config.xen_mode)
            check_layout(report_model(expected), report_model(actual),
                         log_path=machine.log_path, log_tail=console.tail())
            layout_items = len(expected)
            passed("layout matches report", f"{len(expected)} items")
        for stage_name, step in at_end:
            passed(stage_name, step(machine, deadline))
    return XenBootResult(log_path=machine.log_path, stages=tuple(passed.passed),
                         markers=MappingProxyType(markers), xen_version=xen_version,
                         layout_items=layout_items, qemu_pid=qemu_pid,
                         qemu_exitcode=machine.exitcode)


def _load_script(gen: Generated, console: Console, deadline: Deadline,
                 passed: _Stages, *, disk: bool = False) -> None:
    """Stop autoboot, type the load line, see U-Boot run the script."""
    console.expect(AUTOBOOT_RE, deadline, name="U-Boot autoboot prompt")
    console.send(" ")
    console.expect(UBOOT_PROMPT_RE, deadline, name="U-Boot prompt")
    passed("U-Boot prompt", "")
    console.send_line(typed_line(gen, disk=disk), deadline=deadline.child(30))
    console.expect(SCRIPT_RUNNING_RE, deadline, name="script loaded")
    passed("script loaded", gen.load_line)


def _boot_started(gen: Generated, console: Console, deadline: Deadline,
                  passed: _Stages) -> str | None:
    """Xen's banner and its domUs (returns Xen's version), or Linux started (None)."""
    if not gen.config.xen_mode:
        console.expect(KERNEL_STARTED_RE, deadline, name="kernel started")
        passed("kernel started", "")
        return None
    m = console.expect(XEN_BANNER_RE, deadline, name="Xen banner")
    passed("Xen banner", f"Xen {m.group(1)}")
    _check_loading_domus(gen, console, deadline, passed)
    return m.group(1)


def _check_loading_domus(gen: Generated, console: Console, deadline: Deadline,
                         passed: _Stages) -> None:
    """One ``LOADING DOMU`` line per booted domU, matched to its domU by kernel address."""
    domus = [e for e in expectations(gen.config) if e.label.startswith("domU")]
    kernel_at: dict[int, DomainExpectation] = {}
    for mod in gen.modules:
        if mod.role == "domU-kernel":
            for e in domus:
                if e.label == f"domU{mod.domu}":
                    kernel_at[mod.addr] = e
    for n in range(len(domus)):
        build = DomUBuild.from_match(
            console.expect(LOADING_DOMU_RE, deadline, name=f"LOADING DOMU line {n + 1}"))
        kernel = KernelModule.from_match(
            console.expect(XEN_KERNEL_RE, deadline, name="domU kernel module line"))
        exp = kernel_at.get(kernel.addr)
        label = exp.label if exp is not None else f"d{kernel.domid}"
        if exp is not None and (build.cpus != exp.cpus or build.memory_kb != exp.memory_kb):
            raise LayoutMismatch(
                "Xen builds a domU unlike the config",
                differences=[f"{label}: Xen says cpus={build.cpus} memory={build.memory_kb} "
                             f"KiB, config asks cpus={exp.cpus} memory={exp.memory_kb} KiB"],
                log_path=console.log_path, log_tail=console.tail())
        passed(f"LOADING DOMU d{kernel.domid}",
               f"{label}: cpus={build.cpus} memory={build.memory_kb >> 10} MiB")


def _await_markers(gen: Generated, console: Console, deadline: Deadline, passed: _Stages,
                   expect: Sequence[str]) -> dict[str, MarkerReport]:
    """Every guest's marker line and every ``expect`` text, in any order; each guest's own
    report is checked against the config. Returns the reports by guest label."""
    waited = [e for e in expectations(gen.config) if e.marker is not None]
    wanted: dict[str, str] = {f"m{i}": marker_pattern(e.marker or "")
                              for i, e in enumerate(waited)}
    wanted.update({f"t{i}": re.escape(t) for i, t in enumerate(expect)})
    labels = {f"m{i}": f"marker {e.marker}" for i, e in enumerate(waited)}
    labels.update({f"t{i}": f"expected text {t!r}" for i, t in enumerate(expect)})
    markers: dict[str, MarkerReport] = {}
    problems: list[str] = []
    while wanted:
        # one alternation of named groups: the stage of each marker is timed as it comes
        alternation = re.compile("|".join(f"(?P<{k}>{v})" for k, v in wanted.items()))
        try:
            m = console.expect(alternation, deadline,
                               name=", ".join(labels[k] for k in wanted) + " (any order)")
        except BootTimeout as exc:
            missing = [labels[k] for k in wanted]
            raise BootTimeout(f"{exc.message}; never seen: {', '.join(missing)}",
                              waiting_for=exc.waiting_for, missing=missing,
                              seconds=exc.seconds, log_path=exc.log_path,
                              log_tail=exc.log_tail) from exc
        key = next(k for k in wanted if m.group(k) is not None)
        del wanted[key]
        if key.startswith("t"):
            passed(labels[key], "")
            continue
        exp = waited[int(key[1:])]
        rep = parse_marker(m.group(0))
        if rep is None:
            raise FormatError("marker line not understood", value=m.group(0))
        markers[exp.label] = rep
        problems += domain_problems(exp, rep)
        passed(labels[key], f"{exp.label}: cpus={rep.cpus} ram={rep.ram_bytes >> 20} MiB")
    if problems:
        raise LayoutMismatch("guests do not see what the config asked for",
                             differences=problems, log_path=console.log_path,
                             log_tail=console.tail())
    return markers

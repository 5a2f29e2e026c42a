"""Boot a generated Xen dom0less (or plain Linux) set under QEMU aarch64 + U-Boot.

The flow, in ordered stages, each checked on the serial console:

1. **generate**: what ``uboot-script-gen -c CONFIG -d DIR -t tftp -o boot --map
   boot.map.json`` (``-f`` for FIT) does, through its Python API: ``boot.scr`` and the JSON
   layout report;
2. **U-Boot prompt**: QEMU runs U-Boot (``-bios``) with the ``-d`` directory served by QEMU's
   built-in TFTP; the harness stops autoboot;
3. **script loaded**: it types the load-and-source line the generator printed (echo checked);
4. **Xen banner**, then one ``LOADING DOMU`` line per booted domU whose ``cpus`` and
   ``memory`` must be what the config asked for (Linux mode: the Linux banner instead);
5. **markers**: each domain's ``/init`` report line (see
   :mod:`bootproof.harness.xen.initramfs`) and any extra ``--expect`` text, in any order;
6. **layout**: addresses U-Boot reported for every TFTP load and the module addresses and
   sizes Xen reported for every domain are compared with the layout report
   (:class:`~bootproof.harness.core.errors.LayoutMismatch` lists every difference).

Bad patterns (Xen or Linux panic, U-Boot TFTP and ``fdt`` errors...) fail the boot at once,
naming the pattern. The harness stops QEMU itself at the end (a dom0less system has nobody
to power it off).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from bootproof.builder.errors import ConfigError, FormatError, InputError, ToolError
from bootproof.builder.xen.config import ImageBuilderConfig, load_config
from bootproof.harness.core.boards import Board, load_board
from bootproof.harness.core.console import BadPatterns, Console
from bootproof.harness.core.deadline import Deadline
from bootproof.harness.core.errors import (
    BootTimeout,
    InfrastructureError,
    LayoutMismatch,
    check_layout,
)
from bootproof.harness.core.machine import QemuMachine
from bootproof.harness.core.stages import Stage, StageCallback
from bootproof.harness.core.toolchain import run_tool
from bootproof.harness.xen.initramfs import MarkerReport, marker_pattern, parse_marker

BOARD = "aarch64-virt"
UBOOT_BIOS = Path("/usr/lib/u-boot/qemu_arm64/u-boot.bin")
SCRIPT_BASE = "boot"
MAP_NAME = "boot.map.json"
GUEST_IP = "10.0.2.15"
SERVER_IP = "10.0.2.2"  # QEMU user networking's host address, where its TFTP server lives

#: Bad patterns of this flow, added to the console's defaults.
XEN_BAD_PATTERNS: tuple[tuple[str, str], ...] = (
    ("uboot-tftp-error", r"TFTP error: [^\n]*"),
    ("uboot-tftp-retry", r"Retry count exceeded"),
    ("uboot-fdt-error", r"libfdt fdt_\w+\(\): FDT_ERR_\w+|No FDT memory address configured"),
    ("uboot-bad-image", r"Bad Linux ARM64 Image magic|Wrong Image Format for \w+ command"),
    ("uboot-script-error", r"## Error[^\n]*|Bad data crc|Bad header crc|"
                           r"Unknown command '[^'\n]*'"),
    ("xen-domain-crash", r"\(XEN\) Domain \d+ \(vcpu#\d+\) crashed"),
    ("xen-setup-failed", r"\(XEN\) Could not set up [^\n]*"),
    ("linux-oops", r"Internal error: [^\n]*|Unable to handle kernel [^\n]*"),
    ("init-failed", r"No working init found|Kernel panic - not syncing: [^\n]*"),
)

LOADING_DOMU_RE = re.compile(r"\(XEN\) \*\*\* LOADING DOMU cpus=(\d+) memory=([0-9a-fA-F]+)KB")
# Every pattern awaited on the console ends in fixed text or a fixed-width field: the console
# also matches the line still being printed, where "[0-9a-f]+" could stop at a partial number.
XEN_KERNEL_RE = re.compile(
    r"\(XEN\) Loading d(\d+) kernel from boot module @ ([0-9a-fA-F]{16})")
XEN_ZIMAGE_RE = re.compile(
    r"\(XEN\) Loading zImage from ([0-9a-fA-F]+) to ([0-9a-fA-F]+)-([0-9a-fA-F]+)")
XEN_INITRD_RE = re.compile(
    r"\(XEN\) Loading d(\d+) initrd from ([0-9a-fA-F]+) to 0x([0-9a-fA-F]+)-0x([0-9a-fA-F]+)")
UBOOT_LOAD_RE = re.compile(
    r"Filename '([^'\n]*)'\.\s*\nLoad address: 0x([0-9a-fA-F]+)\n(?:[^\n]*\n)*?"
    r"Bytes transferred = (\d+)")
MARKER_NAME_RE = re.compile(r"(?:^|\s)marker=(\S+)")


@dataclass(frozen=True)
class DomainExpectation:
    """What one guest must show: its marker and (domUs) the cpus and memory asked for."""

    label: str  # "dom0", "domU<i>" or "linux"
    marker: str | None
    cpus: int | None = None
    memory_kb: int | None = None
    static_mem: tuple[tuple[int, int], ...] = ()  # (base, size) regions, direct-mapped


@dataclass(frozen=True)
class Generated:
    """A generated boot set: where it is, what the generator said, what to type."""

    config: ImageBuilderConfig
    config_path: Path
    directory: Path
    layout: Mapping[str, object]
    load_line: str  # e.g. "tftpb 0x40200000 boot.scr; source 0x40200000"
    fit: bool
    output: str

    @property
    def modules(self) -> list[Mapping[str, object]]:
        mods = self.layout.get("modules", [])
        return [m for m in mods if isinstance(m, dict)] if isinstance(mods, list) else []


@dataclass
class BootReport:
    """What a boot showed. ``stages`` in the order they passed."""

    log_path: Path
    stages: list[Stage] = field(default_factory=list)
    markers: dict[str, MarkerReport] = field(default_factory=dict)
    xen_version: str | None = None
    layout_items: int = 0
    qemu_pid: int | None = None
    qemu_exitcode: int | None = None  # after the harness stopped QEMU


def generate(config: Path, directory: Path, *, fit: bool = False) -> Generated:
    """Generate the boot set for ``config`` with ``-d directory`` and TFTP loading, exactly as
    ``uboot-script-gen -c CONFIG -d DIR -t tftp -o boot --map boot.map.json [-f]`` does
    (same code, called in-process so errors keep their type).

    Returns the set with its layout report and the line to type at U-Boot's prompt.
    Raises :class:`~bootproof.builder.errors.ConfigError` /
    :class:`~bootproof.builder.errors.InputError` for a bad config or missing files,
    :class:`~bootproof.builder.errors.LayoutError` when the images do not fit in RAM (nothing is
    written then), :class:`ToolError` when mkimage fails.
    """
    from bootproof.builder.xen import GenerateOptions, with_overrides
    from bootproof.builder.xen import generate as generate_set

    cfg = with_overrides(load_config(config), load_cmd="tftp", output=SCRIPT_BASE, fit=fit)
    result = generate_set(cfg, directory, GenerateOptions(map_file=directory / MAP_NAME))
    layout = json.loads(result.layout.to_json())
    load_line = next((h.strip() for h in result.hints
                      if "source" in h and h.split()[:1] == ["tftpb"]), "")
    if not load_line:
        raise ToolError("the generator gave no load-and-source line",
                        output="\n".join(result.hints), path=config)
    output = "\n".join([*result.hints, *result.notes, *result.warnings])
    return Generated(config=cfg, config_path=config, directory=directory, layout=layout,
                     load_line=load_line, fit=fit, output=output)


def _marker(cmd: str) -> str | None:
    m = MARKER_NAME_RE.search(cmd)
    return m.group(1) if m else None


def expectations(cfg: ImageBuilderConfig) -> list[DomainExpectation]:
    """Every guest the config boots, with the marker named by ``marker=`` in its command
    line (a guest without one is not waited for) and, for domUs, cpus and memory."""
    out: list[DomainExpectation] = []
    if cfg.xen_mode:
        if cfg.has_dom0:
            out.append(DomainExpectation("dom0", _marker(cfg.dom0_cmd)))
        for d in cfg.booted_domus:
            static = tuple((r.base, r.size) for r in d.static_mem)
            mem_kb = (sum(s for _, s in static) >> 10) if static else d.mem_mb * 1024
            out.append(DomainExpectation(f"domU{d.index}", _marker(d.cmd), cpus=d.vcpus,
                                         memory_kb=mem_kb, static_mem=static))
    else:
        out.append(DomainExpectation("linux", _marker(cfg.linux_cmd)))
    return out


def board_dtb_argv(board: Board, dest: Path) -> list[str]:
    """QEMU's command line that dumps ``board``'s DTB to ``dest`` with the board's exact
    machine, cpu, smp and memory options (the DTB depends on all of them)."""
    argv = board.argv()
    i = argv.index("-machine")
    argv[i + 1] = f"{argv[i + 1]},dumpdtb={dest}"
    return [*argv, "-display", "none", "-nic", "none"]


def dump_board_dtb(board: Board, dest: Path) -> Path:
    """Dump the board's DTB (see :func:`board_dtb_argv`); returns ``dest``.

    Raises InfrastructureError when QEMU is missing, ToolError when it fails.
    """
    run_tool(board_dtb_argv(board, dest), timeout=60)
    if not dest.is_file():
        raise ToolError("QEMU did not write the DTB", argv=board_dtb_argv(board, dest))
    return dest


def boot_argv(board: Board, tftp_dir: Path, *, bios: Path = UBOOT_BIOS) -> list[str]:
    """QEMU's command line: the board, U-Boot as firmware, user networking with TFTP."""
    if not bios.is_file():
        raise InfrastructureError("U-Boot for qemu_arm64 not found", program=str(bios),
                                  package="u-boot-qemu")
    return board.argv(extra=[
        "-bios", str(bios),
        "-netdev", f"user,id=n0,tftp={tftp_dir}",
        # romfile= : no iPXE option ROM needed (U-Boot drives virtio-net itself)
        "-device", "virtio-net-pci,netdev=n0,romfile=",
    ])


def bad_patterns() -> BadPatterns:
    """The console's bad-pattern table for this flow (defaults plus U-Boot/Xen/Linux)."""
    table = BadPatterns()
    for name, regex in XEN_BAD_PATTERNS:
        table.add(name, regex)
    return table


def typed_line(gen: Generated) -> str:
    """What the harness types at U-Boot's prompt: network set-up, then the generator's
    load-and-source line."""
    return (f"setenv autoload no; setenv ipaddr {GUEST_IP}; setenv serverip {SERVER_IP}; "
            + gen.load_line)


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise FormatError("layout report field is not an integer", value=value)
    return value


def _load_key(index: int, file: object) -> str:
    return f"load {index}: {file} @"


def expected_layout(gen: Generated) -> dict[str, int]:
    """Flat name -> value layout from the report: every TFTP load in order (the typed one
    first: the script, or the FIT), and each domain's kernel and ramdisk module address
    (ramdisk size too) as Xen reports them. Loads are keyed by their position, so a file
    loaded twice (one kernel for several domains) is checked at each address."""
    out: dict[str, int] = {}
    domids = gen.layout.get("domids", {})
    if not isinstance(domids, dict):
        domids = {}
    if gen.fit:
        fit_file = gen.load_line.split(";")[0].split()[-1]
        out[_load_key(1, fit_file)] = _int(gen.layout.get("fit_addr"))
    else:
        out[_load_key(1, f"{SCRIPT_BASE}.scr")] = _int(gen.layout.get("script_addr"))
    for n, m in enumerate(gen.modules, start=2):
        role = str(m.get("role"))
        addr = _int(m.get("addr"))
        if not gen.fit:
            out[_load_key(n, m.get("file"))] = addr
        dom: str | None = None
        if role.startswith("dom0-"):
            dom = "d0"
        elif role.startswith("domU-") and m.get("domu") is not None:
            domid = domids.get(f"domU{m.get('domu')}")
            dom = f"d{domid}" if isinstance(domid, int) else f"domU{m.get('domu')}"
        if dom is not None and role.endswith("-kernel"):
            out[f"{dom} kernel module @"] = addr
        if dom is not None and role.endswith("-ramdisk"):
            out[f"{dom} ramdisk module @"] = addr
            out[f"{dom} ramdisk size"] = _int(m.get("size"))
    return out


def reported_layout(log: str, *, xen: bool) -> dict[str, int]:
    """The same flat layout, read from what U-Boot (TFTP loads) and Xen printed."""
    out: dict[str, int] = {}
    for n, m in enumerate(UBOOT_LOAD_RE.finditer(log), start=1):
        out[_load_key(n, m.group(1))] = int(m.group(2), 16)
    if xen:
        for m in XEN_KERNEL_RE.finditer(log):
            out[f"d{m.group(1)} kernel module @"] = int(m.group(2), 16)
        for m in XEN_INITRD_RE.finditer(log):
            dom = f"d{m.group(1)}"
            out[f"{dom} ramdisk module @"] = int(m.group(2), 16)
            out[f"{dom} ramdisk size"] = int(m.group(4), 16) - int(m.group(3), 16)
    return out


def _check_domain(exp: DomainExpectation, rep: MarkerReport) -> list[str]:
    problems: list[str] = []
    if exp.cpus is not None and rep.cpus != exp.cpus:
        problems.append(f"{exp.label} ({exp.marker}): sees {rep.cpus} cpus, config asks "
                        f"{exp.cpus}")
    if exp.static_mem:
        want = tuple((base, base + size - 1) for base, size in exp.static_mem)
        if rep.ram != want:
            got = ",".join(f"{a:#x}-{b:#x}" for a, b in rep.ram)
            problems.append(f"{exp.label} ({exp.marker}): RAM at {got}, static memory asks "
                            + ",".join(f"{a:#x}-{b:#x}" for a, b in want))
    elif exp.memory_kb is not None and rep.ram_bytes != exp.memory_kb * 1024:
        problems.append(f"{exp.label} ({exp.marker}): has {rep.ram_bytes >> 10} KiB of RAM, "
                        f"config asks {exp.memory_kb} KiB")
    return problems


PostCheck = Callable[[Console, Deadline], str]


def xen_debug_key(console: Console, key: str, until: Sequence[str], deadline: Deadline) -> str:
    """Switch the serial input to Xen (CTRL-a three times, as often as needed: it cycles
    through the domains) and press the debug ``key``; return the console text from the key
    press until the regexes ``until`` have appeared, in that order (one line each). Raises
    BootTimeout if Xen never takes the input or never prints it."""
    for _ in range(8):
        console.send("\x01\x01\x01")
        m = console.expect(r"\*\*\* Serial input to (\S+)", deadline.child(10),
                           name="Xen serial input switch")
        if m.group(1) == "Xen":
            break
    else:
        raise BootTimeout("Xen never took the serial input", waiting_for="Serial input to Xen",
                          log_path=console.log_path, log_tail=console.tail())
    mark = len(console.log_text())
    console.send(key)
    console.expect_ordered(list(until), deadline.child(20))
    return console.log_text()[mark:]


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
) -> BootReport:
    """Boot ``gen`` under QEMU and verify every stage (see the module docstring).

    ``timeout`` (seconds, scaled by the multiplier) bounds the whole boot; ``expect`` adds
    texts that must appear (any order, with the markers). ``post_checks`` are (stage name,
    function) pairs run on the live console after the markers (e.g. :func:`xen_debug_key`);
    each returns the stage's detail text or raises a boot error. Raises
    :class:`~bootproof.harness.core.errors.BadPattern`,
    :class:`~bootproof.harness.core.errors.BootTimeout`,
    :class:`~bootproof.harness.core.errors.UnexpectedExit` or
    :class:`~bootproof.harness.core.errors.LayoutMismatch` (all with the serial log path and tail)
    when the boot does not do what the config says, and
    :class:`~bootproof.harness.core.errors.InfrastructureError` when QEMU or U-Boot is missing.
    """
    board = board or load_board(BOARD)
    deadline = Deadline(timeout)
    machine = QemuMachine(boot_argv(board, gen.directory), log_dir=log_dir, name="xen-boot",
                          bad_patterns=bad_patterns())
    report = BootReport(log_path=machine.log_path)
    with machine:
        console = machine.console
        report.qemu_pid = machine.pid
        start = time.monotonic()

        def passed(name: str, detail: str = "") -> None:
            stage = Stage(name, time.monotonic() - start, detail)
            report.stages.append(stage)
            if on_stage is not None:
                on_stage(stage)

        _drive(gen, console, deadline, passed, report, expect)
        for stage_name, check in post_checks:
            passed(stage_name, check(console, deadline))
        console.drain(0.5)  # a late panic right after the last marker still fails the boot
        if check_layout_report:
            log = console.log_text()
            expected = expected_layout(gen)
            actual = reported_layout(log, xen=gen.config.xen_mode)
            check_layout(expected, actual, log_path=machine.log_path, log_tail=console.tail())
            report.layout_items = len(expected)
            passed("layout matches report", f"{len(expected)} items")
    report.qemu_exitcode = machine.exitcode
    return report


def _drive(gen: Generated, console: Console, deadline: Deadline,
           passed: Callable[[str, str], None], report: BootReport,
           expect: Sequence[str]) -> None:
    console.expect(r"Hit any key to stop autoboot", deadline, name="U-Boot autoboot prompt")
    console.send(" ")
    console.expect(r"^=> ", deadline, name="U-Boot prompt")
    passed("U-Boot prompt", "")
    console.send_line(typed_line(gen), deadline=deadline.child(30))
    console.expect(r"## Executing script at [0-9a-fA-F]+", deadline, name="script loaded")
    passed("script loaded", gen.load_line)
    exps = expectations(gen.config)
    if gen.config.xen_mode:
        m = console.expect(r"\(XEN\) Xen version (\S+) ", deadline, name="Xen banner")
        report.xen_version = m.group(1)
        passed("Xen banner", f"Xen {m.group(1)}")
        _check_loading_domus(gen, console, deadline, passed, exps)
    else:
        # U-Boot's last words before jumping to the kernel ("quiet" hides Linux's banner)
        console.expect(r"Starting kernel \.\.\.", deadline, name="kernel started")
        passed("kernel started", "")
    waited = [e for e in exps if e.marker is not None]
    wanted: dict[str, str] = {f"m{i}": marker_pattern(e.marker or "")
                              for i, e in enumerate(waited)}
    wanted.update({f"t{i}": re.escape(t) for i, t in enumerate(expect)})
    labels = {f"m{i}": f"marker {e.marker}" for i, e in enumerate(waited)}
    labels.update({f"t{i}": f"expected text {t!r}" for i, t in enumerate(expect)})
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
                              log_tail=exc.log_tail) from None
        key = next(k for k in wanted if m.group(k) is not None)
        del wanted[key]
        if key.startswith("t"):
            passed(labels[key], "")
            continue
        exp = waited[int(key[1:])]
        rep = parse_marker(m.group(0))
        if rep is None:
            raise FormatError("marker line not understood", value=m.group(0))
        report.markers[exp.label] = rep
        problems += _check_domain(exp, rep)
        passed(labels[key], f"{exp.label}: cpus={rep.cpus} ram={rep.ram_bytes >> 20} MiB")
    if problems:
        raise LayoutMismatch("guests do not see what the config asked for",
                             differences=problems, log_path=console.log_path,
                             log_tail=console.tail())


def _check_loading_domus(gen: Generated, console: Console, deadline: Deadline,
                         passed: Callable[[str, str], None],
                         exps: Sequence[DomainExpectation]) -> None:
    """One ``LOADING DOMU`` line per booted domU, matched to its domU by kernel address."""
    domus = [e for e in exps if e.label.startswith("domU")]
    kernel_at: dict[int, DomainExpectation] = {}
    for mod in gen.modules:
        if mod.get("role") == "domU-kernel":
            for e in domus:
                if e.label == f"domU{mod.get('domu')}":
                    kernel_at[_int(mod.get("addr"))] = e
    for n in range(len(domus)):
        m = console.expect(LOADING_DOMU_RE, deadline, name=f"LOADING DOMU line {n + 1}")
        cpus, mem_kb = int(m.group(1)), int(m.group(2), 16)
        k = console.expect(XEN_KERNEL_RE, deadline, name="domU kernel module line")
        exp = kernel_at.get(int(k.group(2), 16))
        label = exp.label if exp is not None else f"d{k.group(1)}"
        if exp is not None and (cpus != exp.cpus or mem_kb != exp.memory_kb):
            raise LayoutMismatch(
                "Xen builds a domU unlike the config",
                differences=[f"{label}: Xen says cpus={cpus} memory={mem_kb} KiB, config asks "
                             f"cpus={exp.cpus} memory={exp.memory_kb} KiB"],
                log_path=console.log_path, log_tail=console.tail())
        passed(f"LOADING DOMU d{k.group(1)}", f"{label}: cpus={cpus} memory={mem_kb >> 10} MiB")


# -- guest directories -----------------------------------------------------------------------


def link_or_copy(src: Path, dest: Path) -> Path:
    """Put ``src`` at ``dest`` as a hard link (same file system) or a copy."""
    dest.unlink(missing_ok=True)
    try:
        dest.hardlink_to(src)
    except OSError:
        shutil.copyfile(src, dest)
    return dest


def config_text(values: Mapping[str, object]) -> str:
    """An ImageBuilder config from ``values``: scalars, and lists for per-domU arrays
    (``NAME[i]=...``). Strings are double-quoted (no ``$`` or backquote allowed)."""
    lines: list[str] = []

    def quote(v: object) -> str:
        text = str(v)
        if any(c in text for c in '"$`\\\n'):
            raise ConfigError("value cannot be written into a config", field="value",
                              value=text)
        return f'"{text}"' if not isinstance(v, int) else text

    for key, value in values.items():
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                if item is not None:
                    lines.append(f"{key}[{i}]={quote(item)}")
        elif value is not None:
            lines.append(f"{key}={quote(value)}")
    return "\n".join(lines) + "\n"


def check_directory(directory: Path) -> Path:
    """``directory`` must exist; returns it resolved. Raises InputError otherwise."""
    if not directory.is_dir():
        raise InputError("not a directory", path=directory, field="-d")
    return directory.resolve()


# -- guest sets: the files a config names, made from the cached assets ------------------------

XEN_SOURCES = ("debian", "built")
PL061_NODE = "/pl061@9030000"
XEN_CMD = "console=dtuart dtuart=/pl011@9000000 dom0_mem=512M dom0_max_vcpus=1 bootscrub=0"
DOM0_CMD = "console=hvc0 earlycon=xenboot rdinit=/init quiet"
DOMU_CMD = "console=ttyAMA0 rdinit=/init quiet"
LINUX_CMD = "console=ttyAMA0 earlycon rdinit=/init quiet"


@dataclass(frozen=True)
class GuestSet:
    """A ``-d`` directory holding ``xen``, ``Image``, ``initrd`` and ``virt.dtb``."""

    directory: Path
    xen_source: str
    xen_version: str
    kernel_version: str
    xen: str = "xen"
    kernel: str = "Image"
    kernel_gz: str = "Image.gz"  # what Xen loads: a third of the TFTP time, Xen gunzips it
    initrd: str = "initrd"
    dtb: str = "virt.dtb"


def gzipped(path: Path, cache_dir: Path) -> Path:
    """A gzip copy of ``path`` (level 6, mtime 0) kept in ``cache_dir``, keyed by content."""
    import gzip

    from bootproof.builder.fileio import atomic_write
    from bootproof.harness.xen.assets import sha256_file

    dest = cache_dir / f"{path.name}-{sha256_file(path)[:16]}.gz"
    if not dest.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(dest, gzip.compress(path.read_bytes(), compresslevel=6, mtime=0))
    return dest


def fix_pl061(dtb: Path) -> None:
    """Disable the board's pl061 GPIO in ``dtb`` (dom0 Linux takes a synchronous external
    abort probing it under Xen; Xen's own CI does the same).

    The edit goes through the generator's own DT-edit path (:mod:`bootproof.builder.xen.fdtcmd`, the
    interpreter it uses for FDTEDIT and FIT), not through an outside tool.
    """
    from bootproof.builder.fileio import atomic_write
    from bootproof.builder.formats.fdt import DeviceTree
    from bootproof.builder.xen.fdtcmd import SetProp, Strings, apply

    tree = DeviceTree.load(dtb)
    apply(tree, [SetProp(PL061_NODE, "status", Strings(("disabled",)))])
    atomic_write(dtb, tree.to_bytes())


def prepare_guest_set(
    directory: Path,
    *,
    xen_source: str = "debian",
    board: Board | None = None,
    cache: Path | None = None,
    offline: bool = False,
    progress: TextIO | None = sys.stderr,
) -> GuestSet:
    """Fill ``directory`` with the guest files: Xen (Debian's binary or the one built from
    source with the dom0less fragment), the Debian kernel, a fresh test initramfs and the
    board DTB dumped with the board's exact options plus the pl061 fix.

    Raises :class:`ConfigError` for an unknown ``xen_source``, :class:`ToolError` when the
    assets cannot be fetched (or are not cached and ``offline`` is set).
    """
    from bootproof.harness.xen.assets import ensure_guest_assets
    from bootproof.harness.xen.initramfs import write_initramfs
    from bootproof.harness.xen.xen_build import ensure_built_xen

    if xen_source not in XEN_SOURCES:
        raise ConfigError(f"unknown Xen source (known: {', '.join(XEN_SOURCES)})",
                          field="xen", value=xen_source)
    assets = ensure_guest_assets(cache, offline=offline, progress=progress)
    directory.mkdir(parents=True, exist_ok=True)
    if xen_source == "built":
        built = ensure_built_xen(cache, offline=offline, progress=progress)
        xen_path, xen_version = built.path, built.source_version
    else:
        xen_path, xen_version = assets.xen, assets.record("xen").version
    link_or_copy(xen_path, directory / "xen")
    link_or_copy(assets.kernel, directory / "Image")
    link_or_copy(gzipped(assets.kernel, assets.root / "derived"), directory / "Image.gz")
    write_initramfs(assets.busybox, directory / "initrd")
    dtb = dump_board_dtb(board or load_board(BOARD), directory / "virt.dtb")
    fix_pl061(dtb)
    return GuestSet(directory=directory, xen_source=xen_source, xen_version=xen_version,
                    kernel_version=assets.record("kernel").version)


@dataclass(frozen=True)
class DomUSpec:
    """One domU of a scenario config: marker, memory (MB), vCPUs and optional extras."""

    marker: str
    mem_mb: int = 256
    vcpus: int = 1
    static_mem: tuple[tuple[int, int], ...] = ()
    cpupool: int | None = None


def scenario_config(
    guests: GuestSet,
    *,
    dom0_marker: str | None = "DOM0",
    domus: Sequence[DomUSpec] = (),
    linux_marker: str | None = None,
    xen_cmd: str = XEN_CMD,
    cpupools: Sequence[str] = (),
    memory_end: int = 0xC0000000,
    extra: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The ImageBuilder variables for a test boot: one kernel and one initramfs for every
    domain, each told its marker on its command line. ``linux_marker`` makes a Linux-only
    config (no Xen)."""
    values: dict[str, object] = {
        "MEMORY_START": "0x40000000",
        "MEMORY_END": f"0x{memory_end:X}",
        "DEVICE_TREE": guests.dtb,
        "LOAD_CMD": "tftpb",
        "UBOOT_SOURCE": "boot.source",
        "UBOOT_SCRIPT": "boot.scr",
    }
    if linux_marker is not None:
        values.update(LINUX=guests.kernel, LINUX_RAMDISK=guests.initrd,
                      LINUX_CMD=f"{LINUX_CMD} marker={linux_marker}")
        values.update(extra or {})
        return values
    values.update(XEN=guests.xen, XEN_CMD=xen_cmd)
    if dom0_marker is not None:
        values.update(DOM0_KERNEL=guests.kernel_gz, DOM0_RAMDISK=guests.initrd,
                      DOM0_CMD=f"{DOM0_CMD} marker={dom0_marker}")
    values["NUM_DOMUS"] = len(domus)
    values["DOMU_KERNEL"] = [guests.kernel_gz] * len(domus)
    values["DOMU_RAMDISK"] = [guests.initrd] * len(domus)
    values["DOMU_CMD"] = [f"{DOMU_CMD} marker={d.marker}" for d in domus]
    values["DOMU_MEM"] = [d.mem_mb for d in domus]
    values["DOMU_VCPUS"] = [d.vcpus for d in domus]
    if any(d.static_mem for d in domus):
        values["DOMU_STATIC_MEM"] = [
            " ".join(f"0x{b:x} 0x{s:x}" for b, s in d.static_mem) if d.static_mem else None
            for d in domus]
    if cpupools:
        values["NUM_CPUPOOLS"] = len(cpupools)
        values["CPUPOOL"] = list(cpupools)
        values["DOMU_CPUPOOL"] = [d.cpupool for d in domus]
    values.update(extra or {})
    return values


def write_scenario(guests: GuestSet, name: str, values: Mapping[str, object]) -> Path:
    """Write ``values`` as ``<name>.cfg`` into the guest directory; returns its path."""
    from bootproof.builder.fileio import atomic_write

    path = guests.directory / f"{name}.cfg"
    atomic_write(path, config_text(values))
    return path


# -- the bundled example -----------------------------------------------------------------------


EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "xen"


def example_config(guests: GuestSet) -> Path:
    """Put the bundled example (``examples/xen/config``, dom0 + 2 domUs, and the files it
    names) into the guest directory and return the config's path there. Falls back to an
    equivalent generated config when the example is not available (installed package)."""
    src = EXAMPLE_DIR / "config"
    if not src.is_file():
        return write_scenario(guests, "demo", scenario_config(
            guests, domus=[DomUSpec("DOMU1", mem_mb=256), DomUSpec("DOMU2", mem_mb=256)]))
    for extra in EXAMPLE_DIR.iterdir():
        if extra.is_file():
            shutil.copyfile(extra, guests.directory / extra.name)
    link_or_copy(guests.directory / guests.initrd, guests.directory / "initrd.cpio.gz")
    return guests.directory / "config"


def demo(workdir: Path, *, offline: bool = False) -> int:
    """Build the bundled Xen dom0less example (dom0 + 2 domUs) with our uboot-script-gen,
    boot it, print each verified stage; 0 when every stage passed, 1 otherwise.

    Uses the asset cache (a second run needs no network). Infrastructure and input errors
    propagate (the caller maps them to exit codes).
    """
    from bootproof.harness.core.errors import BootFailure

    guests = prepare_guest_set(workdir / "xen-demo", offline=offline)
    gen = generate(example_config(guests), guests.directory)
    print(f"xen demo: Xen {guests.xen_version} ({guests.xen_source}), Linux "
          f"{guests.kernel_version}; typing: {gen.load_line}", flush=True)

    def show(stage: Stage) -> None:
        print(f"  [{stage.seconds:6.2f} s] ok  {stage.name}"
              + (f"  ({stage.detail})" if stage.detail else ""), flush=True)

    try:
        report = run_boot(gen, log_dir=workdir / "xen-demo" / "logs", on_stage=show)
    except BootFailure as exc:
        print(f"xen demo: FAILED: {exc}", flush=True)
        return 1
    print(f"xen demo: passed; serial log {report.log_path}", flush=True)
    return 0

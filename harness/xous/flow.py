"""Boot an args.bin under the Xous loader model on QEMU's riscv32 virt board.

The flow is a list of ordered stages, each a console expectation with the boot's deadline:

1. ``loader``      the loader model starts (``Xous loader model (bootproof) v1``);
2. ``validated``   it walked and checked every tag and printed where it would jump;
3. ``layout``      what it printed, parsed into :class:`~bootproof.builder.xous.layout.XousLayout`,
                   equals the expected layout (the builder's ``--map`` JSON or ``inspect``);
4. ``kernel``      the test kernel's banner, then its own .data/.bss check;
5. ``init``        one marker per init program, in PID order, with its checksum;
6. ``power-off``   the kernel reports that every program ran and QEMU exits with status 0.

A kernel that is not the bootproof test kernel (a real Xous image) stops after stage 3 in
"report only" mode. The args go into the board's flash (pflash bank 0, 0x20000000), or its
``args_ram`` range, with QEMU's generic loader device; the loader model ELF is QEMU's
``-kernel`` with ``-bios none``.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

from bootproof.builder.errors import FormatError, InputError
from bootproof.builder.xous.layout import Kernel, Program, Region, Section, TagInfo, XousLayout
from bootproof.harness.core.boards import CONFIGS_DIR, Board, load_board
from bootproof.harness.core.console import BadPatterns
from bootproof.harness.core.deadline import Deadline
from bootproof.harness.core.errors import LayoutMismatch, UnexpectedExit, layout_differences
from bootproof.harness.core.machine import QemuMachine
from bootproof.harness.guests.build import InitKind, build_init, build_kernel, build_loader

DEFAULT_BOARD = "riscv32-virt"
DEFAULT_TIMEOUT = 60.0
LOADER_BANNER = "Xous loader model (bootproof) v1"
KERNEL_BANNER = "BOOTPROOF TEST KERNEL: running"

#: The bad patterns of a Xous boot: any of them fails the boot at once. Only what these
#: guests (and a real Xous loader) can print: fewer patterns, less searching per chunk.
BAD_PATTERNS: tuple[tuple[str, str], ...] = (
    ("loader error", r"LOADER ERROR: [^\r\n]*"),
    ("kernel error", r"KERNEL ERROR: [^\r\n]*"),
    ("init error", r"INIT ERROR [^\r\n]*"),
    ("rust-panic", r"panicked at"),
)

_H = "([0-9a-f]{8})"
_XARG = re.compile(
    rf"^XArg: arg_size_words=(\d+) version=(\d+) ram={_H} \(.*\) {_H} - {_H}$", re.M)
_TAG = re.compile(rf"^Tag (\d+) (.{{4}}) @{_H} words=(\d+) crc=([0-9a-f]{{4}}) ok$", re.M)
_REGION = re.compile(rf"^Discovered memory region {_H} \({_H} - {_H}\) -- (\d+) bytes$", re.M)
_BFLG = re.compile(rf"^Boot flags: {_H}$", re.M)
_KNAME = re.compile(r"^Name pid=1 (\S+)$", re.M)
_PROGRAM = re.compile(
    rf"^Program pid=(\d+) kind=(IniE|IniF) load={_H} entry={_H} payload={_H} sections=(\d+) "
    r"name=(\S+)$", re.M)
_SECTION = re.compile(
    rf"^Section pid=(\d+) index=(\d+) vaddr={_H} size={_H} flags=([0-9a-f]{{2}}) "
    rf"file_offset=(?:{_H}|none)$", re.M)
_KERNEL = re.compile(
    rf"^Kernel load={_H} text={_H}\+{_H} data={_H}\+{_H} bss={_H} entry={_H}$", re.M)
_JUMP = re.compile(
    rf"Jumping to kernel @ {_H} with map @ {_H} and stack @ {_H} "
    rf"\(kargs: {_H}, ip: {_H}, rpt: {_H}, xpt: {_H}\)")
_HANDOFF = re.compile(r"LOADER: (report only|starting the test kernel)[^\r\n]*")
_KTAG = re.compile(r"^KERNEL: arg tag (.{4}) words=(\d+)$", re.M)
_INIT = r"INIT (\S+) pid={pid} checksum=([0-9a-f]{{8}}) data=ok bss=ok"

#: Layout fields the loader cannot know (they describe the file, not the tag block).
NOT_COMPARED = frozenset({"format", "layout", "file_size", "warnings"})


@dataclass(frozen=True)
class Jump:
    """The register state the loader model hands to the kernel (the ``Jumping`` line)."""

    entry: int
    satp: int
    sp: int
    kargs: int
    ip: int
    rpt: int
    xpt: int


@dataclass(frozen=True)
class InitMarker:
    """One init program's report: its name, PID and checksum of its own sections."""

    name: str
    pid: int
    checksum: int


@dataclass(frozen=True)
class XousBootResult:
    """What a boot proved: the loader's layout, its jump, every init marker, the log."""

    layout: XousLayout
    jump: Jump
    report_only: bool
    markers: tuple[InitMarker, ...]
    kernel_tags: tuple[tuple[str, int], ...]
    stages: tuple[str, ...]
    log_path: Path
    exitcode: int


def _fourcc(value: int) -> str:
    return value.to_bytes(4, "little").decode("ascii", errors="backslashreplace")


def layout_from_loader(text: str) -> XousLayout:
    """Parse the loader model's report (serial text) into the shared layout model.

    ``layout`` is inferred from the payload offsets and ``file_size`` is 0: the loader
    cannot know them (see :data:`NOT_COMPARED`). Raises FormatError naming the missing line
    when the report is incomplete.
    """
    text = text.replace("\r", "")
    xarg = _XARG.search(text)
    kern = _KERNEL.search(text)
    if xarg is None or kern is None:
        missing = "XArg" if xarg is None else "Kernel"
        raise FormatError(f"the loader model's report has no {missing} line",
                          field="serial log")
    ram = Region(_fourcc(int(xarg.group(3), 16)), int(xarg.group(4), 16),
                 int(xarg.group(5), 16) - int(xarg.group(4), 16))
    tags = tuple(
        TagInfo(index=int(m.group(1)), tag=m.group(2), offset=int(m.group(3), 16),
                size_words=int(m.group(4)), crc16=int(m.group(5), 16), crc_ok=True)
        for m in _TAG.finditer(text))
    regions = tuple(
        Region(_fourcc(int(m.group(1), 16)), int(m.group(2), 16), int(m.group(4)))
        for m in _REGION.finditer(text))
    sections: dict[int, list[Section]] = {}
    for m in _SECTION.finditer(text):
        off = None if m.group(6) is None else int(m.group(6), 16)
        sections.setdefault(int(m.group(1)), []).append(
            Section(int(m.group(3), 16), int(m.group(4), 16), int(m.group(5), 16), off))
    names: dict[int, str] = {}
    kname = _KNAME.search(text)
    if kname is not None and kname.group(1) != "-":
        names[1] = kname.group(1)
    programs = []
    for m in _PROGRAM.finditer(text):
        pid = int(m.group(1))
        name = "" if m.group(7) == "-" else m.group(7)
        if name:
            names[pid] = name
        programs.append(Program(
            kind=m.group(2), pid=pid, name=name, load_offset=int(m.group(3), 16),
            entrypoint=int(m.group(4), 16), payload_size=int(m.group(5), 16),
            sections=tuple(sections.get(pid, ()))))
    g = [int(kern.group(i), 16) for i in range(1, 8)]
    kernel = Kernel(load_offset=g[0], text_offset=g[1], text_size=g[2], data_offset=g[3],
                    data_size=g[4], bss_size=g[5], entrypoint=g[6])
    bflg = _BFLG.search(text)
    flags = int(bflg.group(1), 16) if bflg else 0
    offsets = [p.load_offset for p in programs if p.kind == "IniE"] + [kernel.load_offset]
    aligned = all(o % 4096 == 0 for o in offsets) and min(offsets) >= 4096
    return XousLayout(
        layout="aligned" if aligned else "legacy", arg_size_words=int(xarg.group(1)),
        file_size=0, ram=ram, regions=regions, tags=tags, programs=tuple(programs),
        kernel=kernel, debug=bool(flags & 4), names=names)


def _flatten(value: Any, prefix: str, out: dict[str, object]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not prefix and k in NOT_COMPARED:
                continue
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(value, list):
        out[f"{prefix}.count"] = len(value)
        for i, v in enumerate(value):
            _flatten(v, f"{prefix}[{i}]", out)
    else:
        out[prefix] = value


def flat_layout(layout: XousLayout) -> dict[str, object]:
    """``layout`` as a flat ``{"programs[0].sections[1].vaddr": value}`` mapping, without the
    fields the loader cannot know."""
    out: dict[str, object] = {}
    _flatten(layout.to_json(), "", out)
    return out


def compare_layouts(expected: XousLayout, booted: XousLayout) -> list[str]:
    """Every difference between the builder's layout and the booted loader's, one per line
    (empty when they agree on every field the loader reports)."""
    return layout_differences(flat_layout(expected), flat_layout(booted))


#: Where args.bin can go: the board's memory-map range for each placement.
PLACEMENTS = MappingProxyType({"flash": "flash", "ram": "args_ram"})


def flash_argv(board: Board, loader: Path, args_bin: Path, placement: str = "flash") -> list[str]:
    """QEMU's command line: ``board`` with the loader model as ``-kernel`` and ``args_bin``
    placed at the start of the board's ``flash`` (or, for ``placement="ram"``, ``args_ram``)
    memory-map range. Raises ValueError for an unknown placement."""
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {sorted(PLACEMENTS)}, not {placement!r}")
    flash = board.region(PLACEMENTS[placement])
    file_opt = str(args_bin).replace(",", ",,")  # QEMU option syntax escapes commas
    return board.argv(extra=[
        "-kernel", str(loader),
        "-device", f"loader,file={file_opt},addr=0x{flash.start:x},force-raw=on",
    ])


def _check_args_file(args_bin: Path, board: Board, placement: str) -> None:
    try:
        size = args_bin.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read the args.bin: {exc.strerror}", path=args_bin) from exc
    area = board.region(PLACEMENTS[placement])
    if size < 28 or size > area.size:
        raise InputError(f"must be 28 bytes to {area.size} bytes (the board's {area.name})",
                         path=args_bin, field="size", value=size)


def boot_args(
    args_bin: Path,
    *,
    log_dir: Path,
    expected_layout: XousLayout | None = None,
    expectations: Sequence[str] = (),
    board: str | Path | Board = DEFAULT_BOARD,
    timeout: float = DEFAULT_TIMEOUT,
    cache_dir: Path | None = None,
    on_stage: Callable[[str, str], None] | None = None,
    placement: str = "flash",
) -> XousBootResult:
    """Boot ``args_bin`` under the loader model and check every stage (module docstring).

    ``expected_layout``: compared with what the loader printed (LayoutMismatch lists the
    differing fields). ``expectations``: texts that must appear on the serial console.
    ``on_stage(name, detail)`` is called as each stage passes. ``placement``: ``"flash"``
    (pflash bank 0) or ``"ram"`` (the board's ``args_ram`` range; IniF programs then have no
    flash to run from). The serial log is kept in ``log_dir``.

    Raises InputError for an unreadable or oversized file or a bad placement,
    InfrastructureError when QEMU or the cross compiler is missing, BadPattern on a
    ``LOADER ERROR`` (or kernel or init error) line, BootTimeout, UnexpectedExit (QEMU exited
    with a failure status or an expectation was never seen) and LayoutMismatch.
    """
    brd = board if isinstance(board, Board) else load_board(board)
    if placement not in PLACEMENTS:
        raise InputError(f"must be one of {', '.join(sorted(PLACEMENTS))}", field="placement",
                         value=placement)
    _check_args_file(args_bin, brd, placement)
    loader = build_loader(cache_dir)
    deadline = Deadline(timeout)
    stages: list[str] = []

    def passed(name: str, detail: str) -> None:
        stages.append(name)
        if on_stage is not None:
            on_stage(name, detail)

    log_dir.mkdir(parents=True, exist_ok=True)
    argv = flash_argv(brd, loader, args_bin, placement)
    with QemuMachine(argv, log_dir=log_dir, name="xous-boot", qmp=False,
                     bad_patterns=BadPatterns(BAD_PATTERNS)) as machine:
        con = machine.console

        def fail_exit(status: int | None, what: str, missing: Sequence[str] = ()) -> NoReturn:
            raise UnexpectedExit(f"QEMU exited with status {status} {what}", exitcode=status,
                                 missing=missing, log_path=machine.log_path,
                                 log_tail=con.tail())

        con.expect(re.escape(LOADER_BANNER), deadline, name="the loader model's banner")
        passed("loader", "the loader model started")
        jm = con.expect(_JUMP, deadline, name="the loader's jump line")
        jump = Jump(*(int(jm.group(i), 16) for i in range(1, 8)))
        layout = layout_from_loader(con.log_text())
        passed("validated", f"{len(layout.tags)} tags, {len(layout.programs)} programs, "
                            f"jump to 0x{jump.entry:08x} with satp 0x{jump.satp:08x}")
        if expected_layout is not None:
            diffs = compare_layouts(expected_layout, layout)
            if diffs:
                raise LayoutMismatch(
                    f"the loader model's view differs from the layout report in "
                    f"{len(diffs)} field(s)", differences=diffs, log_path=machine.log_path,
                    log_tail=con.tail())
            passed("layout", "the loader's view equals the layout report")
        hand = con.expect(_HANDOFF, deadline, name="the loader's hand-off")
        report_only = hand.group(1) == "report only"
        markers: list[InitMarker] = []
        if not report_only:
            con.expect(re.escape(KERNEL_BANNER), deadline, name="the test kernel's banner")
            passed("kernel", "the test kernel is running")
            con.expect(re.escape("KERNEL: data pattern ok, bss zeroed"), deadline,
                       name="the kernel's .data/.bss check")
            passed("kernel-data", "the kernel's .data pattern and zeroed .bss check out")
            for prog in layout.programs:
                m = con.expect(_INIT.format(pid=prog.pid), deadline,
                               name=f"the marker of PID {prog.pid}")
                marker = InitMarker(m.group(1), prog.pid, int(m.group(2), 16))
                markers.append(marker)
                passed("init", f"PID {prog.pid} {marker.name}: checksum "
                               f"0x{marker.checksum:08x}, .data and .bss ok")
            con.expect(re.escape(f"KERNEL: all {len(layout.programs)} init programs reported"),
                       deadline,
                       name="the kernel's last report")
        status = machine.wait(deadline)
        if status != 0:
            fail_exit(status, "(the guest's failure code)")
        text = con.log_text()
        missing = [e for e in expectations if e not in text]
        if missing:
            fail_exit(status, "before every expected text appeared; never seen: "
                      + ", ".join(repr(e) for e in missing), missing)
        kernel_tags = tuple((m.group(1), int(m.group(2))) for m in _KTAG.finditer(text))
        if not report_only:
            seen = [(t.tag, t.size_words) for t in layout.tags]
            if list(kernel_tags) != seen:
                raise LayoutMismatch(
                    "the kernel's view of the args differs from the loader's",
                    differences=[f"loader: {seen}", f"kernel: {list(kernel_tags)}"],
                    log_path=machine.log_path, log_tail=con.tail())
        passed("power-off" if not report_only else "report-only",
               "QEMU exited with status 0" + (" (report only: real kernel not started)"
                                              if report_only else ""))
        return XousBootResult(layout=layout, jump=jump, report_only=report_only,
                              markers=tuple(markers), kernel_tags=kernel_tags,
                              stages=tuple(stages), log_path=machine.log_path,
                              exitcode=status)


# -- the bundled example: our guests built into an args.bin by the builder -----------------

#: The board's LiteX-style memory descriptions, fed to the builder's --csv / --svd.
BOARD_CSV = CONFIGS_DIR / "riscv32-virt" / "csr.csv"
BOARD_SVD = CONFIGS_DIR / "riscv32-virt" / "soc.svd"
_KINDS: tuple[InitKind, ...] = ("small", "big", "xip")


@dataclass(frozen=True)
class Example:
    """A built example image: the args.bin, the builder's JSON map and the guest ELFs."""

    args_bin: Path
    map_json: Path
    kernel: Path
    inits: tuple[Path, ...]   # IniE programs, in --init order
    inifs: tuple[Path, ...]   # IniF programs, in --inif order

    @property
    def programs(self) -> tuple[Path, ...]:
        """The init program ELFs in PID order (2, 3, ...): IniE first, then IniF."""
        return self.inits + self.inifs

    def expected_layout(self) -> XousLayout:
        """The builder's layout report (raises FormatError if the map is malformed)."""
        return XousLayout.from_json(json.loads(self.map_json.read_text(encoding="utf-8")))


def example_programs(count: int) -> list[tuple[str, InitKind, int]]:
    """``count`` init programs as (name, kind, variant), cycling small, big, xip."""
    if count < 1:
        raise ValueError("an example needs at least one init program")
    return [(f"init{i}_{_KINDS[(i - 1) % 3]}", _KINDS[(i - 1) % 3], i)
            for i in range(1, count + 1)]


def build_example(workdir: Path, *, count: int = 3, memory: str = "csv", debug: bool = False,
                  cache_dir: Path | None = None) -> Example:
    """Cross-build the test kernel and ``count`` init programs, then build ``args.bin`` in
    ``workdir`` with the builder (``--csv`` or ``--svd`` of the riscv32 virt board; ``-d``
    when ``debug``).

    Raises InfrastructureError (cross compiler missing), the builder's own errors (an image
    that cannot be built) or ValueError (bad ``count``/``memory``).
    """
    from bootproof.builder.xous.image import build_image
    from bootproof.builder.xous.regions import read_csr_csv, read_svd, reduce_regions

    if memory not in ("csv", "svd"):
        raise ValueError(f"memory must be 'csv' or 'svd', not {memory!r}")
    kernel = build_kernel(cache_dir)
    inits: list[Path] = []
    inifs: list[Path] = []
    for name, kind, variant in example_programs(count):
        elf = build_init(name, kind, variant, cache_dir)
        (inifs if kind == "xip" else inits).append(elf)
    workdir.mkdir(parents=True, exist_ok=True)
    args_bin = workdir / "args.bin"
    map_json = workdir / "args.json"
    source = BOARD_CSV if memory == "csv" else BOARD_SVD
    regions = read_csr_csv(source) if memory == "csv" else read_svd(source)
    build_image(args_bin, kernel,
                [*(("IniE", elf) for elf in inits), *(("IniF", elf) for elf in inifs)],
                reduce_regions(regions, source=str(source)), debug=debug, map_path=map_json)
    return Example(args_bin, map_json, kernel, tuple(inits), tuple(inifs))


def elf_checksum(elf: Path) -> int:
    """The checksum an init program reports: FNV-1a (32 bit) over the bytes of its
    ``.text``, ``.rodata`` and ``.data`` sections, in that order, as stored in the ELF."""
    from elftools.elf.elffile import ELFFile

    h = 0x811C9DC5
    with elf.open("rb") as f:
        ef = ELFFile(f)
        for name in (".text", ".rodata", ".data"):
            sec = ef.get_section_by_name(name)
            for byte in b"" if sec is None else sec.data():
                h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return h


def demo(workdir: Path) -> int:
    """Build the bundled Xous example (test kernel + small, multi-page and XIP init
    programs) with the builder, boot it under the loader model, and print each verified
    stage and the verified layout. Returns 0; boot failures raise (see :func:`boot_args`)."""
    from bootproof.harness.xous.cli import print_result, print_stage

    print("== Xous: build the example args.bin (kernel + 3 init programs, --csv)")
    example = build_example(workdir, count=3, memory="csv")
    print(f"   {example.args_bin} (map: {example.map_json})")
    print("== Xous: boot it under the loader model (qemu-system-riscv32 -M virt)")
    result = boot_args(example.args_bin, log_dir=workdir / "logs",
                       expected_layout=example.expected_layout(),
                       on_stage=print_stage)
    for marker, elf in zip(result.markers, example.programs, strict=True):
        want = elf_checksum(elf)
        if marker.checksum != want:
            raise LayoutMismatch(
                f"PID {marker.pid} reported checksum 0x{marker.checksum:08x}, its ELF "
                f"{elf.name} gives 0x{want:08x}",
                differences=[f"programs[pid={marker.pid}].checksum"],
                log_path=result.log_path)
        print_stage("checksum", f"PID {marker.pid} {marker.name}: 0x{want:08x} equals its ELF")
    print_result(result, sys.stdout)
    return 0

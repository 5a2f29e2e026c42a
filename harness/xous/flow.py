"""Boot an args.bin under the Xous loader model on QEMU's riscv32 virt board.

The flow is a list of ordered stages, each a console expectation with the boot's deadline:

1. ``loader``      the loader model starts (``Xous loader model (bootproof) v1``);
2. ``validated``   it walked and checked every tag and printed where it would jump;
3. ``layout``      what it printed, parsed into the layout model (:mod:`.report`), equals
                   the expected layout (the builder's ``--map`` JSON or ``inspect``);
4. ``kernel``      the test kernel's banner, then its own .data/.bss check;
5. ``init``        one marker per init program, in PID order, with its checksum;
6. ``power-off``   the kernel reports that every program ran and QEMU exits with status 0.

Between 3 and 4, for a signed ``xous.img`` the ``signed`` stage (the loader model found it in
flash and its length field checks out) and for an image with a Swap tag the ``swap`` stage
(the swap region and the IniS programs the loader was told about, and read from a plaintext
swap image placed at the tag's ``flash_offset`` with ``swap_image``).

A kernel that is not the bootproof test kernel (a real Xous image) stops after stage 3 in
"report only" mode. The args go into the board's flash (pflash bank 0, 0x20000000), or its
``args_ram`` range, with QEMU's generic loader device; the loader model ELF is QEMU's
``-kernel`` with ``-bios none``. The flow returns an :class:`XousBootResult` and never
prints: an ``on_stage`` callback sees each :class:`~bootproof.harness.core.stages.Stage`.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import NoReturn

from bootproof.builder.errors import InputError
from bootproof.builder.xous.layout import XousLayout
from bootproof.harness.core.boards import Board, load_board
from bootproof.harness.core.console import BadPatterns
from bootproof.harness.core.deadline import Deadline
from bootproof.harness.core.errors import LayoutMismatch, UnexpectedExit
from bootproof.harness.core.handover import Handover
from bootproof.harness.core.machine import QemuMachine
from bootproof.harness.core.replay import RecordReplay
from bootproof.harness.core.runrecord import RunRecord
from bootproof.harness.core.stages import Stage, StageCallback
from bootproof.harness.guests.build import build_kernel, build_loader
from bootproof.harness.xous.report import (
    JUMP_LINE,
    Jump,
    SignedFlash,
    compare_layouts,
    layout_from_loader,
    signed_from_loader,
)

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

_HANDOFF = re.compile(r"LOADER: (report only|starting the test kernel)[^\r\n]*")
_KTAG = re.compile(r"^KERNEL: arg tag (.{4}) words=(\d+)$", re.M)
_INIT = r"INIT (\S+) pid={pid} checksum=([0-9a-f]{{8}}) data=ok bss=ok"


@dataclass(frozen=True)
class InitMarker:
    """One init program's report: its name, PID and checksum of its own sections."""

    name: str
    pid: int
    checksum: int


@dataclass(frozen=True)
class XousBootResult:
    """What a boot proved: the loader's layout, its jump, every init marker, the stages in
    the order they passed, the log."""

    layout: XousLayout
    jump: Jump
    report_only: bool
    markers: tuple[InitMarker, ...]
    kernel_tags: tuple[tuple[str, int], ...]
    stages: tuple[Stage, ...]
    log_path: Path
    exitcode: int
    signed: SignedFlash | None = None

    @property
    def stage_names(self) -> tuple[str, ...]:
        """The names of :attr:`stages`, in order."""
        return tuple(stage.name for stage in self.stages)


#: Where args.bin can go: the board's memory-map range for each placement.
PLACEMENTS = MappingProxyType({"flash": "flash", "ram": "args_ram"})


def _file_device(path: Path, address: int) -> list[str]:
    file_opt = str(path).replace(",", ",,")  # QEMU option syntax escapes commas
    return ["-device", f"loader,file={file_opt},addr=0x{address:x},force-raw=on"]


def flash_argv(board: Board, loader: Path, args_bin: Path, placement: str = "flash",
               extra_files: Sequence[tuple[Path, int]] = ()) -> list[str]:
    """QEMU's command line: ``board`` with the loader model as ``-kernel`` and ``args_bin``
    placed at the start of the board's ``flash`` (or, for ``placement="ram"``, ``args_ram``)
    memory-map range; each of ``extra_files`` at its address. Raises ValueError for an
    unknown placement."""
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {sorted(PLACEMENTS)}, not {placement!r}")
    flash = board.region(PLACEMENTS[placement])
    devices = _file_device(args_bin, flash.start)
    for path, address in extra_files:
        devices += _file_device(path, address)
    return board.argv(extra=["-kernel", str(loader), *devices])


def swap_image_address(swap_image: Path, args_bin: Path, layout: XousLayout | None,
                       board: Board) -> int:
    """Where ``swap_image`` goes: the Swap tag's ``flash_offset``, which must lie in the
    board's flash after args.bin, the whole image inside. InputError otherwise."""
    if layout is None:
        from bootproof.builder.xous.examine import args_layout_file  # loads the crypto libraries

        layout = args_layout_file(args_bin)
    if layout.swap is None:
        raise InputError("a swap image is given but the args have no Swap tag",
                         path=swap_image, field="--swap-image")
    flash = board.region("flash")
    address = layout.swap.flash_offset
    try:
        size, args_size = swap_image.stat().st_size, args_bin.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read the swap image: {exc.strerror}",
                         path=swap_image) from exc
    if not flash.start + args_size <= address or address + size > flash.end:
        raise InputError(f"the Swap tag's flash_offset puts the {size}-byte swap image outside "
                         f"the board's flash after args.bin (0x{flash.start + args_size:x} - "
                         f"0x{flash.end:x})", path=swap_image, field="flash_offset",
                         value=address)
    return address


def _check_args_file(args_bin: Path, board: Board, placement: str) -> None:
    try:
        size = args_bin.stat().st_size
    except OSError as exc:
        raise InputError(f"cannot read the args.bin: {exc.strerror}", path=args_bin) from exc
    area = board.region(PLACEMENTS[placement])
    if size < 28 or size > area.size:
        raise InputError(f"must be 28 bytes to {area.size} bytes (the board's {area.name})",
                         path=args_bin, field="size", value=size)


def symbol_files(args_bin: Path, loader: Path, cache_dir: Path | None = None) -> list[Path]:
    """The ELF files a debugger can use for this boot: the loader model, and bootproof's test
    kernel when ``args_bin`` carries its code (its ``.text`` bytes are in the image)."""
    from elftools.elf.elffile import ELFFile

    out = [loader]
    kernel = build_kernel(cache_dir)
    with kernel.open("rb") as f:
        text = ELFFile(f).get_section_by_name(".text")
        code = b"" if text is None else text.data()
    if code and code in args_bin.read_bytes():
        out.append(kernel)
    return out


def boot_args(
    args_bin: Path,
    *,
    log_dir: Path,
    expected_layout: XousLayout | None = None,
    expectations: Sequence[str] = (),
    board: str | Path | Board = DEFAULT_BOARD,
    timeout: float = DEFAULT_TIMEOUT,
    cache_dir: Path | None = None,
    on_stage: StageCallback | None = None,
    placement: str = "flash",
    swap_image: Path | None = None,
    handover: Handover | None = None,
    rr: RecordReplay | None = None,
) -> XousBootResult:
    """Boot ``args_bin`` under the loader model and check every stage (module docstring).

    ``expected_layout``: compared with what the loader printed (LayoutMismatch lists the
    differing fields). ``expectations``: texts that must appear on the serial console.
    ``on_stage(stage)`` is called as each stage passes. ``placement``: ``"flash"``
    (pflash bank 0) or ``"ram"`` (the board's ``args_ram`` range; IniF programs then have no
    flash to run from). ``swap_image``: a swap image put into the flash at the Swap tag's
    ``flash_offset``, where the loader model looks for it. The serial log is kept in
    ``log_dir``, with the run record and the script that re-runs the boot (``xous-boot.run.json``,
    ``xous-boot.repro.sh``: see :mod:`bootproof.harness.core.runrecord`), which a failure's message
    names. ``handover``: the console handed to a person at the end, or QEMU's gdbstub
    (:mod:`bootproof.harness.core.handover`; the deadline is lifted under gdb). ``rr``:
    record the boot with QEMU's record/replay, or replay a recording
    (:mod:`bootproof.harness.core.replay`; not together with gdb).

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
    hands = handover or Handover()
    if rr is not None:
        if hands.gdb:
            raise InputError("record/replay and --gdb cannot be combined", field=f"--{rr.mode}")
        rr.check()
    extra = [] if swap_image is None else [
        (swap_image, swap_image_address(swap_image, args_bin, expected_layout, brd))]
    loader = build_loader(cache_dir)
    deadline = Deadline(hands.timeout(timeout))
    stages: list[Stage] = []

    record = RunRecord(log_dir, "xous-boot")
    record.add_input("args.bin", args_bin)
    record.add_input("loader model ELF", loader)
    if rr is not None and rr.mode == "replay":
        record.add_input("recording replayed", rr.path)

    def passed(name: str, detail: str) -> None:
        stage = Stage(name, time.monotonic() - start, detail)
        stages.append(stage)
        record.add_stage(stage)
        if on_stage is not None:
            on_stage(stage)

    log_dir.mkdir(parents=True, exist_ok=True)
    argv = [*flash_argv(brd, loader, args_bin, placement, extra), *hands.qemu_options(),
            *(rr.qemu_options() if rr is not None else [])]
    start = time.monotonic()  # Stage.seconds count from QEMU's start
    rr_session = rr.session() if rr is not None else contextlib.nullcontext()
    with rr_session, record.judging(), QemuMachine(argv, log_dir=log_dir, name="xous-boot",
                                                   qmp=hands.gdb,
                                                   bad_patterns=BadPatterns(BAD_PATTERNS),
                                                   record=record) as machine, \
            hands.at_end(machine):
        con = machine.console
        if hands.gdb:
            hands.announce_gdb(machine, symbol_files(args_bin, loader, cache_dir), "riscv:rv32")

        def fail_exit(status: int | None, what: str, missing: Sequence[str] = ()) -> NoReturn:
            raise UnexpectedExit(f"QEMU exited with status {status} {what}", exitcode=status,
                                 missing=missing, log_path=machine.log_path,
                                 log_tail=con.tail())

        con.expect(re.escape(LOADER_BANNER), deadline, name="the loader model's banner")
        passed("loader", "the loader model started")
        jump = Jump.from_match(con.expect(JUMP_LINE, deadline, name="the loader's jump line"))
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
        signed = signed_from_loader(con.log_text())
        if signed is not None:
            passed("signed", f"signed xous.img in flash: version {signed.version}, signed_len "
                             f"0x{signed.signed_len:x} matches its trailer, args at "
                             f"0x{signed.args_address:08x}")
        if layout.swap is not None:
            passed("swap", _swap_detail(layout))
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
                              exitcode=status, signed=signed)


def _swap_detail(layout: XousLayout) -> str:
    swap = layout.swap
    assert swap is not None
    r = swap.region
    names = [f"PID {pid} {name}" for pid, name in layout.swap_names.items()]
    text = (f"swap 0x{r.start:08x} - 0x{r.end:08x} ({swap.pages} pages); IniS: "
            + (", ".join(names) or "none named"))
    if swap.args_size is None:
        return text + " (swap args not read: no plaintext swap image in flash)"
    return text + f"; {len(swap.programs)} IniS tag(s) read from the swap image"

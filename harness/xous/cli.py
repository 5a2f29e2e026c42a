"""``bootproof xous boot``: boot an args.bin under the Xous loader model on QEMU.

The printers here (:func:`print_stage`, :func:`print_result`) are also the Xous part of
``bootproof demo``; the flow itself never prints.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bootproof.builder.cliutil import HelpFormatter
from bootproof.builder.errors import FormatError
from bootproof.builder.xous.layout import XousLayout
from bootproof.harness.core import handover, replay
from bootproof.harness.core.stages import Stage
from bootproof.harness.xous.flow import (
    DEFAULT_BOARD,
    DEFAULT_TIMEOUT,
    PLACEMENTS,
    XousBootResult,
    boot_args,
)

BOOT_DESCRIPTION = (
    "Boot ARGS.bin (ours or a real Xous image, or a signed Precursor xous.img) under the Xous\n"
    "loader model on QEMU's riscv32 virt board. The loader model validates every tag (and its\n"
    "CRC), prints its view of the image, which is compared with the layout report (--map,\n"
    "else `xous inspect`), lays the programs out and jumps to the kernel. A bootproof test\n"
    "kernel then runs every init program; a real kernel is not started (report only). Exit\n"
    "status 0 only when every stage passed and every --expect text was seen; 1 when the boot\n"
    "failed; 3 when QEMU or the cross compiler is missing."
)


def _expected_layout(args: argparse.Namespace, out: Any) -> XousLayout | None:
    if args.map:
        return XousLayout.read(Path(args.map))
    # Imported here: the signed-image readers load PyCryptodome and cryptography (~80 ms),
    # which `bootproof --help` does not need.
    from bootproof.builder.xous.examine import args_layout_file

    try:
        return args_layout_file(args.args_bin)
    except FormatError as exc:
        print(f"note: inspect cannot decode the image ({exc}); booting without a layout "
              "comparison", file=out)
        return None


def print_stage(stage: Stage, out: Any = None) -> None:
    """One verified stage, as the boot reports it (``out`` defaults to stdout)."""
    print(f"  [ok] {stage.name:<12} {stage.detail}", file=out or sys.stdout, flush=True)


def print_result(result: XousBootResult, out: Any) -> None:
    """Print the verified layout (the loader's view) and where it jumped."""
    j = result.jump
    print("", file=out)
    print("Loader model's view of the image (verified):", file=out)
    lines = result.layout.to_table().splitlines()
    words = result.layout.arg_size_words
    # The loader sees the tag block, not the file: replace the header's file size.
    lines[0] = (f"args.bin as the loader model read it: tag block {words} words "
                f"({words * 4} bytes)" + (", debug" if result.layout.debug else ""))
    print("\n".join(lines), file=out)
    print("", file=out)
    print(f"Jump: entry 0x{j.entry:08x}, satp 0x{j.satp:08x}, sp 0x{j.sp:08x}, args "
          f"0x{j.kargs:08x}, ip 0x{j.ip:08x}, rpt 0x{j.rpt:08x}, xpt 0x{j.xpt:08x}", file=out)
    if result.report_only:
        print("Report only: the kernel is not the bootproof test kernel (or the image's RAM is "
              "not the board's), so the model validated and laid it out without jumping.",
              file=out)
    print(f"Serial log: {result.log_path}", file=out)


def run_boot(args: argparse.Namespace) -> int:
    """Body of ``bootproof xous boot``; returns 0 on success, raises on failure."""
    out = sys.stdout
    args_bin = Path(args.args_bin)
    log_dir = Path(args.log_dir) if args.log_dir else Path("bootproof-logs") / args_bin.stem
    rr = replay.from_options(args.record, args.replay)
    if rr is not None:
        rr.check()  # before decoding the image: a bad option is named first
    expected = _expected_layout(args, out)
    print(f"Booting {args_bin} on {args.board} (serial log in {log_dir})", file=out)

    result = boot_args(args_bin, log_dir=log_dir, expected_layout=expected,
                       expectations=args.expect, board=args.board, timeout=args.timeout,
                       on_stage=lambda stage: print_stage(stage, out), placement=args.place,
                       swap_image=Path(args.swap_image) if args.swap_image else None,
                       handover=handover.from_arguments(args, out),
                       rr=rr)
    done = result.stages[-1].seconds
    for text in args.expect:
        print_stage(Stage("expect", done, f"seen: {text!r}"), out)
    print_result(result, out)
    return 0


def register(subparsers: Any) -> None:  # argparse._SubParsersAction
    """Add ``boot`` to the ``bootproof xous`` subcommands."""
    p = subparsers.add_parser("boot", help="boot an args.bin under the loader model (QEMU)",
                              description=BOOT_DESCRIPTION, formatter_class=HelpFormatter)
    p.add_argument("args_bin", metavar="ARGS.bin", help="the args.bin to boot")
    p.add_argument("--expect", action="append", default=[], metavar="TEXT",
                   help="text that must appear on the serial console (repeatable)")
    p.add_argument("--map", metavar="FILE.json",
                   help="layout report to compare with (default: decode ARGS.bin)")
    p.add_argument("--log-dir", metavar="DIR",
                   help="where to keep the serial log (default: bootproof-logs/<stem>)")
    p.add_argument("--place", choices=sorted(PLACEMENTS), default="flash",
                   help="where args.bin goes: the board's flash (default) or RAM")
    p.add_argument("--swap-image", metavar="FILE",
                   help="swap image to put into the flash at the Swap tag's flash_offset "
                        "(a plaintext one lets the loader model read the IniS programs)")
    p.add_argument("--board", default=DEFAULT_BOARD,
                   help=f"board name or .toml file (default: {DEFAULT_BOARD})")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help="deadline for the whole boot, before the multiplier (default: "
                        f"{DEFAULT_TIMEOUT:g})")
    rr = p.add_mutually_exclusive_group()
    rr.add_argument("--record", metavar="FILE",
                    help="record the boot with QEMU's record/replay (-icount rr=record) into "
                         "FILE, kept only when the boot passed")
    rr.add_argument("--replay", metavar="FILE",
                    help="replay a boot recorded with --record (same QEMU, board and files): "
                         "the guest prints the same console output")
    handover.add_arguments(p)
    p.set_defaults(func=run_boot)

"""``bootproof demo``: build and boot the bundled examples, printing each verified stage.

The Xous example (test kernel + three init programs, packed with ``create-image``) boots
under the RV32 loader model on ``qemu-system-riscv32 -M virt``; the Xen example (dom0 +
2 domUs, generated with ``uboot-script-gen``) boots through Debian's U-Boot on
``qemu-system-aarch64 -M virt,virtualization=on``. The first Xen run fetches Debian's arm64
packages into the cache; later runs need no network.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bootproof.builder.cliutil import EXIT_FAILED, EXIT_OK
from bootproof.harness.core.errors import BootFailure
from bootproof.harness.core.stages import Stage
from bootproof.harness.xous.cli import print_result, print_stage
from bootproof.harness.xous.flow import boot_args


def register(subparsers: Any) -> None:  # argparse._SubParsersAction
    """Add ``demo`` to the top-level command."""
    parser = subparsers.add_parser(
        "demo",
        help="build and boot the bundled Xous and Xen examples",
        description=(
            "Build and boot the bundled examples, printing each verified stage: the Xous\n"
            "example under the RV32 loader model on qemu-system-riscv32 -M virt, the Xen\n"
            "dom0less example (dom0 + 2 domUs) through U-Boot on qemu-system-aarch64.\n"
            "The first Xen run downloads Debian's arm64 packages into the cache."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--only", choices=("xous", "xen"), default=None,
                        help="run one example only (default: both)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="write images and serial logs here (default: a new temporary dir)")
    parser.add_argument("--offline", action="store_true",
                        help="use the asset cache only; fail instead of downloading")
    parser.set_defaults(func=run)


def _example(title: str, run: Callable[[], int]) -> int:
    """Run one example; a failed boot is reported and counted, not raised, so the next
    example still runs (a missing tool or bad input still stops the command)."""
    start = time.monotonic()
    try:
        rc = run()
    except BootFailure as exc:
        print(f"{title}: {exc}", file=sys.stderr, flush=True)
        rc = EXIT_FAILED
    print(f"== {title}: {'PASSED' if rc == 0 else 'FAILED'} "
          f"in {time.monotonic() - start:.1f} s\n", flush=True)
    return rc


def xous_example(workdir: Path) -> int:
    """Build the bundled Xous example (test kernel + small, multi-page and XIP init
    programs) with the builder, boot it under the loader model, and print each verified
    stage and the verified layout. Returns 0; boot failures raise (see ``boot_args``)."""
    # Imported here: the example builder loads pyelftools (40-60 ms measured with
    # `python -X importtime`), which every `bootproof` command line would pay otherwise.
    from bootproof.harness.xous.example import build_example, check_checksums

    print("== Xous: build the example args.bin (kernel + 3 init programs, --csv)")
    example = build_example(workdir, count=3, memory="csv")
    print(f"   {example.args_bin} (map: {example.map_json})")
    print("== Xous: boot it under the loader model (qemu-system-riscv32 -M virt)")
    result = boot_args(example.args_bin, log_dir=workdir / "logs",
                       expected_layout=example.expected_layout(), on_stage=print_stage)
    for stage in check_checksums(result, example):
        print_stage(stage)
    print_result(result, sys.stdout)
    return 0



def _show_xen_stage(stage: Stage) -> None:
    print(f"  [{stage.seconds:6.2f} s] ok  {stage.name}"
          + (f"  ({stage.detail})" if stage.detail else ""), flush=True)


def xen_example(workdir: Path, *, offline: bool = False) -> int:
    """Build the bundled Xen dom0less example (dom0 + 2 domUs) with our uboot-script-gen,
    boot it, print each verified stage; 0 when every stage passed, 1 otherwise.

    Uses the asset cache (a second run needs no network). Infrastructure and input errors
    propagate (the caller maps them to exit codes).
    """
    # imported when run: at the top they add ~50 ms to `bootproof --help` (-X importtime)
    from bootproof.harness.xen import flow as xen_flow
    from bootproof.harness.xen.demo import prepare_demo

    demo = prepare_demo(workdir, offline=offline)
    print(f"xen demo: Xen {demo.guests.xen_version} ({demo.guests.xen_source}), Linux "
          f"{demo.guests.kernel_version}; typing: {demo.generated.load_line}", flush=True)
    try:
        result = xen_flow.run_boot(demo.generated, log_dir=demo.log_dir,
                                   on_stage=_show_xen_stage)
    except BootFailure as exc:
        print(f"xen demo: FAILED: {exc}", flush=True)
        return EXIT_FAILED
    print(f"xen demo: passed; serial log {result.log_path}", flush=True)
    return EXIT_OK



def _run_in(workdir: Path, args: argparse.Namespace) -> int:
    results = []
    if args.only in (None, "xous"):
        xous_dir = workdir / "xous"
        xous_dir.mkdir(parents=True, exist_ok=True)
        results.append(_example("Xous example", lambda: xous_example(xous_dir)))
    if args.only in (None, "xen"):
        results.append(_example("Xen dom0less example",
                                lambda: xen_example(workdir, offline=args.offline)))
    return EXIT_OK if all(rc == 0 for rc in results) else EXIT_FAILED


def run(args: argparse.Namespace) -> int:
    """Run the selected examples; 0 when every stage of every example was verified."""
    workdir = args.workdir
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="bootproof-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return _run_in(workdir, args)
    finally:
        print(f"images and serial logs are in {workdir}")

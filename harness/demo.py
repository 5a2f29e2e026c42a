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

from bootproof.builder.cliutil import EXIT_FAILED, EXIT_OK
from bootproof.harness.core.errors import BootFailure
from bootproof.harness.xen import flow as xen_boot
from bootproof.harness.xous import flow as xous_boot

DESCRIPTION = (
    "Build and boot the bundled examples, printing each verified stage: the Xous\n"
    "example under the RV32 loader model on qemu-system-riscv32 -M virt, the Xen\n"
    "dom0less example (dom0 + 2 domUs) through U-Boot on qemu-system-aarch64.\n"
    "The first Xen run downloads Debian's arm64 packages into the cache."
)


def configure(parser: argparse.ArgumentParser) -> None:
    """Make ``parser`` (``bootproof demo``) take the demo's options and run it."""
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
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


def _run_in(workdir: Path, args: argparse.Namespace) -> int:
    results = []
    if args.only in (None, "xous"):
        xous_dir = workdir / "xous"
        xous_dir.mkdir(parents=True, exist_ok=True)
        results.append(_example("Xous example", lambda: xous_boot.demo(xous_dir)))
    if args.only in (None, "xen"):
        results.append(_example("Xen dom0less example",
                                lambda: xen_boot.demo(workdir, offline=args.offline)))
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

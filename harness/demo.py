"""``bootproof demo``: build and boot the bundled examples, printing each verified stage.

The Xous example (test kernel + three init programs, packed with ``create-image``) boots
under the RV32 loader model on ``qemu-system-riscv32 -M virt``; the Xen example (dom0 +
2 domUs, generated with ``uboot-script-gen``) boots through Debian's U-Boot on
``qemu-system-aarch64 -M virt,virtualization=on``. The first Xen run fetches Debian's arm64
packages into the cache; later runs need no network.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from builder.cliutil import EXIT_FAILED, EXIT_OK


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


def _run_in(workdir: Path, args: argparse.Namespace) -> int:
    from harness import xen_boot, xous_boot

    status = EXIT_OK
    if args.only in (None, "xous"):
        start = time.monotonic()
        xous_dir = workdir / "xous"
        xous_dir.mkdir(parents=True, exist_ok=True)
        rc = xous_boot.demo(xous_dir)
        print(f"== Xous example: {'PASSED' if rc == 0 else 'FAILED'} "
              f"in {time.monotonic() - start:.1f} s\n", flush=True)
        status = status or rc
    if args.only in (None, "xen"):
        start = time.monotonic()
        rc = xen_boot.demo(workdir, offline=args.offline)
        print(f"== Xen dom0less example: {'PASSED' if rc == 0 else 'FAILED'} "
              f"in {time.monotonic() - start:.1f} s", flush=True)
        status = status or rc
    return EXIT_OK if status == 0 else EXIT_FAILED


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

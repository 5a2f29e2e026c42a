"""``disk_image`` and ``bootproof xen disk``: a partitioned disk image from an ImageBuilder config.

Flags follow the reference's ``disk_image`` (``-c -d -t -w -s -a -o -p``); ``--json`` adds
a machine-readable layout, ``--svg`` its picture. No root needed. All logic lives in
:mod:`bootproof.builder.disk.image`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bootproof.builder.cliutil import HelpFormatter, run_main
from bootproof.builder.disk.plan import DEFAULT_MAX_ROOTFS_MIB, DEFAULT_SLACK_MIB
from bootproof.builder.errors import InputError
from bootproof.builder.numbers import parse_size

DESCRIPTION = """\
Build a disk image (DOS label, or GPT with GPT=y in the config) whose partition 1 is a FAT
boot partition holding every file the boot script loads, followed by one ext4 partition for
DOM0_ROOTFS and one per DOMU_ROOTFS[i]: a cpio (newc) or tar archive, plain or compressed
with gzip, bzip2, xz or zstd, recognised by content. Device nodes, owners, modes, times and
extended attributes are kept. xl configs for every domU go into dom0's /etc/xen. No root,
loop devices or mounts are needed; the same inputs and SOURCE_DATE_EPOCH give the same bytes.

example:
  uboot-script-gen -c config -d . -t "load virtio 0:1" -o boot
  disk_image -c config -d . -t "load virtio 0:1" -o disk.img --json disk.json
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``disk_image`` options to ``parser``."""
    parser.add_argument("-c", dest="config", required=True, metavar="CONFIG",
                        help="ImageBuilder config file")
    parser.add_argument("-d", dest="directory", required=True, metavar="DIR",
                        help="directory the config's file names are relative to")
    parser.add_argument("-t", dest="load_cmd", metavar="LOAD_CMD",
                        help="U-Boot load command (sd, scsi, tftp or verbatim, e.g. "
                             "'load virtio 0:1'); names dom0's disk devices")
    parser.add_argument("-w", dest="workdir", metavar="DIR",
                        help="work directory for temporary files (default: beside the output)")
    parser.add_argument("-s", dest="slack", default=str(DEFAULT_SLACK_MIB), metavar="MB",
                        help="slack added to every rootfs partition: MiB, or a size with a K, "
                             "M or G suffix")
    parser.add_argument("-a", dest="pow2", action="store_true",
                        help="round the image size up to a power of two MiB")
    parser.add_argument("-o", dest="output", required=True, metavar="IMG",
                        help="output disk image")
    parser.add_argument("-p", dest="prefix", default="", metavar="PATH",
                        help="directory prefix inside the boot partition (as uboot-script-gen -p)")
    parser.add_argument("--max-rootfs-size", dest="max_rootfs", metavar="MB",
                        default=str(DEFAULT_MAX_ROOTFS_MIB),
                        help="refuse a rootfs archive whose extracted size (file sizes, "
                             "symlink targets, 4096 per directory, as du -sb counts them) "
                             "passes MB MiB (or a size with a K, M or G suffix): a "
                             "decompression bomb stops there")
    parser.add_argument("--json", dest="json", metavar="FILE",
                        help="also write the layout as JSON to FILE")
    parser.add_argument("--svg", dest="svg", metavar="FILE.svg",
                        help="also draw the layout as an SVG memory map (the disk's sectors: "
                             "label, partitions; the boot partition's files listed)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no layout report on stdout")


def run(args: argparse.Namespace) -> int:
    """Build the image described by parsed ``args``; print the report; return 0."""
    # Imported here: registering the command (`bootproof xen --help`, `disk_image --help`)
    # need not pay the disk builder's 20 ms of imports (python -X importtime).
    from bootproof.builder.disk.image import DEFAULT_EPOCH, build_disk
    from bootproof.builder.reproducible import source_date_epoch
    from bootproof.builder.xen.config import load_config
    from bootproof.builder.xen.config.overrides import resolve_load_cmd

    slack = parse_size(args.slack, field="-s", unit=1 << 20)
    max_rootfs = parse_size(args.max_rootfs, field="--max-rootfs-size", unit=1 << 20)
    if max_rootfs <= 0:
        raise InputError("must be a positive size (MiB, or with a K, M or G suffix)",
                         field="--max-rootfs-size", value=args.max_rootfs)
    root = Path(args.directory)
    if not root.is_dir():
        raise InputError("not a directory", field="-d", value=args.directory)
    cfg = load_config(Path(args.config))
    load_cmd = resolve_load_cmd(args.load_cmd) if args.load_cmd is not None else None
    layout = build_disk(cfg, root, Path(args.output), slack_mib=slack, pow2=args.pow2,
                        prefix=args.prefix, load_cmd=load_cmd,
                        workdir=Path(args.workdir) if args.workdir else None,
                        epoch=source_date_epoch(default=DEFAULT_EPOCH),
                        json_path=Path(args.json) if args.json else None,
                        max_rootfs_bytes=max_rootfs << 20,
                        svg_path=Path(args.svg) if args.svg else None)
    for warning in cfg.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not args.quiet:
        sys.stdout.write(layout.report())
    return 0


def register(subparsers: Any) -> None:  # argparse._SubParsersAction
    """Add ``disk`` (``bootproof xen disk``)."""
    parser = subparsers.add_parser("disk", help="rootless disk image (disk_image)",
                                   description=DESCRIPTION, formatter_class=HelpFormatter)
    add_arguments(parser)
    parser.set_defaults(func=run)


def _main(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="disk_image", description=DESCRIPTION,
                                     formatter_class=HelpFormatter)
    add_arguments(parser)
    return run(parser.parse_args(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``disk_image``."""
    return run_main("disk_image", _main, argv)

"""``uboot-script-gen`` (ImageBuilder-compatible) and ``bootproof xen script``.

Same flags, hint lines and exit status as ImageBuilder's script (errors exit 1), plus
``--map FILE.json``, ``--svg FILE.svg`` and ``--merge-overlays``. ``bootproof xen script``
takes the same flags and uses the project's exit codes (2 bad input, 3 tool failure).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from bootproof.builder.cliutil import HelpFormatter, run_main
from bootproof.builder.errors import InputError
from bootproof.builder.xen.config import load_config
from bootproof.builder.xen.config.overrides import with_overrides
from bootproof.builder.xen.generator import generate
from bootproof.builder.xen.steps import GenerateOptions

PROG = "uboot-script-gen"
DESCRIPTION = """\
Generate a U-Boot boot script (boot.source + boot.scr) that loads Xen, dom0, dom0less
domUs and the host device tree, and patches /chosen with `fdt` commands at boot.
Reads an ImageBuilder config *without executing it* (a bash subset: assignments,
quotes, ${VAR}, $(( )) arithmetic).

example:
  uboot-script-gen -c config -d binaries -t tftp -o boot --map boot.map.json
  uboot-script-gen -c config -d binaries -t tftp -s     (U-Boot computes the addresses)
"""
EPILOG = """\
-t aliases: sd = "load mmc 0:1", scsi = "load scsi 0:1", usb = "fatload usb 0:1",
tftp = "tftpb"; anything else is used verbatim.
Outputs (relative to -d): UBOOT_SOURCE, UBOOT_SCRIPT, FDTEDIT, XEN.ub (BOOT_CMD=bootm),
DEVICE_TREE-overlays.dtb (--merge-overlays), NAME.its + NAME.fit (-f).
SOURCE_DATE_EPOCH sets the uImage/FIT timestamps (reproducible outputs).
Exit status: 0 success, 1 error (as ImageBuilder)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", dest="config", metavar="CONFIG", help="ImageBuilder config file")
    p.add_argument("-d", dest="directory", metavar="DIR",
                   help="directory the config's files are relative to; outputs go there too")
    p.add_argument("-t", dest="load_cmd", metavar="LOADCMD",
                   help="U-Boot load command or alias (overrides LOAD_CMD)")
    p.add_argument("-o", dest="output", metavar="NAME",
                   help="output base name: NAME.scr and NAME.source (overrides UBOOT_*)")
    p.add_argument("-f", dest="fit", action="store_true",
                   help="build a FIT image (NAME.fit and NAME.its); needs mkimage")
    p.add_argument("-p", dest="prefix", metavar="PREFIX",
                   help="path prefix added to every file name in the load commands")
    p.add_argument("-s", dest="calc", action="store_true",
                   help="let U-Boot calculate binary images load addresses/sizes dynamically")
    p.add_argument("-k", dest="key", metavar="KEYDIR/HINT",
                   help="sign the FIT with KEYDIR/HINT.key (sha1,rsa2048); needs -f")
    p.add_argument("-u", dest="ub_dtb", metavar="DTB",
                   help="U-Boot control DTB that receives the public key (needs -k)")
    p.add_argument("--map", dest="map_file", metavar="FILE.json", type=Path,
                   help="write the layout (address, size, file, DT node of every module)")
    p.add_argument("--svg", dest="svg_file", metavar="FILE.svg", type=Path,
                   help="draw the layout as an SVG memory map (RAM: modules, DTB, script)")
    p.add_argument("--merge-overlays", dest="merge_overlays", action="store_true",
                   default=None,
                   help="merge DT_OVERLAYs offline into the loaded DTB instead of "
                        "'fdt apply' at boot (for U-Boots without fdt apply)")


def _generate(args: argparse.Namespace) -> int:
    if not args.config or not args.directory:
        raise InputError("undefined arguments: -c CONFIG and -d DIR are required")
    root = Path(args.directory)
    if not root.is_dir():
        raise InputError("is not a directory", field="-d", value=args.directory)
    cfg = load_config(Path(args.config))
    cfg = with_overrides(cfg, load_cmd=args.load_cmd, output=args.output, fit=args.fit,
                         key=args.key, ub_dtb=args.ub_dtb)
    result = generate(cfg, root, GenerateOptions(prefix=args.prefix, map_file=args.map_file,
                                                 svg_file=args.svg_file,
                                                 merge_overlays=args.merge_overlays,
                                                 calc=args.calc))
    for w in result.warnings:
        print(f"{PROG}: warning: {w}", file=sys.stderr)
    for n in result.xen_notes:
        print(f"{PROG}: note: {n}", file=sys.stderr)
    for line in result.hints:
        print(line)
    for note in result.notes:
        print(note)
    print()
    print(result.layout.table())
    return 0


class _RefParser(argparse.ArgumentParser):
    """Argument errors print ImageBuilder's message and exit 1."""

    def error(self, message: str) -> NoReturn:
        print(f'Unknown option, see "{self.prog} -h" ({message})', file=sys.stderr)
        raise SystemExit(1)


def build_parser() -> argparse.ArgumentParser:
    p = _RefParser(prog=PROG, description=DESCRIPTION, epilog=EPILOG,
                   formatter_class=HelpFormatter)
    add_arguments(p)
    return p


def _main(argv: Sequence[str] | None) -> int:
    return _generate(build_parser().parse_args(argv))


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``uboot-script-gen``: exit 0 on success, 1 on any error."""
    return run_main(PROG, _main, argv, error_exit=1)


def register(subparsers: Any) -> None:  # argparse._SubParsersAction
    """Add ``script`` (same flags as uboot-script-gen) to ``bootproof xen``."""
    p = subparsers.add_parser("script", help="generate a dom0less U-Boot boot script",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=HelpFormatter)
    add_arguments(p)
    p.set_defaults(func=_generate)


if __name__ == "__main__":
    raise SystemExit(main())

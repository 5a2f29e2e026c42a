"""Command lines: ``create-image`` (reference-compatible) and ``bootproof xous build|inspect``.

``create-image`` and ``bootproof xous build`` are the same code: they take the reference
tool's long and short option names, build args.bin, print the layout report and the
reference's ``Runtime will require N bytes`` line, and with ``--map`` write the layout JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from bootproof.builder.cliutil import EXIT_FAILED, HelpFormatter, run_main
from bootproof.builder.errors import InputError
from bootproof.builder.layout import AddressRange, NamedRange
from bootproof.builder.xous.inspect import inspect_file
from bootproof.builder.xous.layout import LAYOUTS, XousLayout
from bootproof.builder.xous.regions import (
    DEFAULT_RAM_NAME,
    MemoryMap,
    RegionMap,
    add_extra_svd,
    parse_ram,
    read_csr_csv,
    read_svd,
    reduce_regions,
)
from bootproof.builder.xous.tagblock import fourcc_bytes

BUILD_DESCRIPTION = """\
Build a Xous args.bin: a tag block (XArg, MREx, Bflg, IniE/IniF, XKrn, PNam) followed by
the kernel and init program payloads. Memory comes from a LiteX csr.csv (--csv), a LiteX
soc.svd (--svd, plus --extra-svd), or --ram OFFSET:SIZE. Numbers: 0x.., 0b.. or decimal;
sizes may end in K, M or G (powers of 1024).

example:
  create-image args.bin -k xous-kernel -i init-shell -i ticktimer --svd soc.svd --map args.json
  bootproof xous build args.bin -k kernel.elf -f xip-app.elf -r 0x40000000:0x1000000
"""

INSPECT_DESCRIPTION = """\
Decode an args.bin (page-aligned or 2020 legacy layout): every tag with its CRC-16/X-25,
memory regions, programs and their sections, payload ranges, and warnings for anything the
Xous loader would reject.

exit status: 0 when every CRC matches and nothing would be rejected, 1 otherwise (the
full decode is printed either way), 2 when the file cannot be decoded at all.

example:
  bootproof xous inspect args.bin
  bootproof xous inspect args.bin --json > args.json
"""


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    """Add create-image's options (reference names and aliases) to ``parser``."""
    parser.add_argument("output", metavar="OUTPUT", help="args.bin file to write")
    parser.add_argument("-k", "--kernel", required=True, metavar="KERNEL_ELF",
                        help="kernel ELF (XKrn), linked above 0xff000000")
    parser.add_argument("-i", "--init", action="append", default=[], metavar="ELF",
                        help="init program loaded into RAM (IniE); repeatable")
    parser.add_argument("-f", "--inif", action="append", default=[], metavar="ELF",
                        help="init program executed in place from flash (IniF); repeatable")
    parser.add_argument("-c", "--csv", "--csr-csv", "--csr", dest="csv", metavar="CSR_CSV",
                        help="LiteX csr.csv giving main RAM and memory regions")
    parser.add_argument("-s", "--svd", metavar="SOC_SVD",
                        help="LiteX soc.svd giving main RAM and memory regions")
    parser.add_argument("--extra-svd", action="append", default=[], metavar="SVD",
                        help="additional SVD whose memory regions are added; repeatable")
    parser.add_argument("-r", "--ram", metavar="OFFSET:SIZE",
                        help="main RAM explicitly, e.g. 0x40000000:0x1000000 or "
                             "0x40000000:16M (size suffixes K, M, G)")
    parser.add_argument("-d", "--debug", action="store_true",
                        help="emit Bflg DEBUG (the kernel may read user memory)")
    parser.add_argument("--layout", choices=LAYOUTS, default="aligned",
                        help="aligned (2023+, default) or legacy (2020 packed payloads)")
    parser.add_argument("--map", metavar="FILE.json", help="also write the layout as JSON")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")


def memory_from_args(args: argparse.Namespace) -> MemoryMap:
    """The memory map the options describe; InputError/ConfigError when they conflict."""
    if args.csv and args.svd:
        raise InputError("give --csv or --svd, not both (the reference reduces them twice)",
                         field="--svd", value=args.svd)
    ram = parse_ram(args.ram) if args.ram else None
    regions: RegionMap = {}
    sources = []
    if args.csv:
        regions.update(read_csr_csv(args.csv))
        sources.append(args.csv)
    if args.svd:
        regions.update(read_svd(args.svd))
        sources.append(args.svd)
    for extra in args.extra_svd:
        add_extra_svd(regions, extra)
        sources.append(extra)
    if not sources:
        if ram is None:
            raise InputError("memory is not described: give --csv, --svd or --ram",
                             field="--ram", value=None)
        return MemoryMap(NamedRange(DEFAULT_RAM_NAME, AddressRange(ram[0], ram[1])), (),
                         ram[1] // 4096)
    return reduce_regions(regions, source=", ".join(sources), ram=ram,
                          merge=args.layout != "legacy")


def run_build(args: argparse.Namespace, prog: str = "create-image") -> int:
    """Build from parsed options; returns 0 or raises the project's errors."""
    # Imported here: the image writer loads pyelftools (33+ ms by `python -X importtime`),
    # which `inspect` and `--help` do not need.
    from bootproof.builder.xous.image import build_image

    memory = memory_from_args(args)
    inits = [("IniE", p) for p in args.init] + [("IniF", p) for p in args.inif]
    sources = [s for s in (args.csv, args.svd, *args.extra_svd) if s]
    layout = build_image(args.output, args.kernel, inits, memory, debug=args.debug,
                         layout=args.layout, map_path=args.map, sources=sources)
    for warning in layout.warnings:
        print(f"{prog}: warning: {warning}", file=sys.stderr)
    if not args.quiet:
        _print_build_report(layout, memory, args.output)
    return 0


def _print_build_report(layout: XousLayout, memory: MemoryMap, output: str) -> None:
    ram = layout.ram
    code = int.from_bytes(fourcc_bytes(ram.name), "little")
    print(f"Arguments: Xous Arguments with {len(layout.tags)} parameters")
    print(f'Main RAM "{ram.name}" ({code:08x}): {ram.start:08x} - {ram.end:08x}')
    print(layout.to_table())
    print(f"Runtime will require {memory.memory_required} bytes to track memory allocations")
    print(f"Image created in file {output}")


def run_inspect(args: argparse.Namespace) -> int:
    """Decode and print an args.bin (table or JSON); raises FormatError on garbage.

    Returns 1 when a tag's CRC does not match or the loader would reject the image."""
    layout = inspect_file(args.args_bin)
    if args.json:
        print(json.dumps(layout.to_json(), indent=2))
    else:
        print(layout.to_table())
    bad_crcs = [f"{t.tag}#{t.index}" for t in layout.tags if not t.crc_ok]
    problems = ([f"CRC mismatch in {', '.join(bad_crcs)}"] if bad_crcs else []) + [
        w for w in layout.warnings]
    if problems:
        print(f"{args.args_bin}: {len(problems)} problem(s): " + "; ".join(problems),
              file=sys.stderr)
        return EXIT_FAILED
    return 0


def register(subparsers: Any) -> None:  # argparse._SubParsersAction
    """Add ``build`` and ``inspect`` to the ``bootproof xous`` subcommands."""
    build = subparsers.add_parser("build", help="build an args.bin (same as create-image)",
                                  description=BUILD_DESCRIPTION, formatter_class=HelpFormatter)
    add_build_arguments(build)
    build.set_defaults(func=lambda a: run_build(a, prog="bootproof xous build"))
    insp = subparsers.add_parser("inspect", help="decode an args.bin",
                                 description=INSPECT_DESCRIPTION, formatter_class=HelpFormatter)
    insp.add_argument("args_bin", metavar="ARGS.bin", help="args.bin file to decode")
    insp.add_argument("--json", action="store_true", help="print the layout as JSON")
    insp.set_defaults(func=run_inspect)


def _create_image(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="create-image", description=BUILD_DESCRIPTION,
                                     formatter_class=HelpFormatter)
    add_build_arguments(parser)
    return run_build(parser.parse_args(argv))


def create_image_main(argv: list[str] | None = None) -> int:
    """Entry point of the ``create-image`` console script; returns the exit status."""
    return run_main("create-image", _create_image, argv)


main = create_image_main

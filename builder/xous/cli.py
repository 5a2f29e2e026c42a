"""Command lines: ``create-image`` (reference-compatible) and ``bootproof xous build``; the
``bootproof xous`` group (``inspect`` and ``read-tags`` from
:mod:`bootproof.builder.xous.inspect_cli`, ``sign`` from :mod:`bootproof.builder.xous.sign_cli`).

``create-image`` and ``bootproof xous build`` are the same code: they take the reference
tool's long and short option names, build args.bin, print the layout report and the
reference's ``Runtime will require N bytes`` line, and with ``--map`` write the layout JSON.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bootproof.builder.cliutil import HelpFormatter, run_main
from bootproof.builder.errors import InputError
from bootproof.builder.layout import AddressRange, NamedRange
from bootproof.builder.xous.inspect_cli import register_inspect
from bootproof.builder.xous.layout import LAYOUTS, XousLayout
from bootproof.builder.xous.regions import (
    DEFAULT_RAM_NAME,
    MemoryMap,
    RegionMap,
    add_extra_svd,
    parse_ram,
    parse_range,
    read_csr_csv,
    read_svd,
    reduce_regions,
)
from bootproof.builder.xous.swap_args import PLATFORMS, SWAP_NAME, ram_below_swap
from bootproof.builder.xous.tagblock import fourcc_bytes

if TYPE_CHECKING:
    from bootproof.builder.xous.build import SwapOutputs

BUILD_DESCRIPTION = """\
Build a Xous args.bin: a tag block (XArg, Swap, MREx, Bflg, IniE/IniF, XKrn, PNam) followed
by the kernel and init program payloads. Memory comes from a LiteX csr.csv (--csv), a LiteX
soc.svd (--svd, plus --extra-svd), or --ram OFFSET:SIZE. Numbers: 0x.., 0b.. or decimal;
sizes may end in K, M or G (powers of 1024).

Swap (--swap OFFSET:SIZE, with --csv or --svd): args.bin gets a Swap tag, the --inis
programs go into a swap args block written as an encrypted, signed swap image
(--swap-name; AES-256-GCM-SIV with the zero key, as the reference), its .uf2 beside it
and, with --swap-debug-name, a plaintext copy. --inis without usable swap (no --swap, or
--ram only) is an error: the reference prints a warning and drops those programs, so the
image boots without them and only a look at the console tells. --ignore-unusable-swap
does what the reference does.

example:
  create-image args.bin -k xous-kernel -i init-shell -i ticktimer --svd soc.svd --map args.json
  bootproof xous build args.bin -k kernel.elf -f xip-app.elf -r 0x40000000:0x1000000
  create-image args.bin -k kernel.elf -i init.elf --inis a.elf --inis b.elf -c csr.csv \\
      --swap 0x80c00000:4M --swap-name swap.img --git-rev $(git rev-parse HEAD)
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
    parser.add_argument("--svg", metavar="FILE.svg",
                        help="also draw the layout as an SVG memory map")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    swap = parser.add_argument_group(
        "swap", "programs paged in from swap (spec: xous-addendum §1, §2); swap is active "
        "with --swap and the memory regions of --csv or --svd, as in the reference")
    swap.add_argument("--inis", action="append", default=[], metavar="ELF",
                      help="init program placed in swap (IniS in the swap args); repeatable")
    swap.add_argument("--swap", metavar="OFFSET:SIZE",
                      help="swap RAM, e.g. 0x40200000:4M (offset 0 allowed: bao1x SPI RAM)")
    swap.add_argument("--swap-name", metavar="FILE",
                      help="encrypted swap image to write (required with swap); its UF2 "
                           "goes to FILE with the last 3 characters replaced by 'uf2'")
    swap.add_argument("--swap-debug-name", metavar="FILE",
                      help="also write the plaintext swap image (for inspection)")
    swap.add_argument("--swap-key", metavar="PEM",
                      help="PKCS#8 Ed25519 key signing the swap image (default: the "
                           "developer key, built in: its secret is public)")
    swap.add_argument("--git-rev", metavar="HASH",
                      help="commit hash whose last 16 hex digits make the swap nonce "
                           "(default: `git rev-parse HEAD` in the working directory)")
    swap.add_argument("--git-describe", metavar="VERSION",
                      help="version recorded in the swap image's signature block, e.g. "
                           "v0.10.0-19-g0d934e1 (default: `git describe`)")
    swap.add_argument("--antirollback-override", metavar="N",
                      help="anti-rollback value of the swap image (default: 'swap' in "
                           "./signing/anti-rollback.hjson, as the reference)")
    swap.add_argument("--platform", choices=PLATFORMS,
                      help="the reference's build feature: precursor/renode trim main RAM "
                           "where swap starts (swap must start above RAM); bao1x/atsama5d2 "
                           "leave RAM alone (separate swap hardware). Default: trim only "
                           "where swap overlaps RAM")
    swap.add_argument("--ignore-unusable-swap", action="store_true",
                      help="drop --inis/--swap that cannot take effect (no --swap, or --ram "
                           "only) with a warning, as the reference does, instead of failing")


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


_SWAP_FILE_OPTIONS = ("swap_name", "swap_debug_name", "swap_key", "git_rev", "git_describe",
                      "antirollback_override", "platform")


@dataclass(frozen=True)
class SwapChoice:
    """What the swap options come to: the swap region (None when swap is not active),
    the ``--inis`` ELFs placed, the memory map (RAM trimmed where the platform wants it),
    and the warnings about what was dropped or ignored."""

    region: NamedRange | None
    inis: tuple[str, ...]
    memory: MemoryMap
    warnings: tuple[str, ...]


def swap_from_args(args: argparse.Namespace, memory: MemoryMap) -> SwapChoice:
    """Apply the reference's swap rules (spec addendum §1.1, §1.3) to the options.

    Raises InputError for --inis or --swap that cannot take effect (unless
    --ignore-unusable-swap), a bad --swap value, or a swap the platform rule refuses.
    """
    warnings: list[str] = []
    region = None
    if args.swap is not None:
        offset, size = parse_range(args.swap, "--swap")
        region = NamedRange(SWAP_NAME, AddressRange(offset, size))
    usable = region is not None and bool(memory.regions)
    if region is not None and not memory.regions:
        if not args.ignore_unusable_swap:
            raise InputError("swap needs the memory regions of --csv or --svd: with --ram only "
                             "the reference silently drops the Swap tag and the swap image "
                             "(--ignore-unusable-swap does that)", field="--swap",
                             value=args.swap)
        warnings.append("--swap is ignored: with --ram only there are no MREx regions and the "
                        "reference drops the Swap tag and the swap image")
    if args.inis and not usable:
        if not args.ignore_unusable_swap:
            raise InputError("--inis programs need swap (--swap with --csv or --svd); the "
                             "reference drops them with a warning and the image boots "
                             "without them (--ignore-unusable-swap does that)",
                             field="--inis", value=args.inis[0])
        warnings.append("inis regions specified, but no swap region specified. Ignoring "
                        f"inis regions! ({', '.join(args.inis)})")
    if not usable:
        given = [f"--{o.replace('_', '-')}" for o in _SWAP_FILE_OPTIONS
                 if getattr(args, o) is not None]
        if given and region is None:
            warnings.append(f"{', '.join(given)} ignored: there is no --swap")
        return SwapChoice(None, (), memory, tuple(warnings))
    assert region is not None
    ram = ram_below_swap(memory.ram, region, args.platform)
    return SwapChoice(region, tuple(args.inis), replace(memory, ram=ram), tuple(warnings))


def swap_outputs_from_args(args: argparse.Namespace) -> tuple[SwapOutputs, str, str]:
    """The swap files and their sealing inputs (key, nonce, version, anti-rollback), with
    the key's description and the commit hash used, for the report."""
    from bootproof.builder.xous.build import SwapOutputs
    from bootproof.builder.xous.signing_inputs import (
        anti_rollback,
        commit_hash,
        signing_seed,
        version,
    )
    from bootproof.builder.xous.swap_image import partial_nonce_from_rev

    if not args.swap_name:
        raise InputError("swap is active: name the swap image to write (the reference "
                         "panics 'swap filename not present')", field="--swap-name")
    seed, key_name = signing_seed(args.swap_key, "--swap-key")
    rev = commit_hash(args.git_rev)
    outputs = SwapOutputs(
        image=Path(args.swap_name),
        seed=seed,
        partial_nonce=partial_nonce_from_rev(rev),
        semver=version(args.git_describe),
        anti_rollback=anti_rollback("swap", args.antirollback_override),
        debug=Path(args.swap_debug_name) if args.swap_debug_name else None,
    )
    return outputs, key_name, rev


def run_build(args: argparse.Namespace, prog: str = "create-image") -> int:
    """Build from parsed options; returns 0 or raises the project's errors."""
    # Imported here: the image writer (ELF reader, planner) costs `inspect` and `--help`
    # 7 ms they do not need (python -X importtime).
    from bootproof.builder.xous.build import build_image

    memory = memory_from_args(args)
    choice = swap_from_args(args, memory)
    files, key_name, rev = (swap_outputs_from_args(args) if choice.region is not None
                            else (None, "", ""))
    if args.swap_key is not None and files is None:
        from bootproof.builder.xous.signing_inputs import signing_seed

        signing_seed(args.swap_key, "--swap-key")  # checked, as the reference loads it always
    inits = [("IniE", p) for p in args.init] + [("IniF", p) for p in args.inif]
    sources = [s for s in (args.csv, args.svd, *args.extra_svd) if s]
    layout = build_image(args.output, args.kernel, inits, choice.memory, debug=args.debug,
                         layout=args.layout, map_path=args.map, svg_path=args.svg,
                         sources=sources,
                         swap=choice.region, inis=choice.inis, swap_outputs=files)
    for warning in (*choice.warnings, *layout.warnings):
        print(f"{prog}: warning: {warning}", file=sys.stderr)
    if not args.quiet:
        _print_build_report(layout, choice, args, files, key_name, rev)
    return 0


def _print_build_report(layout: XousLayout, choice: SwapChoice, args: argparse.Namespace,
                        files: SwapOutputs | None, key_name: str, rev: str) -> None:
    ram = layout.ram
    code = int.from_bytes(fourcc_bytes(ram.name), "little")
    print(f"Arguments: Xous Arguments with {len(layout.tags)} parameters")
    print(f'Main RAM "{ram.name}" ({code:08x}): {ram.start:08x} - {ram.end:08x}')
    print(layout.to_table())
    if files is not None:
        print(f"Current commit hash: {rev}  Extracted nonce: {files.partial_nonce:x}")
        print(f"Swap data created in file {files.image} (signed with {key_name}, version "
              f"{files.semver}, anti-rollback {files.anti_rollback})")
        print(f"Created UF2 at {files.uf2}")
        if files.debug is not None:
            print(f"Swap debug created in file {files.debug}")
    print(f"Runtime will require {choice.memory.memory_required} bytes to track memory "
          "allocations")
    if args.swap is not None:
        swap = parse_range(args.swap, "--swap")
        print(f"Runtime will also require {swap[1] // 4096} bytes to track swap")
    print(f"Image created in file {args.output}")


def register(subparsers: Any) -> None:  # argparse._SubParsersAction
    """Add ``build``, ``inspect``, ``read-tags`` and ``sign`` to the ``bootproof xous``
    subcommands."""
    # Imported here: create-image never registers `sign` (1.9 ms, python -X importtime).
    from bootproof.builder.xous.sign_cli import register_sign

    build = subparsers.add_parser("build", help="build an args.bin (same as create-image)",
                                  description=BUILD_DESCRIPTION, formatter_class=HelpFormatter)
    add_build_arguments(build)
    build.set_defaults(func=lambda a: run_build(a, prog="bootproof xous build"))
    register_inspect(subparsers)
    register_sign(subparsers)


def _create_image(argv: Sequence[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="create-image", description=BUILD_DESCRIPTION,
                                     formatter_class=HelpFormatter)
    add_build_arguments(parser)
    return run_build(parser.parse_args(argv))


def create_image_main(argv: list[str] | None = None) -> int:
    """Entry point of the ``create-image`` console script; returns the exit status."""
    return run_main("create-image", _create_image, argv)


main = create_image_main

"""``bootproof diff OLD NEW``: what moved, grew, shrank, appeared, vanished or now overlaps
between two layouts, and a verdict for CI (``--fail-on``).

Exit status: 0 no rule broken; 1 a ``--fail-on`` rule is broken (each named on stderr);
2 bad input (one line naming the file, the field and the value).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bootproof.builder.cliutil import EXIT_FAILED, HelpFormatter
from bootproof.builder.errors import InputError
from bootproof.builder.fileio import OutputSet, check_outputs

DESCRIPTION = """\
Compare two layouts and show every item moved, resized, added or removed (hex and human
sizes, signed deltas), alignment and content (sha256) changes, new overlaps, and the
headroom (free space from the highest item to the end of RAM, flash or disk) per address
space.

OLD and NEW are each, told apart by their content (not their name):
  a layout JSON        what --map / --json write (format "bootproof-layout"; the maps
                       of earlier versions, Xous, Xen and disk, are read too)
  an args.bin          decoded as `bootproof xous inspect` does (also the args.bin
                       inside a signed xous.img or bao1x image, or a UF2 of one)
  a disk image         its partition table (DOS or GPT), the files of its FAT partitions
                       and its ext superblocks; only metadata is read, never file data
  an ImageBuilder      planned as `bootproof xen script -c CONFIG -d DIR` would, writing
  config               nothing; DIR is the config's own directory unless --old-dir /
                       --new-dir say otherwise

--fail-on RULE (repeatable) gates CI: any (any change or new overlap), overlap (a new
overlap), move (an item moved), grow (an item grew), headroom-below=SIZE (a space ends
with less free room than SIZE bytes; K, M, G suffixes).

exit status: 0 no rule broken, 1 a rule broken (each violation named on stderr), 2 bad
input (the file, field and value named).

example:
  bootproof diff base/args.bin args.bin
  bootproof diff old.json new.json --format markdown --fail-on overlap
  bootproof diff config config --old-dir base/binaries --new-dir binaries
  bootproof diff base.img disk.img --fail-on headroom-below=64M --format json
  bootproof diff old.json new.json --svg diff.svg
"""


def parse_rule(text: str) -> Any:
    """One ``--fail-on`` value as a :class:`~bootproof.builder.layout.compare.Rule`."""
    from bootproof.builder.layout.compare import RULES, Rule
    from bootproof.builder.numbers import parse_size

    name, eq, value = text.partition("=")
    if name not in RULES:
        raise InputError("unknown rule (one of any, overlap, move, grow, "
                         "headroom-below=SIZE)", field="--fail-on", value=text)
    if name == "headroom-below":
        if not eq:
            raise InputError("headroom-below needs a size: headroom-below=SIZE",
                             field="--fail-on", value=text)
        return Rule(name, parse_size(value, field="--fail-on headroom-below"))
    if eq:
        raise InputError(f"{name} takes no value", field="--fail-on", value=text)
    return Rule(name)


def run(args: argparse.Namespace) -> int:
    """Body of ``bootproof diff``."""
    from bootproof.builder.diff.inputs import Source, load
    from bootproof.builder.diff.render import render
    from bootproof.builder.layout.compare import compare, violations

    rules = [parse_rule(r) for r in args.fail_on]
    if args.output is not None:
        _never_over_an_input(Path(args.output), [Path(args.old), Path(args.new)])
    if args.svg is not None:
        check_outputs([*([("--output", Path(args.output))] if args.output else []),
                       ("--svg", Path(args.svg))], [Path(args.old), Path(args.new)])
    old = load(Source(Path(args.old), _dir(args.old_dir), "--old-dir"))
    new = load(Source(Path(args.new), _dir(args.new_dir), "--new-dir"))
    if old.target != new.target:
        raise InputError(f"OLD ({args.old}) is a {old.target} layout: NEW must be one too",
                         path=args.new, field="target", value=new.target)
    diff = compare(old, new)
    broken = violations(diff, rules)
    text = render(diff, args.format, args.old, args.new, broken)
    with OutputSet() as out:  # the report and the picture: both or neither
        if args.output is not None:
            out.write(args.output, text)
        if args.svg is not None:
            from bootproof.builder.layout.svg_diff import render_diff

            out.write(args.svg, render_diff(old, new, diff, old_title=args.old,
                                            new_title=args.new))
    if args.output is None:
        sys.stdout.write(text)
    for line in broken:
        print(f"bootproof diff: fail-on {line}", file=sys.stderr)
    return EXIT_FAILED if broken else 0


def _never_over_an_input(output: Path, inputs: list[Path]) -> None:
    import os

    for given in inputs:
        try:
            same = os.path.samefile(output, given)
        except OSError:
            same = False
        if same:
            raise InputError("the report would overwrite an input", field="-o",
                             value=str(output))


def _dir(value: str | None) -> Path | None:
    return None if value is None else Path(value)


def configure(parser: argparse.ArgumentParser) -> None:
    """Make ``parser`` (``bootproof diff``) take the diff's arguments and run it."""
    parser.description = DESCRIPTION
    parser.formatter_class = HelpFormatter
    parser.add_argument("old", metavar="OLD", help="the layout before the change")
    parser.add_argument("new", metavar="NEW", help="the layout after the change")
    parser.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                        help="report format (json: format 'bootproof-diff', its shape in "
                             "the project's docs/layout-diff.md)")
    parser.add_argument("--fail-on", action="append", default=[], metavar="RULE",
                        help="exit 1 when RULE is broken: any, overlap, move, grow, "
                             "headroom-below=SIZE (repeatable)")
    parser.add_argument("--old-dir", metavar="DIR",
                        help="directory OLD's files are relative to when OLD is an "
                             "ImageBuilder config (default: the config's directory)")
    parser.add_argument("--new-dir", metavar="DIR",
                        help="the same for NEW")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="write the report to FILE instead of standard output")
    parser.add_argument("--svg", metavar="FILE.svg",
                        help="also draw the two layouts side by side as SVG, each space's "
                             "old and new columns with moved items joined")
    parser.set_defaults(func=run)

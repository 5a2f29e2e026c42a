"""``bootproof``: the umbrella command line, dispatch only.

It lives in :mod:`harness` because it offers both building (from :mod:`builder`) and
booting (from :mod:`harness`), and the builder must never import the harness.

Each area (``xous``, ``xen``, ``demo``) is a row of :data:`AREAS`: its line in ``--help`` and
the command modules that serve it, each through its ``register(subparsers)`` function (it
adds parsers whose defaults carry ``func``, a callable ``(args) -> int``). Only the modules
of the command named on the command line are imported: ``bootproof --help`` imports none,
``bootproof xous build`` not the boot flow, ``bootproof xen script`` not the disk builder.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from bootproof.builder.cliutil import HelpFormatter, run_main

# The functions below import their command module when they run, not at the top: with every
# command module imported, `bootproof --help` takes 150 ms of CPU instead of 28 ms (best of
# 15 runs; the Xen generator, the boot flows with pexpect and qemu.qmp, the disk builder).


def _xous_build(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from bootproof.builder.xous import cli  # lazy: see the note above

    cli.register(commands)


def _xous_boot(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from bootproof.harness.xous import cli  # lazy: see the note above

    cli.register(commands)


def _xen_script(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from bootproof.builder.xen import cli  # lazy: see the note above

    cli.register(commands)


def _xen_disk(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from bootproof.builder.disk import cli  # lazy: see the note above

    cli.register(commands)


def _xen_boot(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from bootproof.harness.xen import cli  # lazy: see the note above

    cli.register(commands)


def _diff(parser: argparse.ArgumentParser) -> None:
    from bootproof.builder.diff import cli  # lazy: see the note above

    cli.configure(parser)


def _demo(parser: argparse.ArgumentParser) -> None:
    from bootproof.harness import demo  # lazy: see the note above

    demo.configure(parser)


class _Version(argparse.Action):
    """``--version``: reads the distribution's metadata only when asked (importing
    importlib.metadata and reading the metadata cost every command about as much CPU as
    the rest of ``bootproof --help``; measured with benchmarks/layout_diff.py)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0,
                         help=help or "show program's version number and exit")

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        from bootproof.harness.version import version  # lazy: see the docstring

        parser._print_message(f"{parser.prog} {version()}\n", sys.stdout)
        parser.exit()


class Commands:
    """The commands one module adds to an area: their names (for choosing the module
    without importing it) and the module's ``register(subparsers)``."""

    __slots__ = ("names", "register")

    def __init__(
        self,
        names: Sequence[str],
        register: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None],
    ) -> None:
        self.names = tuple(names)
        self.register = register


class Area:
    """One top-level word of ``bootproof``: its line in ``--help``, and either the modules
    that add its commands or, for an area without commands, the function that configures
    its parser. (Not dataclasses: importing dataclasses would add 7 ms to
    ``bootproof --help``, measured with ``python -X importtime``.)"""

    __slots__ = ("commands", "configure", "help")

    def __init__(self, help: str, commands: Sequence[Commands] = (),
                 configure: Callable[[argparse.ArgumentParser], None] | None = None) -> None:
        self.help = help
        self.commands = tuple(commands)
        self.configure = configure

    def setup(self, parser: argparse.ArgumentParser, command: str | None) -> None:
        """Register ``command``'s module on ``parser``; every module of the area when
        ``command`` is None or not one of its names (so that the usage lists them all)."""
        if self.configure is not None:
            self.configure(parser)
            return
        subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
        chosen = [c for c in self.commands if command in c.names] or self.commands
        for module in chosen:
            module.register(subparsers)


AREAS: Mapping[str, Area] = MappingProxyType({
    "xous": Area("Xous args.bin: build, inspect, boot", [
        Commands(["build", "inspect", "read-tags", "sign"], _xous_build),
        Commands(["boot"], _xous_boot),
    ]),
    "xen": Area("Xen dom0less: boot script, disk image, boot", [
        Commands(["script"], _xen_script),
        Commands(["disk"], _xen_disk),
        Commands(["boot", "guests", "assets"], _xen_boot),
    ]),
    "diff": Area("compare two layouts: moved, resized, added, overlaps, headroom",
                 configure=_diff),
    "demo": Area("build and boot the bundled Xous and Xen examples", configure=_demo),
})


def build_parser(words: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``bootproof`` parser with every command of every area registered; given the
    command line ``words``, only the area and command they name (every command of that area
    when the command is missing or unknown; no area's commands when no area is named)."""
    parser = argparse.ArgumentParser(
        prog="bootproof",
        formatter_class=HelpFormatter,
        description=(
            "Build boot images for embedded systems and prove them by booting them under QEMU.\n\n"
            "  bootproof xous build|inspect|boot   Xous args.bin images (RISC-V); also\n"
            "                 read-tags|sign       xous-read-tags, xous-sign-image\n"
            "  bootproof xen script|disk|boot      Xen dom0less scripts, disk images (arm64)\n"
            "  bootproof diff OLD NEW              what moved, grew or overlaps between layouts\n"
            "  bootproof demo                      build and boot the bundled examples"
        ),
    )
    named = None if words is None else [w for w in words if not w.startswith("-")]
    parser.add_argument("--version", action=_Version)
    top = parser.add_subparsers(dest="area", metavar="AREA", required=True)
    for name, area in AREAS.items():
        area_parser = top.add_parser(name, help=area.help, formatter_class=HelpFormatter)
        if named is None:
            area.setup(area_parser, None)
        elif named[:1] == [name]:
            area.setup(area_parser, named[1] if len(named) > 1 else None)
    return parser


def _main(argv: Sequence[str] | None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(words).parse_args(words)
    return int(args.func(args))


def main(argv: Sequence[str] | None = None) -> int:
    return run_main("bootproof", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())

"""``bootproof``: the umbrella command line, dispatch only.

It lives in :mod:`harness` because it offers both building (from :mod:`builder`) and
booting (from :mod:`harness`), and the builder must never import the harness.

Each area contributes its subcommands through a ``register(subparsers)`` function that
adds parsers whose defaults carry ``func``, a callable ``(args) -> int``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bootproof.builder.cliutil import HelpFormatter, run_main
from bootproof.harness.version import version


def build_parser() -> argparse.ArgumentParser:
    from bootproof.builder.disk import cli as disk_cli
    from bootproof.builder.xen import cli as xen_cli
    from bootproof.builder.xous import cli as xous_cli
    from bootproof.harness import demo
    from bootproof.harness.xen import cli as xen_boot_cli
    from bootproof.harness.xous import cli as xous_boot_cli

    parser = argparse.ArgumentParser(
        prog="bootproof",
        formatter_class=HelpFormatter,
        description=(
            "Build boot images for embedded systems and prove them by booting them under QEMU.\n\n"
            "  bootproof xous build|inspect|boot   Xous args.bin images (RISC-V)\n"
            "  bootproof xen script|disk|boot      Xen dom0less scripts, disk images (arm64)\n"
            "  bootproof demo                      build and boot the bundled examples"
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    top = parser.add_subparsers(dest="area", metavar="AREA", required=True)

    xous = top.add_parser("xous", help="Xous args.bin: build, inspect, boot",
                          formatter_class=HelpFormatter)
    xous_sub = xous.add_subparsers(dest="command", metavar="COMMAND", required=True)
    xous_cli.register(xous_sub)
    xous_boot_cli.register(xous_sub)

    xen = top.add_parser("xen", help="Xen dom0less: boot script, disk image, boot",
                         formatter_class=HelpFormatter)
    xen_sub = xen.add_subparsers(dest="command", metavar="COMMAND", required=True)
    xen_cli.register(xen_sub)
    disk_cli.register(xen_sub)
    xen_boot_cli.register(xen_sub)

    demo.register(top)
    return parser


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


def main(argv: Sequence[str] | None = None) -> int:
    return run_main("bootproof", _main, argv)


if __name__ == "__main__":
    raise SystemExit(main())

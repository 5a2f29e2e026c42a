"""``bootproof xen boot`` and ``bootproof xen guests``: boot a generated set without hardware.

``boot`` runs our ``uboot-script-gen`` on an ImageBuilder config (files relative to
``-d``), boots the result under QEMU aarch64 + U-Boot with TFTP, prints each stage as it
passes and the serial log path. Exit status: 0 when every stage and expectation passed, 1
when the boot failed (the bad pattern, the missing lines or the layout differences are
named), 2 for bad input, 3 when QEMU or U-Boot is missing.

``assets`` fetches the guest packages into the cache (and builds Xen) ahead of time.

``guests`` fills a directory with guest files to point a config at: Xen (Debian's binary or
one built from Debian's source with the dom0less Kconfig fragment), the Debian arm64 kernel
(``Image`` and ``Image.gz``), a test initramfs (``initrd``) and the board DTB (``virt.dtb``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bootproof.builder.cliutil import HelpFormatter
from bootproof.builder.errors import InputError
from bootproof.harness.core import handover
from bootproof.harness.core.stages import Stage


def register(subparsers: Any) -> None:  # argparse._SubParsersAction
    """Add ``boot``, ``guests`` and ``assets`` to the ``bootproof xen`` subcommands."""
    boot = subparsers.add_parser(
        "boot", formatter_class=HelpFormatter,
        help="generate a boot script from a config and boot it under QEMU + U-Boot",
        description="Generate boot.scr from an ImageBuilder config with uboot-script-gen, "
                    "boot it under QEMU aarch64 + U-Boot (TFTP) and check every stage.")
    boot.add_argument("-c", dest="config", required=True, type=Path, metavar="CONFIG",
                      help="ImageBuilder config")
    boot.add_argument("-d", dest="directory", required=True, type=Path, metavar="DIR",
                      help="directory the config's files are relative to (served by TFTP)")
    boot.add_argument("--expect", action="append", default=[], metavar="TEXT",
                      help="text that must appear on the console (repeatable)")
    boot.add_argument("-f", "--fit", action="store_true", help="generate and boot a FIT")
    boot.add_argument("-s", dest="calc", action="store_true",
                      help="let U-Boot compute the load addresses and sizes (uboot-script-gen "
                           "-s); one printenv before the boot command shows them, and they "
                           "are checked")
    boot.add_argument("--disk", type=Path, metavar="IMG",
                      help="attach this raw disk image (e.g. from disk_image) as virtio-blk, "
                           "for configs that load with 'load virtio 0:N'")
    boot.add_argument("--board", default="aarch64-virt",
                      help="board name in qemu_configs/ or a board .toml file")
    boot.add_argument("--timeout", type=float, default=180.0,
                      help="seconds for the whole boot (scaled by BOOTPROOF_TIMEOUT_MULTIPLIER)")
    boot.add_argument("--log-dir", type=Path, default=None,
                      help="where the serial log goes (default DIR/bootproof-logs)")
    boot.add_argument("--no-layout-check", action="store_true",
                      help="skip comparing the booted layout with the layout report")
    boot.add_argument("--snapshot", type=Path, metavar="SNAPDIR",
                      help="once every check passed and dom0's shell answered, save the "
                           "machine's whole state into SNAPDIR (to resume with "
                           "--from-snapshot)")
    boot.add_argument("--from-snapshot", type=Path, metavar="SNAPDIR",
                      help="resume the machine saved in SNAPDIR instead of booting (the "
                           "config and every file it loaded must be unchanged)")
    boot.add_argument("--run", action="append", default=[], metavar="DOMAIN:COMMAND",
                      help="with --from-snapshot: run COMMAND in the shell of DOMAIN (dom0, "
                           "domU0, domU1...) and print its output (repeatable)")
    handover.add_arguments(boot)
    boot.set_defaults(func=boot_main)

    guests = subparsers.add_parser(
        "guests", formatter_class=HelpFormatter,
        help="fill a directory with test guest files (Xen, kernel, initramfs, board DTB)",
        description="Fetch (or reuse from the cache) Debian's arm64 Xen, kernel and busybox, "
                    "build a test initramfs and dump the board DTB into DIR.")
    guests.add_argument("-d", dest="directory", required=True, type=Path, metavar="DIR")
    guests.add_argument("--xen", choices=("debian", "built"), default="debian",
                        help="Debian's binary Xen, or Xen built from Debian's source with "
                             "qemu_configs/xen-dom0less.config")
    guests.add_argument("--offline", action="store_true",
                        help="use the cache only; fail if something is missing")
    guests.set_defaults(func=guests_main)

    assets = subparsers.add_parser(
        "assets", formatter_class=HelpFormatter,
        help="fetch the Debian arm64 guest packages into the cache (and build Xen)",
        description="Fetch xen-hypervisor-4.17-arm64, the current linux-image-*-arm64-unsigned "
                    "and busybox-static into the cache ($BOOTPROOF_CACHE, else "
                    "$XDG_CACHE_HOME/bootproof, else ~/.cache/bootproof) with a private apt "
                    "state, and with --build-xen also build Xen from Debian's source package "
                    "with qemu_configs/xen-dom0less.config. A second run uses the cache.")
    assets.add_argument("--build-xen", action="store_true",
                        help="also build Xen from source with the dom0less Kconfig fragment")
    assets.add_argument("--offline", action="store_true",
                        help="check the cache only; fail if something is missing")
    assets.add_argument("--refresh", action="store_true",
                        help="resolve the newest package versions again")
    assets.set_defaults(func=assets_main)


def boot_main(args: argparse.Namespace) -> int:
    """Run ``bootproof xen boot``; errors propagate to run_main (exit codes above)."""
    # imported when run: at the top they add ~30 ms to `bootproof --help` (-X importtime)
    from bootproof.harness.core.boards import load_board
    from bootproof.harness.xen.flow import run_boot
    from bootproof.harness.xen.generated import generate
    from bootproof.harness.xen.guests import check_directory
    from bootproof.harness.xen.snapshot import snapshot_steps

    directory = check_directory(args.directory)
    if args.from_snapshot is not None:
        return resume_main(args)
    if args.run:
        raise InputError("--run needs --from-snapshot", field="--run", value=args.run[0])
    if args.snapshot is not None and (args.gdb is not None or args.interactive):
        raise InputError("--snapshot saves a boot the harness drives; leave out "
                         "--interactive and --gdb", field="--snapshot", value=str(args.snapshot))
    if args.disk is not None and not args.disk.is_file():
        raise InputError("no such disk image", path=args.disk, field="--disk")
    gen = generate(args.config, directory, fit=args.fit, calc=args.calc)
    log_dir = args.log_dir or directory / "bootproof-logs"
    print(f"generated: {gen.load_line}", flush=True)

    print(f"serial log: {log_dir / 'xen-boot.serial.log'}", flush=True)
    report = run_boot(gen, log_dir=log_dir, board=load_board(args.board),
                      expect=args.expect, timeout=args.timeout, on_stage=_show,
                      check_layout_report=not args.no_layout_check, disk=args.disk,
                      handover=handover.from_arguments(args, sys.stdout),
                      at_end=snapshot_steps(gen, args.snapshot.resolve())
                      if args.snapshot is not None else ())
    print(f"boot passed: {len(report.stages)} stages; serial log {report.log_path}")
    return 0


def _show(stage: Stage) -> None:
    extra = f"  ({stage.detail})" if stage.detail else ""
    print(f"[{stage.seconds:7.2f} s] ok  {stage.name}{extra}", flush=True)


def resume_main(args: argparse.Namespace) -> int:
    """``bootproof xen boot --from-snapshot SNAPDIR [--run DOMAIN:COMMAND]...``: resume the
    saved machine, run the commands, print their output; 1 if one exits non-zero."""
    from bootproof.harness.xen.snapshot import ResumedXen, XenSnapshot

    others = [flag for flag, given in (("--snapshot", args.snapshot), ("--disk", args.disk),
                                       ("-s", args.calc), ("-f", args.fit),
                                       ("--interactive", args.interactive),
                                       ("--gdb", args.gdb is not None),
                                       ("--expect", args.expect)) if given]
    if others:
        raise InputError(f"{others[0]} cannot be used with --from-snapshot (the machine "
                         "is resumed as it was saved)", field=others[0])
    runs: list[tuple[str, str]] = []
    for item in args.run:
        domain, sep, command = item.partition(":")
        if not sep or not domain or not command.strip():
            raise InputError("expected DOMAIN:COMMAND", field="--run", value=item)
        runs.append((domain, command))
    snap = XenSnapshot.read(args.from_snapshot)
    for domain, _ in runs:
        if domain not in snap.domids:
            raise InputError(f"no such domain in the snapshot (known: {', '.join(snap.domids)})",
                             field="--run", value=domain)
    config = args.config.resolve()
    if not any(f.path.resolve() == config for f in snap.inputs):
        raise InputError("the snapshot was not saved from this config", path=args.config,
                         field="-c", value=str(config))
    log_dir = args.log_dir or args.directory / "bootproof-logs"
    print(f"serial log: {log_dir / 'xen-resume.serial.log'}", flush=True)
    failed = 0
    with ResumedXen(snap, log_dir, timeout=args.timeout, on_stage=_show) as xen:
        for domain, command in runs:
            res = xen.run(domain, command)
            for line in res.output.splitlines():
                print(f"  {domain}| {line}")
            if res.status != 0:
                print(f"{domain}: {command!r} exited {res.status}")
                failed += 1
    print(f"resumed from {args.from_snapshot}: {len(runs) - failed} of {len(runs)} "
          "commands exited 0")
    return 1 if failed else 0


def guests_main(args: argparse.Namespace) -> int:
    """Run ``bootproof xen guests``."""
    from bootproof.harness.xen.guests import prepare_guest_set  # imported when run, as above

    guests = prepare_guest_set(args.directory, xen_source=args.xen, offline=args.offline,
                               progress=sys.stderr)
    print(f"{guests.directory}: xen (Xen {guests.xen_version}, {guests.xen_source}), "
          f"Image and Image.gz (Linux {guests.kernel_version}), initrd, virt.dtb")
    return 0


def assets_main(args: argparse.Namespace) -> int:
    """Run ``bootproof xen assets``: print what the cache holds."""
    # imported when run: at the top they add ~15 ms to `bootproof --help` (-X importtime)
    from bootproof.harness.xen.assets import ensure_guest_assets
    from bootproof.harness.xen.xen_build import ensure_built_xen

    got = ensure_guest_assets(offline=args.offline, refresh=args.refresh, progress=sys.stderr)
    for rec in got.manifest.packages:
        print(f"{rec.name} {rec.version} sha256:{rec.sha256}")
    print(f"cache: {got.root} ({'fetched now' if got.fetched else 'reused, no download'})")
    if args.build_xen:
        built = ensure_built_xen(got.root, offline=args.offline, refresh=args.refresh,
                                 progress=sys.stderr)
        print(f"xen built from source {built.source_version} "
              f"(fragment sha256 {built.fragment_sha256[:16]}): {built.path}"
              + ("" if built.fetched else " (cached)"))
    return 0

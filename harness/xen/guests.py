"""Guest directories: the files a test config names, made from the cached assets.

:func:`prepare_guest_set` fills a ``-d`` directory with Xen (Debian's binary or the one
built from Debian's source with the dom0less fragment, with its ``xen-syms`` when the build
kept it), the Debian arm64 kernel (``Image``
and a gzip copy Xen unpacks itself), a fresh test initramfs and the board's DTB, dumped by
QEMU with the board's exact machine options and with the pl061 GPIO disabled. Files come
from the asset cache as hard links where the file system allows, copies otherwise.
"""

from __future__ import annotations

import gzip
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bootproof.builder.errors import ConfigError, InputError, ToolError
from bootproof.builder.fileio import atomic_write
from bootproof.builder.formats.fdt import DeviceTree
from bootproof.builder.xen.fdtcmd import SetProp, Strings, apply
from bootproof.harness.core.boards import Board, load_board
from bootproof.harness.core.inputfiles import sha256_of
from bootproof.harness.core.toolchain import run_tool
from bootproof.harness.xen.assets import ensure_guest_assets
from bootproof.harness.xen.flow import BOARD
from bootproof.harness.xen.initramfs import write_initramfs
from bootproof.harness.xen.xen_build import ensure_built_xen

XEN_SOURCES = ("debian", "built")
PL061_NODE = "/pl061@9030000"


@dataclass(frozen=True)
class GuestSet:
    """A ``-d`` directory holding ``xen``, ``Image``, ``initrd`` and ``virt.dtb``."""

    directory: Path
    xen_source: str
    xen_version: str
    kernel_version: str
    xen: str = "xen"
    kernel: str = "Image"
    kernel_gz: str = "Image.gz"  # what Xen loads: a third of the TFTP time, Xen gunzips it
    initrd: str = "initrd"
    dtb: str = "virt.dtb"


def link_or_copy(src: Path, dest: Path) -> Path:
    """Put ``src`` at ``dest`` as a hard link (same file system) or a copy."""
    dest.unlink(missing_ok=True)
    try:
        dest.hardlink_to(src)
    except OSError:
        shutil.copyfile(src, dest)
    return dest


def check_directory(directory: Path) -> Path:
    """``directory`` must exist; returns it resolved. Raises InputError otherwise."""
    if not directory.is_dir():
        raise InputError("not a directory", path=directory, field="-d")
    return directory.resolve()


def board_dtb_argv(board: Board, dest: Path) -> list[str]:
    """QEMU's command line that dumps ``board``'s DTB to ``dest`` with the board's exact
    machine, cpu, smp and memory options (the DTB depends on all of them)."""
    argv = board.argv()
    i = argv.index("-machine")
    argv[i + 1] = f"{argv[i + 1]},dumpdtb={dest}"
    return [*argv, "-display", "none", "-nic", "none"]


def dump_board_dtb(board: Board, dest: Path) -> Path:
    """Dump the board's DTB (see :func:`board_dtb_argv`); returns ``dest``.

    Raises InfrastructureError when QEMU is missing, ToolError when it fails.
    """
    run_tool(board_dtb_argv(board, dest), timeout=60)
    if not dest.is_file():
        raise ToolError("QEMU did not write the DTB", argv=board_dtb_argv(board, dest))
    return dest


def gzipped(path: Path, cache_dir: Path) -> Path:
    """A gzip copy of ``path`` (level 6, mtime 0) kept in ``cache_dir``, keyed by content."""
    dest = cache_dir / f"{path.name}-{sha256_of(path)[:16]}.gz"
    if not dest.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(dest, gzip.compress(path.read_bytes(), compresslevel=6, mtime=0))
    return dest


def fix_pl061(dtb: Path) -> None:
    """Disable the board's pl061 GPIO in ``dtb`` (dom0 Linux takes a synchronous external
    abort probing it under Xen; Xen's own CI does the same).

    The edit goes through the generator's own DT-edit path
    (:mod:`bootproof.builder.xen.fdtcmd`, the interpreter it uses for FDTEDIT and FIT), not
    through an outside tool.
    """
    tree = DeviceTree.load(dtb)
    apply(tree, [SetProp(PL061_NODE, "status", Strings(("disabled",)))])
    atomic_write(dtb, tree.to_bytes())


def prepare_guest_set(
    directory: Path,
    *,
    xen_source: str = "debian",
    board: Board | None = None,
    cache: Path | None = None,
    offline: bool = False,
    progress: TextIO | None = sys.stderr,
) -> GuestSet:
    """Fill ``directory`` with the guest files: Xen (Debian's binary or the one built from
    source with the dom0less fragment), the Debian kernel, a fresh test initramfs and the
    board DTB dumped with the board's exact options plus the pl061 fix.

    Raises :class:`ConfigError` for an unknown ``xen_source``, :class:`ToolError` when the
    assets cannot be fetched (or are not cached and ``offline`` is set).
    """
    if xen_source not in XEN_SOURCES:
        raise ConfigError(f"unknown Xen source (known: {', '.join(XEN_SOURCES)})",
                          field="xen", value=xen_source)
    assets = ensure_guest_assets(cache, offline=offline, progress=progress)
    directory.mkdir(parents=True, exist_ok=True)
    syms: Path | None = None
    if xen_source == "built":
        built = ensure_built_xen(cache, offline=offline, progress=progress)
        xen_path, xen_version, syms = built.path, built.source_version, built.syms
    else:
        xen_path, xen_version = assets.xen, assets.record("xen").version
    link_or_copy(xen_path, directory / "xen")
    if syms is not None:  # Xen's symbols, which --gdb offers to the debugger
        link_or_copy(syms, directory / "xen-syms")
    else:
        (directory / "xen-syms").unlink(missing_ok=True)
    link_or_copy(assets.kernel, directory / "Image")
    link_or_copy(gzipped(assets.kernel, assets.root / "derived"), directory / "Image.gz")
    write_initramfs(assets.busybox, directory / "initrd")
    dtb = dump_board_dtb(board or load_board(BOARD), directory / "virt.dtb")
    fix_pl061(dtb)
    return GuestSet(directory=directory, xen_source=xen_source, xen_version=xen_version,
                    kernel_version=assets.record("kernel").version)


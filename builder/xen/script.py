"""Render a planned layout and its DT edits as U-Boot commands (``boot.source`` text).

Pure: layout + edits + options in, text out. Line order follows ``uboot-script-gen``:
loads (bitstream followed by ``fpga load``), ``fdt addr``, ``fdt resize``, ``fdt apply``
of overlays applied at boot, the edits, ``setenv fdt_high``, the APPEND_EXTRA_CMDS text,
then the boot command. Differences from the reference, on purpose: ``fdt resize`` gets the
room the edits need, written in hex as U-Boot reads it (the reference's fixed 1024, read
as 0x1024, overflows with many domUs) and
``fpga load`` gets its size in hex with ``0x`` (U-Boot parses it as hex; the reference
passed decimal).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bootproof.builder.xen.fdtcmd import Edit, render
from bootproof.builder.xen.plan import Module, XenLayout

#: ImageBuilder's fixed ``fdt resize 1024``, which U-Boot parses as hex: 0x1024 bytes.
DEFAULT_RESIZE = 0x1024


@dataclass(frozen=True)
class ScriptOptions:
    """How to render: the load command, ``-p`` prefix, boot command, FIT mode."""

    load_cmd: str
    boot_cmd: str = "booti"
    prefix: str | None = None
    fit: bool = False
    extra_cmds: str | None = None
    xen_mode: bool = True


def prefixed(path: str, prefix: str | None) -> str:
    """``PREFIX/path`` (a leading ``/`` of the prefix kept, duplicate slashes dropped)."""
    if not prefix:
        return path
    return prefix.rstrip("/") + "/" + path.lstrip("/")


@dataclass(frozen=True)
class LoadLine:
    """The line to type at U-Boot's prompt: load the script (or the FIT) and source it.

    ``file`` is the path the load command reads (``-p`` prefix applied); ``fit``: the file is
    a FIT whose ``boot_scr`` image is the script. ``str()`` gives the line exactly as
    ``uboot-script-gen``'s hint prints it.
    """

    load_cmd: str
    addr: int
    file: str
    fit: bool = False

    def __str__(self) -> str:
        if self.fit:
            return (f"{self.load_cmd} 0x{self.addr:x} {self.file}; "
                    f"source 0x{self.addr:x}:boot_scr")
        return f"{self.load_cmd} 0x{self.addr:X} {self.file}; source 0x{self.addr:X}"


def resize_bytes(edit_growth: int, overlay_sizes: Sequence[int]) -> int:
    """The ``fdt resize`` bytes: room for the edits, overlays applied at boot, the
    memreserve entry U-Boot adds for the blob, and a margin; never below what
    ImageBuilder's ``fdt resize 1024`` gives (U-Boot reads that number as hex)."""
    need = edit_growth + sum(overlay_sizes) + 16 + 512
    return max(DEFAULT_RESIZE, (need + 255) // 256 * 256)


def _load(m: Module, opts: ScriptOptions) -> str:
    if opts.fit:
        return f"imxtract $fit_addr {m.fit_name} 0x{m.addr:X}"
    return f"{opts.load_cmd} 0x{m.addr:X} {prefixed(m.file, opts.prefix)}"


def render_script(layout: XenLayout, edits: Sequence[Edit], opts: ScriptOptions) -> str:
    """The full boot script text (lines end in ``\\n``, no trailing blank line).

    In FIT mode the edits are baked into the FIT's DTB, so none is written here.
    """
    lines: list[str] = []
    if opts.fit:
        lines.append("fit_addr=$fileaddr")
    for m in layout.modules:
        lines.append(_load(m, opts))
        if m.role == "bitstream":
            lines.append(f"fpga load 0 0x{m.addr:X} 0x{m.size:X}")
    dtb = layout.find("dtb")
    kernel = layout.find("xen" if opts.xen_mode else "linux-kernel")
    if dtb is not None:
        lines.append(f"fdt addr 0x{dtb.addr:X}")
        lines.append(f"fdt resize 0x{layout.dtb_extra:x}")  # U-Boot parses it as hex
        if not opts.fit:
            lines += [f"fdt apply 0x{m.addr:X}" for m in layout.modules if m.role == "overlay"]
            lines += [render(e) for e in edits]
    lines.append("setenv fdt_high 0xffffffffffffffff")
    if opts.extra_cmds:
        lines += opts.extra_cmds.rstrip("\n").split("\n")
    k = f"0x{kernel.addr:X}" if kernel is not None else "-"
    d = f"0x{dtb.addr:X}" if dtb is not None else "-"
    if opts.boot_cmd == "none":
        lines += [f"setenv host_kernel_addr {k}", f"setenv host_fdt_addr {d}"]
    elif opts.boot_cmd == "bootefi":
        lines.append(f"bootefi {k} {d}")
    else:
        lines.append(f"{opts.boot_cmd} {k} - {d}")
    return "\n".join(lines) + "\n"

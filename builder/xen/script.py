"""Render a planned layout and its DT edits as U-Boot commands (``boot.source`` text).

Pure: layout + edits + options in, text out. Line order follows ``uboot-script-gen``:
loads (bitstream followed by ``fpga load``), ``fdt addr``, ``fdt resize``, ``fdt apply``
of overlays applied at boot, the edits, ``setenv fdt_high``, ``fdt print /chosen``
(``DBG_FDT_PRINT_CHOSEN``), the APPEND_EXTRA_CMDS text, then the boot command. Each module
is loaded with its own command (``XEN_LOAD``, ``DOM0_LOAD``, ``DOMU_LOAD[i]``, else
``LOAD_CMD``).

``-s`` (:attr:`ScriptOptions.calc`, upstream 2025): no address is written. The script
starts with ``setenv memaddr <first payload address>``; each file is loaded at
``${memaddr}`` and followed by ``setenv NAME_addr``/``NAME_size`` and three ``setexpr``
lines that move ``memaddr`` to the next 2 MiB boundary after ``${filesize}``; DT ``reg``
cells are computed with ``setexpr`` (:class:`~bootproof.builder.xen.fdtcmd.RunTimeReg`),
and ``fdt addr``, ``fdt apply``, ``fpga load`` and the boot line use the variables. Without
``DEVICE_TREE`` the first line is ``setenv host_fdt_addr ${fdtcontroladdr}``: U-Boot's own
control DTB is edited and booted.

Differences from the reference, on purpose: ``fdt resize`` gets the room the edits need,
written in hex as U-Boot reads it (the reference's fixed 1024, read as 0x1024, overflows
with many domUs) and ``fpga load`` gets its size in hex with ``0x`` (U-Boot parses it as
hex; the reference passed decimal).
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
    """How to render: the ``-p`` prefix, boot command, FIT mode, ``-s`` (``calc``), the
    ``DBG_FDT_PRINT_CHOSEN`` line. (Each module carries its own load command.)"""

    boot_cmd: str = "booti"
    prefix: str | None = None
    fit: bool = False
    extra_cmds: str | None = None
    xen_mode: bool = True
    calc: bool = False
    print_chosen: bool = False

#: ``-s``: ``memaddr`` is rounded up to the next 2 MiB with these (``printf 0x%X`` of the
#: mask and of its 64-bit inverse, as upstream writes them).
CALC_MASK = "0x1FFFFF"
CALC_INVERSE = "0xFFFFFFFFFFE00000"


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


def _load(m: Module, opts: ScriptOptions) -> list[str]:
    if opts.fit:
        return [f"imxtract $fit_addr {m.fit_name} 0x{m.addr:X}"]
    if not opts.calc:
        return [f"{m.load_cmd} 0x{m.addr:X} {prefixed(m.file, opts.prefix)}"]
    return [f"{m.load_cmd} ${{memaddr}} {prefixed(m.file, opts.prefix)}",
            f"setenv {m.fit_name}_addr ${{memaddr}}",
            f"setenv {m.fit_name}_size ${{filesize}}",
            "setexpr memaddr ${memaddr} \\+ ${filesize}",
            f"setexpr memaddr ${{memaddr}} \\+ {CALC_MASK}",
            f"setexpr memaddr ${{memaddr}} \\& {CALC_INVERSE}"]


def _addr(m: Module | None, opts: ScriptOptions) -> str:
    """How the script names a module's address: ``0x%X``, or its ``-s`` variable."""
    if m is None:
        return "-"
    return f"${{{m.fit_name}_addr}}" if opts.calc else f"0x{m.addr:X}"


def render_script(layout: XenLayout, edits: Sequence[Edit], opts: ScriptOptions,
                  *, control_dtb: bool = False) -> str:
    """The full boot script text (lines end in ``\\n``, no trailing blank line).

    In FIT mode the edits are baked into the FIT's DTB, so none is written here.
    ``control_dtb`` (``-s`` without ``DEVICE_TREE``): U-Boot's own DTB is edited.
    """
    lines: list[str] = []
    if control_dtb:
        lines.append("setenv host_fdt_addr ${fdtcontroladdr}")
    if opts.fit:
        lines.append("fit_addr=$fileaddr")
    if opts.calc:
        lines.append(f"setenv memaddr 0x{layout.script_addr + layout.align:X}")
    for m in layout.modules:
        lines += _load(m, opts)
        if m.role == "bitstream":
            lines.append("fpga load 0 ${fpga_bitstream_addr} ${fpga_bitstream_size}"
                         if opts.calc else f"fpga load 0 0x{m.addr:X} 0x{m.size:X}")
    dtb = layout.find("dtb")
    kernel = layout.find("xen" if opts.xen_mode else "linux-kernel")
    d = "${host_fdt_addr}" if control_dtb else _addr(dtb, opts)
    if dtb is not None or control_dtb:
        lines.append(f"fdt addr {d}")
        lines.append(f"fdt resize 0x{layout.dtb_extra:x}")  # U-Boot parses it as hex
        if not opts.fit:
            lines += [f"fdt apply {_addr(m, opts)}" for m in layout.modules
                      if m.role == "overlay"]
            lines += [render(e) for e in edits]
    lines.append("setenv fdt_high 0xffffffffffffffff")
    if opts.print_chosen:
        lines.append("fdt print /chosen")
    if opts.extra_cmds:
        lines += opts.extra_cmds.rstrip("\n").split("\n")
    k = _addr(kernel, opts)
    if opts.boot_cmd == "none":
        if not opts.calc:  # -s: the load blocks set both already
            lines += [f"setenv host_kernel_addr {k}", f"setenv host_fdt_addr {d}"]
    elif opts.boot_cmd == "bootefi":
        lines.append(f"bootefi {k}  {d}")  # upstream 2024-07: "-" dropped, both blanks kept
    else:
        lines.append(f"{opts.boot_cmd} {k} - {d}")
    return "\n".join(lines) + "\n"

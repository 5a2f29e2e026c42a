"""Address planning for ImageBuilder boot scripts: a pure function from config to layout.

:func:`plan` places every module the way ``uboot-script-gen`` does (script slot at
``MEMORY_START + A`` but not below 12 MiB, payload from ``slot + A``, each item at the
next ``A``-aligned address, ``A`` = 2 MiB unless ``ADDRESS_ALIGN`` says otherwise; order:
dom0 kernel and ramdisk, each booted domU's kernel/ramdisk/partial DTB, XSM policy, Xen,
overlays, host DTB, bitstream) and then checks what the reference does not, *before* anything is
written:

* the payload plus the 2 MiB tail must end below ``MEMORY_END`` (FIT: the FIT blob too,
  without the reference's doubling of an absolute address);
* every item must lie inside ``[MEMORY_START, MEMORY_END)`` and inside the DTB's ``/memory``;
* items skip over ``/reserved-memory`` the way upstream ImageBuilder does (an item that
  touches a region moves to ``align_down(region end + A)``, see :func:`skip_reserved`),
  and over ``/memreserve/``, static heap, domU static and shared memory (to the next
  aligned address after them, ours); unlike upstream, every item is checked with its own
  size, the first one too, and again after a move; the script slot must not overlap any
  of them;
* with ``-s`` (``calc``), U-Boot computes the addresses at boot: as upstream, each file
  counts as ``A`` bytes here (for node names and the overflow check only) and nothing is
  moved around reserved memory;
* in FIT mode every address and end must fit the FIT's 32-bit cells;
* the host DTB's span includes the room its ``fdt resize`` needs (4 KiB-aligned, as
  U-Boot grows it in place), so the next item cannot be overwritten.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bootproof.builder.errors import ConfigError, LayoutError, OverflowError_, OverlapError
from bootproof.builder.layout import AddressRange, align_up
from bootproof.builder.layout.model import Layout
from bootproof.builder.report import hexa, size_text, table
from bootproof.builder.xen.config.model import ImageBuilderConfig
from bootproof.builder.xen.layout_model import xen_model

SCRIPT_FLOOR = 0xC00000
FIT_OVERHEAD = 0x10000


@dataclass(frozen=True)
class FileInfo:
    """What the planner needs to know about one input file.

    ``size`` is the file size; ``image_size`` the arm64 Image header's ``image_size`` (0
    when not an arm64 Image); ``content_size`` the used part of a DTB (its strings end).
    """

    size: int
    image_size: int = 0
    content_size: int = 0

    @property
    def reg_size(self) -> int:
        """The size used for the DT ``reg`` and the next address (upstream rule)."""
        return max(self.size, self.image_size)


@dataclass(frozen=True)
class Module:
    """One file placed in RAM.

    ``role``: xen, xen-policy, dom0-kernel, dom0-ramdisk, domU-kernel, domU-ramdisk, domU-dtb,
    overlay, dtb, bitstream, linux-kernel, linux-ramdisk. ``size`` goes into ``reg``;
    ``span`` is the RAM the item really occupies (the DTB grows by ``fdt resize``).
    ``fit_name`` is the item's name in a FIT and in ``-s`` mode's ``NAME_addr``
    variables; ``load_cmd`` the U-Boot command that loads it (``XEN_LOAD``,
    ``DOM0_LOAD``, ``DOMU_LOAD[i]`` or ``LOAD_CMD``).
    """

    role: str
    file: str
    addr: int
    size: int
    span: int
    domu: int | None = None
    dt_node: str | None = None
    fit_name: str | None = None
    load_cmd: str = ""

    @property
    def occupied(self) -> AddressRange:
        """The RAM the item occupies: ``span`` bytes from ``addr``."""
        return AddressRange(self.addr, self.span)

    @property
    def end(self) -> int:
        return self.occupied.end


@dataclass(frozen=True)
class XenLayout:
    """The planned layout: what the script loads where, plus the script and FIT slots.

    ``domids`` maps a booted domU's index to the domain id Xen gives it (tree order);
    ``overlay_mode`` is "none", "boot" (``fdt apply`` in the script) or "merge" (offline).
    ``calc``: ``-s`` mode, where U-Boot computes addresses and sizes at boot; the modules'
    ``addr`` and ``size`` are then the placeholders upstream uses (each file ``align``
    bytes), which only name the DT nodes. ``reserved``: the regions kept clear (with their
    labels: ``/reserved-memory/...``, ``XEN_STATIC_HEAP``, ``DOMU_STATIC_MEM[i]``...).
    """

    memory_start: int
    memory_end: int
    align: int
    script_addr: int
    modules: tuple[Module, ...]
    end: int
    fit_addr: int | None
    dtb_extra: int
    domids: Mapping[int, int] = field(default_factory=dict)
    overlay_mode: str = "none"
    calc: bool = False
    reserved: tuple[tuple[AddressRange, str], ...] = ()

    @property
    def fit_room(self) -> int:
        """The RAM planned for the FIT blob: every module's size plus the FIT's own bytes,
        rounded up to ``align``."""
        return align_up(sum(p.size for p in self.modules) + FIT_OVERHEAD, self.align)

    def to_model(self, *, outputs: Mapping[str, bytes] | None = None,
                 script: str | None = None, fit: str | None = None) -> Layout:
        """This layout in the one layout model (space ``ram``; see
        :mod:`bootproof.builder.xen.layout_model`), the :meth:`map_document` as detail."""
        return xen_model(self, outputs=outputs, script=script, fit=fit)

    def find(self, role: str, domu: int | None = None) -> Module | None:
        for m in self.modules:
            if m.role == role and m.domu == domu:
                return m
        return None

    def to_json(self) -> str:
        """:meth:`map_document` as JSON text."""
        return json.dumps(self.map_document(), indent=2) + "\n"

    def map_document(self) -> dict[str, Any]:
        """The Xen map (the ``--map`` document before the layout model, now its detail):
        every module's address, size, file and DT node."""
        return {
            "memory_start": self.memory_start,
            "memory_end": self.memory_end,
            "align": self.align,
            "script_addr": self.script_addr,
            "fit_addr": self.fit_addr,
            "end": self.end,
            "dtb_extra": self.dtb_extra,
            "overlay_mode": self.overlay_mode,
            "calc": self.calc,
            "domids": {f"domU{k}": v for k, v in sorted(self.domids.items())},
            "modules": [
                {**asdict(m), "addr_hex": f"0x{m.addr:X}", "size_hex": f"0x{m.size:X}"}
                for m in self.modules
            ],
        }

    def table(self) -> str:
        rows: list[list[object]] = [["script", "-", hexa(self.script_addr), "-", "-", "-"]]
        for m in self.modules:
            where = [f"${{{m.fit_name}_addr}}", "-", "run time"] if self.calc else \
                [hexa(m.addr), hexa(m.end), size_text(m.size)]
            rows.append([m.role if m.domu is None else f"{m.role}[{m.domu}]", m.file,
                         *where, m.dt_node or "-"])
        if self.fit_addr is not None:
            rows.append(["fit", "-", hexa(self.fit_addr), "-", "-", "-"])
        return table(["item", "file", "addr", "end", "size", "dt node"], rows)


def skip_reserved(addr: int, span: int, region: AddressRange, align: int) -> int | None:
    """Upstream ImageBuilder's /reserved-memory rule (2025-03): an item at ``addr`` that
    touches ``region`` (bounds inclusive: ``addr <= end`` and ``addr + span >= start``)
    moves to ``align_down(end + align)``; None when it does not touch it."""
    if addr <= region.end and addr + span >= region.start:
        return (region.end + align) & ~(align - 1)
    return None


@dataclass(frozen=True)
class _Item:
    role: str
    file: str
    info: FileInfo
    domu: int | None
    fit_name: str
    load_cmd: str


def _items(cfg: ImageBuilderConfig, files: Mapping[str, FileInfo],
           xen_file: str | None, dtb_file: str | None, overlays_loaded: bool,
           calc: bool) -> list[_Item]:
    load = cfg.load_cmd or ""
    xen_load = cfg.xen_load or load
    dom0_load = cfg.dom0_load or load

    def get(role: str, path: str | None, domu: int | None, fit: str,
            cmd: str = load) -> list[_Item]:
        if path is None:
            return []
        info = files.get(path)
        if calc:  # U-Boot measures the file; upstream counts A bytes for it here
            info = FileInfo(cfg.align)
        elif info is None:
            raise ConfigError("no size known for file", field=role, value=path)
        return [_Item(role, path, info, domu, fit, cmd)]

    items: list[_Item] = []
    if cfg.xen_mode:
        items += get("dom0-kernel", cfg.dom0_kernel, None, "dom0_linux", dom0_load)
        items += get("dom0-ramdisk", cfg.dom0_ramdisk, None, "dom0_ramdisk", dom0_load)
        for d in cfg.booted_domus:
            domu_load = d.load_cmd or load
            items += get("domU-kernel", d.kernel, d.index, f"domU{d.index}_kernel", domu_load)
            items += get("domU-ramdisk", d.ramdisk, d.index, f"domU{d.index}_ramdisk",
                         domu_load)
            items += get("domU-dtb", d.passthrough_dtb, d.index, f"domU{d.index}_fdt",
                         domu_load)
        items += get("xen-policy", cfg.xen_policy, None, "xen_policy")
        items += get("xen", xen_file, None, "host_kernel", xen_load)
    else:
        items += get("linux-kernel", cfg.linux, None, "host_kernel")
        items += get("linux-ramdisk", cfg.linux_ramdisk, None, "host_ramdisk")
    if overlays_loaded:
        for n, ov in enumerate(cfg.dt_overlays):
            items += get("overlay", ov, None, f"host_fdto{n}")
    items += get("dtb", dtb_file or cfg.device_tree, None, "host_fdt",
                 xen_load if cfg.xen_mode else load)
    items += get("bitstream", cfg.bitstream, None, "fpga_bitstream")
    return items


def _node_name(role: str, addr: int, domu: int | None) -> str | None:
    if role == "dom0-kernel":
        return f"/chosen/dom0@{addr:X}"
    if role == "dom0-ramdisk":
        return f"/chosen/dom0-ramdisk@{addr:X}"
    if role == "xen-policy":
        return f"/chosen/xen-policy@{addr:X}"
    if role in ("domU-kernel", "domU-ramdisk", "domU-dtb"):
        return f"/chosen/domU{domu}/module@{addr:X}"
    return None


def plan(
    cfg: ImageBuilderConfig,
    files: Mapping[str, FileInfo],
    *,
    ram: Sequence[AddressRange] = (),
    reserved: Sequence[tuple[AddressRange, str]] = (),
    fit: bool = False,
    dtb_extra: int = 0,
    xen_file: str | None = None,
    dtb_file: str | None = None,
    overlays_loaded: bool = True,
    calc: bool = False,
) -> XenLayout:
    """Place every module of ``cfg`` and check the result; pure (no I/O).

    ``files`` maps each config path to its :class:`FileInfo`; ``ram`` are the DTB's
    ``/memory`` ranges (empty: not checked); ``reserved`` the ranges to keep clear, with a
    label for messages. ``xen_file`` is the Xen file really loaded (``XEN.ub`` for
    bootm), ``dtb_file`` the DTB really loaded (merged or FIT copy).
    ``overlays_loaded`` is False when overlays are merged offline. ``calc``: ``-s`` mode
    (files may be missing; each counts ``align`` bytes; reserved memory is not avoided).

    Raises :class:`ConfigError` for missing MEMORY_START/END, :class:`OverflowError_` when
    the payload does not fit, :class:`OverlapError` for a script slot on reserved memory
    and :class:`LayoutError` for items outside RAM or past 32 bits in FIT mode.
    """
    if cfg.memory_start is None:
        raise ConfigError("MEMORY_START is not set", path=cfg.path, field="MEMORY_START")
    if cfg.memory_end is None:
        raise ConfigError("MEMORY_END is not set", path=cfg.path, field="MEMORY_END")
    a = cfg.align
    start, end_limit = cfg.memory_start, cfg.memory_end
    avoid: list[tuple[AddressRange, str]] = list(reserved)
    avoid += [(r, "XEN_STATIC_HEAP") for r in cfg.xen_static_heap]
    for d in cfg.booted_domus:
        avoid += [(r, f"DOMU_STATIC_MEM[{d.index}]") for r in d.static_mem]
        avoid += [(AddressRange(s.host_addr, s.size), f"DOMU_SHARED_MEM[{d.index}]")
                  for s in d.shared_mem if s.host_addr is not None]

    script_addr = max(start + a, SCRIPT_FLOOR)
    slot = AddressRange(script_addr, a)
    for r, label in avoid:
        if slot.overlaps(r):
            raise OverlapError(
                f"the script slot [0x{slot.start:X}, 0x{slot.end:X}) overlaps {label} "
                f"[0x{r.start:X}, 0x{r.end:X}): move MEMORY_START",
                field="MEMORY_START", value=start,
            )
    m = script_addr + a
    placed: list[Module] = []
    for it in _items(cfg, files, xen_file or cfg.xen, dtb_file, overlays_loaded, calc):
        size = it.info.reg_size
        span = size
        if it.role == "dtb" and not calc:
            used = it.info.content_size or it.info.size
            span = max(it.info.size, align_up(used + dtb_extra, 0x1000))
        moved = not calc
        while moved:
            moved = False
            for r, label in avoid:
                if label.startswith("/reserved-memory/"):
                    target = skip_reserved(m, span, r, a)
                elif r.overlaps(AddressRange(m, span)):
                    target = align_up(r.end, a)
                else:
                    target = None
                if target is not None:
                    m, moved = target, True
        node = _node_name(it.role, m, it.domu)
        placed.append(Module(it.role, it.file, m, size, span, it.domu, node, it.fit_name,
                             it.load_cmd))
        m = align_up(m + span, a)

    fit_addr = m if fit else None
    need = m + a
    if fit:
        need = m + align_up(sum(p.size for p in placed) + FIT_OVERHEAD, a)
    if need > end_limit:
        raise OverflowError_(
            f"not enough memory to load all binaries: they need up to 0x{need:X}, "
            f"MEMORY_END is 0x{end_limit:X}",
            field="MEMORY_END", value=end_limit,
        )
    for p in placed:
        if p.addr < start or p.end > end_limit:
            raise LayoutError(f"{p.file} at [0x{p.addr:X}, 0x{p.end:X}) is outside "
                              f"MEMORY_START..MEMORY_END", field=p.role, value=p.addr)
        if ram and not any(r.contains(p.occupied) for r in ram):
            raise LayoutError(
                f"{p.file} at [0x{p.addr:X}, 0x{p.end:X}) is outside the device tree's "
                f"/memory ({', '.join(f'0x{r.start:X}+0x{r.size:X}' for r in ram)})",
                field=p.role, value=p.addr,
            )
        if fit and p.end > 0xFFFFFFFF:
            raise LayoutError("FIT images use 32-bit addresses: this item ends above 4 GiB",
                              field=p.role, value=p.addr)
    if fit and fit_addr is not None and need > 0xFFFFFFFF:
        raise LayoutError("FIT images use 32-bit addresses: the FIT would end above 4 GiB",
                          field="fit_addr", value=fit_addr)
    domids = {d.index: n + 1 for n, d in enumerate(cfg.booted_domus)}
    mode = "none" if not cfg.dt_overlays else "boot" if overlays_loaded else "merge"
    return XenLayout(start, end_limit, a, script_addr, tuple(placed), m, fit_addr, dtb_extra,
                     domids, mode, calc, tuple(avoid))

"""The ``/chosen`` edits of a dom0less boot, as data (:mod:`bootproof.builder.xen.fdtcmd` edits).

:func:`build_edits` is pure: config + layout + the host tree (read for cpu phandles)
in, edit list out. It emits what upstream ImageBuilder's ``uboot-script-gen`` (2025)
emits, line for line: node names ``dom0@ADDR``, ``module@ADDR``, ``xen-policy@ADDR``; the
domU properties in upstream's order; ``memory <0x0 0xKIB >``; static event channels;
``xen,vcpu`` nodes; the phandle countdown shared by event channels and cpupools. The
Xilinx snapshot's vocabulary is read too (``DOMU_VUART_PL011[i]`` gives its ``vpl011``
forms). On purpose different:

* booted domUs are created in *reverse* index order: ``fdt mknod`` makes a node its
  parent's first child, and Xen creates domains in tree order, so domU0 becomes d1;
* ``DOMU_VUART_PL011[i]`` is read per domU (the reference applies element 0 to all);
* the phandle countdown skips phandles the host tree already uses;
* ``DOMU_NR_SPIS``, ``DOMU_P2M_MEM_MB`` and the grant limits are written in decimal
  (upstream copies the text: the same number for U-Boot); ``DOMU_PASSTHROUGH[i]`` (ours)
  can also say ``disabled``.
"""

from __future__ import annotations

import re

from bootproof.builder.errors import ConfigError
from bootproof.builder.formats.fdt import DeviceTree
from bootproof.builder.layout import AddressRange
from bootproof.builder.numbers import Rule, parse_number
from bootproof.builder.xen.config.model import DomU, ImageBuilderConfig, SharedMem
from bootproof.builder.xen.devices import rootfs_device
from bootproof.builder.xen.fdtcmd import (
    Cells,
    Edit,
    Empty,
    Mknod,
    RunTimeReg,
    SetProp,
    Strings,
)
from bootproof.builder.xen.plan import Module, XenLayout


def _hilo(v: int) -> tuple[int, int]:
    return v >> 32, v & 0xFFFFFFFF


def _reg(m: Module, calc: bool) -> Cells | RunTimeReg:
    if calc:
        assert m.fit_name is not None
        return RunTimeReg(m.fit_name)
    return Cells((*_hilo(m.addr), *_hilo(m.size)), "X", trailing_space=True)


def _regions(regions: tuple[AddressRange, ...]) -> Cells:
    vals: list[int] = []
    for r in regions:
        vals += [*_hilo(r.start), *_hilo(r.size)]
    return Cells(tuple(vals), "x")


def root_device(load_cmd: str | None, part_offset: int) -> str:
    """The Linux device of rootfs partition ``part_offset`` after the boot partition named
    in ``LOAD_CMD`` (``load mmc 0:1`` -> ``/dev/mmcblk0p2``; ``virtio 0:1`` -> ``/dev/vda2``).
    Raises :class:`ConfigError` when LOAD_CMD names no disk ``dev:part``."""
    return rootfs_device(load_cmd, part_offset)


def _with_root(cmd: str, rootfs: str | None, load_cmd: str | None) -> str:
    if "root=" in cmd:
        return cmd
    root = "/dev/ram0" if rootfs is None else root_device(load_cmd, 1)
    return f"{cmd} root={root}"


def _module(node: str, compat: tuple[str, ...], m: Module, calc: bool) -> list[Edit]:
    parent, name = node.rsplit("/", 1)
    return [
        Mknod(parent, name),
        SetProp(node, "compatible", Strings(compat)),
        SetProp(node, "reg", _reg(m, calc)),
    ]


class Phandles:
    """ImageBuilder's phandle countdown, shared by static event channels and cpupools:
    from 0xfffffffe down, written ``0x%x``. Phandles the host tree already uses are skipped
    (ImageBuilder does not check; with QEMU's 0x80xx phandles the numbers are the same)."""

    def __init__(self, used: set[int]) -> None:
        self.used = used
        self.next = 0xFFFFFFFE

    def allocate(self) -> int:
        while self.next in self.used:
            self.next -= 1
        self.used.add(self.next)
        return self.next


def evtchn_phandles(cfg: ImageBuilderConfig, phandles: Phandles) -> dict[tuple[int, str], int]:
    """The phandle of every static event-channel endpoint, keyed ``(domU, port text)``,
    allocated as ImageBuilder does: domUs in index order (booted or not), each definition
    in order, its local end and then its remote end, each once."""
    out: dict[tuple[int, str], int] = {}
    for d in cfg.domus:
        for e in d.static_evtchns:
            for key in ((d.index, e.local_port), (e.remote, e.remote_port)):
                if key not in out:
                    out[key] = phandles.allocate()
    return out


def _shared_mem(node: str, s: SharedMem) -> list[Edit]:
    """Upstream's shared-memory node: ``shared-mem@<HOST_ADDR as typed>``, or
    ``shared-mem-<ID>`` without a host address; two ``0x%X`` cells per value, each pair
    followed by a blank."""
    if s.host_addr is None:
        name = f"shared-mem-{s.shm_id}"
    elif s.host_text is not None and re.fullmatch(r"(0[xX])?[0-9a-fA-F]+", s.host_text):
        name = f"shared-mem@{s.host_text}"
    else:  # bash's BASE#DIGITS: '#' has no place in a U-Boot command
        name = f"shared-mem@0x{s.host_addr:X}"
    sub = f"{node}/{name}"
    cells: list[int] = []
    if s.host_addr is not None:
        cells += _hilo(s.host_addr)
    cells += [*_hilo(s.guest_addr), *_hilo(s.size)]
    return [
        Mknod(node, name),
        SetProp(sub, "compatible", Strings(("xen,domain-shared-memory-v1",))),
        SetProp(sub, "xen,shm-id", Strings((s.shm_id,))),
        SetProp(sub, "xen,shared-mem", Cells(tuple(cells), "X", pair_gap=True)),
    ]


def _domu_edits(cfg: ImageBuilderConfig, layout: XenLayout, d: DomU,
                evtchns: dict[tuple[int, str], int]) -> list[Edit]:
    """One domU node, properties in upstream ImageBuilder's order (spec section 3)."""
    node = f"/chosen/domU{d.index}"
    kib = d.mem_mb * 1024
    e: list[Edit] = [
        Mknod("/chosen", f"domU{d.index}"),
        SetProp(node, "compatible", Strings(("xen,domain",))),
        SetProp(node, "#address-cells", Cells((2,))),
        SetProp(node, "#size-cells", Cells((2,))),
        SetProp(node, "memory", Cells(_hilo(kib), "X", trailing_space=True)),
        SetProp(node, "cpus", Cells((d.vcpus,), "d")),
    ]
    if d.static_mem:
        e.append(SetProp(node, "xen,static-mem", _regions(d.static_mem)))
        if d.direct_map:
            e.append(SetProp(node, "direct-map", Empty()))
    form = d.vpl011_form
    if form == "cell":
        e.append(SetProp(node, "vpl011", Cells((1,), "x")))
    elif form == "pl011":
        e.append(SetProp(node, "vpl011", Strings(("pl011",))))
    elif form == "empty":
        e.append(SetProp(node, "vpl011", Empty()))
    if d.nr_spis is not None:
        e.append(SetProp(node, "nr_spis", Cells((d.nr_spis,), "d")))
    if d.enhanced is not None:
        e.append(SetProp(node, "xen,enhanced", Strings((d.enhanced,))))
    for prop, value in (("max_grant_version", d.grant_version),
                        ("max_grant_frames", d.grant_frames),
                        ("max_maptrack_frames", d.maptrack_frames),
                        ("capabilities", d.capability_mask),
                        ("trap-unmapped-accesses", d.trap_unmap),
                        ("domid", d.domid)):
        if value is not None:
            e.append(SetProp(node, prop, Cells((value,), "d")))
    if d.passthrough_value is not None:
        e.append(SetProp(node, "passthrough", Strings((d.passthrough_value,))))
    if d.p2m_mem_mb is not None:
        e.append(SetProp(node, "xen,domain-p2m-mem-mb", Cells((d.p2m_mem_mb,), "d")))
    for s in d.shared_mem:
        e += _shared_mem(node, s)
    if d.viommu:  # the Xilinx snapshot's, which wrote it between xen,enhanced and colors
        e.append(SetProp(node, "viommu", Empty()))
    if d.colors is not None:
        lo, hi = d.colors
        mask = ((1 << (hi + 1)) - 1) ^ ((1 << lo) - 1)
        words: list[int] = []
        while mask or not words:
            words.insert(0, mask & 0xFFFFFFFF)
            mask >>= 32
        e.append(SetProp(node, "colors", Cells(tuple(words), "x")))
    for vcpu, cpus in d.vcpu_affinity:
        sub = f"{node}/vcpu{vcpu}"
        e += [
            Mknod(node, f"vcpu{vcpu}"),
            SetProp(sub, "compatible", Strings(("xen,vcpu",), array=True)),
            SetProp(sub, "id", Cells((vcpu,), "d")),
            SetProp(sub, "hard-affinity", Strings((cpus,))),
        ]
    for ch in d.static_evtchns:
        sub = f"{node}/evtchn@{ch.local_port}"
        peer = evtchns[(ch.remote, ch.remote_port)]
        e += [
            Mknod(node, f"evtchn@{ch.local_port}"),
            SetProp(sub, "phandle", Cells((evtchns[(d.index, ch.local_port)],), "x")),
            SetProp(sub, "compatible", Strings(("xen,evtchn-v1",))),
            SetProp(sub, "xen,evtchn", Cells((parse_number(ch.local_port, Rule.C), peer),
                                             texts=(ch.local_port, f"0x{peer:x}"))),
        ]
    for role, compat in (("domU-kernel", "multiboot,kernel"),
                         ("domU-ramdisk", "multiboot,ramdisk"),
                         ("domU-dtb", "multiboot,device-tree")):
        m = layout.find(role, d.index)
        if m is None or m.dt_node is None:
            continue
        e += _module(m.dt_node, (compat, "multiboot,module"), m, layout.calc)
        if role == "domU-kernel":
            e.append(SetProp(m.dt_node, "bootargs", Strings((d.cmd,))))
    return e


def _cpupool_edits(cfg: ImageBuilderConfig, host: DeviceTree | None,
                   phandles: Phandles) -> list[Edit]:
    """Boot-time cpupools, as upstream writes them since 2024-01: a cpu's phandle already
    in the host tree is used as it is (``0x%x``, no ``fdt set`` for it); a cpu without one
    gets the next phandle of the countdown and an ``fdt set`` line; ``cpupool-cpus`` keeps
    its leading blank (``< 0x8001 0x8002>``)."""
    e: list[Edit] = []
    if not cfg.cpupools:
        return e
    if host is None:
        raise ConfigError("boot-time cpupools need DEVICE_TREE (its cpu nodes are read)",
                          path=cfg.path, field="CPUPOOL[0]")
    owner: dict[str, int] = {}
    for pool in cfg.cpupools:
        handles = []
        for cpu in pool.cpus:
            path = f"/cpus/{cpu}"
            if host.cells(path, "reg") is None:
                raise ConfigError("no such cpu node with a reg in DEVICE_TREE",
                                  path=cfg.path, field=f"CPUPOOL[{pool.index}]", value=path)
            if cpu in owner:
                raise ConfigError(f"cpu already in CPUPOOL[{owner[cpu]}]", path=cfg.path,
                                  field=f"CPUPOOL[{pool.index}]", value=cpu)
            owner[cpu] = pool.index
            existing = host.cells(path, "phandle")
            if existing:
                ph = existing[0]
            else:
                ph = phandles.allocate()
                e.append(SetProp(path, "phandle", Cells((ph,), "x")))
            handles.append(ph)
        node = f"/chosen/cpupool_{pool.index}"
        pool_ph = phandles.allocate()
        e += [
            Mknod("/chosen", f"cpupool_{pool.index}"),
            SetProp(node, "phandle", Cells((pool_ph,), "x")),
            SetProp(node, "compatible", Strings(("xen,cpupool",))),
            SetProp(node, "cpupool-cpus", Cells(tuple(handles), "x", leading_space=True)),
        ]
        if pool.sched is not None:
            e.append(SetProp(node, "cpupool-sched", Strings((pool.sched,))))
        for d in cfg.booted_domus:
            if d.cpupool == pool.index:
                e.append(SetProp(f"/chosen/domU{d.index}", "domain-cpupool",
                                 Cells((pool_ph,), "x")))
    return e


def build_edits(cfg: ImageBuilderConfig, layout: XenLayout,
                host: DeviceTree | None) -> list[Edit]:
    """The ``fdt mknod``/``fdt set`` edits for ``cfg`` placed as ``layout``, in script order.

    ``host`` is the host tree, None when U-Boot's own control DTB is edited (``-s`` without
    ``DEVICE_TREE``: nothing can be checked then). A host tree without ``/chosen`` gets one
    first (U-Boot cannot set properties on a missing node). Raises :class:`ConfigError`
    for a CPUPOOL naming a cpu the host tree does not have or a cpu in two pools, for a
    passthrough path the tree lacks, and for a rootfs root= device the load command
    cannot name.
    """
    calc = layout.calc
    e: list[Edit] = [] if host is None or host.exists("/chosen") else [Mknod("/", "chosen")]
    if not cfg.xen_mode:
        e += [
            SetProp("/chosen", "bootargs",
                    Strings((_with_root(cfg.linux_cmd, cfg.linux_rootfs, cfg.load_cmd),))),
        ]
        rd = layout.find("linux-ramdisk")
        if rd is not None:
            e += [
                SetProp("/chosen", "linux,initrd-start", Cells((rd.addr,), "x")),
                SetProp("/chosen", "linux,initrd-end", Cells((rd.addr + rd.size,), "x")),
            ]
        return e
    e += [
        SetProp("/chosen", "#address-cells", Cells((2,))),
        SetProp("/chosen", "#size-cells", Cells((2,))),
        SetProp("/chosen", "xen,xen-bootargs", Strings((cfg.xen_cmd or "",))),
    ]
    if cfg.xen_static_heap:
        e.append(SetProp("/chosen", "xen,static-heap", _regions(cfg.xen_static_heap)))
    pol = layout.find("xen-policy")
    if pol is not None and pol.dt_node is not None:
        e += _module(pol.dt_node, ("xen,xsm-policy", "multiboot,module"), pol, calc)
    k = layout.find("dom0-kernel")
    if k is not None and k.dt_node is not None:
        e += _module(k.dt_node, ("xen,linux-zimage", "xen,multiboot-module",
                                 "multiboot,module"), k, calc)
        dom0_load = cfg.dom0_load or cfg.load_cmd
        e.append(SetProp("/chosen", "xen,dom0-bootargs",
                         Strings((_with_root(cfg.dom0_cmd, cfg.dom0_rootfs, dom0_load),))))
    r = layout.find("dom0-ramdisk")
    if r is not None and r.dt_node is not None:
        e += _module(r.dt_node, ("xen,linux-initrd", "xen,multiboot-module",
                                 "multiboot,module"), r, calc)
    phandles = Phandles(set(host.phandles()) if host is not None else set())
    evtchns = evtchn_phandles(cfg, phandles)
    for d in cfg.domus:
        for p in d.passthrough_paths:
            if host is not None and not host.exists(p):
                raise ConfigError("no such node in DEVICE_TREE (U-Boot's fdt set would fail)",
                                  path=cfg.path, field=f"DOMU_PASSTHROUGH_PATHS[{d.index}]",
                                  value=p)
            e.append(SetProp(p, "xen,passthrough", Empty()))
    for d in reversed(cfg.booted_domus):
        e += _domu_edits(cfg, layout, d, evtchns)
    e += _cpupool_edits(cfg, host, phandles)
    return e

"""The ``/chosen`` edits of a dom0less boot, as data (:mod:`bootproof.builder.xen.fdtcmd` edits).

:func:`build_edits` is pure: config + layout + the host tree (read for cpu phandles)
in, edit list out. It emits what ImageBuilder's ``uboot-script-gen`` emits, with the
upstream node names (``dom0@ADDR``, ``module@ADDR``) and these changes:

* booted domUs are created in *reverse* index order: ``fdt mknod`` makes a node its
  parent's first child, and Xen creates domains in tree order, so domU0 becomes d1;
* ``DOMU_VUART_PL011[i]`` is read per domU (the reference applies element 0 to all);
* cpu phandles read from the DTB are written in hex with ``0x`` (the reference writes
  ``fdtget -t x`` output without ``0x``, which U-Boot reads as decimal);
* properties of Xen's current binding the reference cannot emit: ``xen,static-heap``,
  static shared memory nodes, ``nr_spis``, ``xen,domain-p2m-mem-mb``, ``passthrough``,
  ``capabilities`` and ``xen,vcpu`` hard-affinity nodes.
"""

from __future__ import annotations

from bootproof.builder.errors import ConfigError
from bootproof.builder.formats.fdt import DeviceTree
from bootproof.builder.layout import AddressRange
from bootproof.builder.xen.config.model import DomU, ImageBuilderConfig
from bootproof.builder.xen.devices import rootfs_device
from bootproof.builder.xen.fdtcmd import Cells, Edit, Empty, Mknod, SetProp, Strings
from bootproof.builder.xen.plan import Module, XenLayout


def _hilo(v: int) -> tuple[int, int]:
    return v >> 32, v & 0xFFFFFFFF


def _reg(m: Module) -> Cells:
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


def _module(node: str, compat: tuple[str, ...], m: Module) -> list[Edit]:
    parent, name = node.rsplit("/", 1)
    return [
        Mknod(parent, name),
        SetProp(node, "compatible", Strings(compat)),
        SetProp(node, "reg", _reg(m)),
    ]


def _domu_edits(cfg: ImageBuilderConfig, layout: XenLayout, d: DomU) -> list[Edit]:
    node = f"/chosen/domU{d.index}"
    e: list[Edit] = [
        Mknod("/chosen", f"domU{d.index}"),
        SetProp(node, "compatible", Strings(("xen,domain",))),
        SetProp(node, "#address-cells", Cells((2,))),
        SetProp(node, "#size-cells", Cells((2,))),
        SetProp(node, "memory", Cells((0, d.mem_mb * 1024), "d")),
        SetProp(node, "cpus", Cells((d.vcpus,), "d")),
    ]
    if d.static_mem:
        e.append(SetProp(node, "xen,static-mem", _regions(d.static_mem)))
        if d.direct_map:
            e.append(SetProp(node, "direct-map", Empty()))
    e.append(SetProp(node, "vpl011", Strings(("pl011",)) if d.vpl011 else Empty()))
    if d.enhanced is not None:
        e.append(SetProp(node, "xen,enhanced", Strings((d.enhanced,))))
    if d.viommu:
        e.append(SetProp(node, "viommu", Empty()))
    if d.colors is not None:
        lo, hi = d.colors
        mask = ((1 << (hi + 1)) - 1) ^ ((1 << lo) - 1)
        words: list[int] = []
        while mask or not words:
            words.insert(0, mask & 0xFFFFFFFF)
            mask >>= 32
        e.append(SetProp(node, "colors", Cells(tuple(words), "x")))
    if d.nr_spis is not None:
        e.append(SetProp(node, "nr_spis", Cells((d.nr_spis,), "d")))
    if d.p2m_mem_mb is not None:
        e.append(SetProp(node, "xen,domain-p2m-mem-mb", Cells((d.p2m_mem_mb,), "d")))
    if d.passthrough is not None:
        e.append(SetProp(node, "passthrough", Strings((d.passthrough,))))
    if d.capability_mask is not None:
        e.append(SetProp(node, "capabilities", Cells((d.capability_mask,), "d")))
    for s in d.shared_mem:
        name = f"shared-mem@{s.host_addr:x}" if s.host_addr is not None else \
            f"shared-mem-{s.shm_id}"
        sub = f"{node}/{name}"
        cells: list[int] = []
        if s.host_addr is not None:
            cells += _hilo(s.host_addr)
        cells += [*_hilo(s.guest_addr), *_hilo(s.size)]
        e += [
            Mknod(node, name),
            SetProp(sub, "compatible", Strings(("xen,domain-shared-memory-v1",))),
            SetProp(sub, "xen,shm-id", Strings((s.shm_id,))),
            SetProp(sub, "xen,shared-mem", Cells(tuple(cells), "x")),
        ]
    for vcpu, cpus in d.vcpu_affinity:
        sub = f"{node}/vcpu{vcpu}"
        e += [
            Mknod(node, f"vcpu{vcpu}"),
            SetProp(sub, "compatible", Strings(("xen,vcpu",))),
            SetProp(sub, "id", Cells((vcpu,), "d")),
            SetProp(sub, "hard-affinity", Strings((cpus,))),
        ]
    for role, compat in (("domU-kernel", "multiboot,kernel"),
                         ("domU-ramdisk", "multiboot,ramdisk"),
                         ("domU-dtb", "multiboot,device-tree")):
        m = layout.find(role, d.index)
        if m is None or m.dt_node is None:
            continue
        e += _module(m.dt_node, (compat, "multiboot,module"), m)
        if role == "domU-kernel":
            e.append(SetProp(m.dt_node, "bootargs", Strings((d.cmd,))))
    return e


def _cpupool_edits(cfg: ImageBuilderConfig, host: DeviceTree) -> list[Edit]:
    e: list[Edit] = []
    used = set(host.phandles())
    next_free = 0xFFFFFFFE

    def allocate() -> int:
        nonlocal next_free
        while next_free in used:
            next_free -= 1
        used.add(next_free)
        return next_free

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
            ph = existing[0] if existing else allocate()
            handles.append(ph)
            e.append(SetProp(path, "phandle", Cells((ph,))))
        node = f"/chosen/cpupool_{pool.index}"
        pool_ph = allocate()
        e += [
            Mknod("/chosen", f"cpupool_{pool.index}"),
            SetProp(node, "phandle", Cells((pool_ph,))),
            SetProp(node, "compatible", Strings(("xen,cpupool",))),
            SetProp(node, "cpupool-cpus", Cells(tuple(handles))),
        ]
        if pool.sched is not None:
            e.append(SetProp(node, "cpupool-sched", Strings((pool.sched,))))
        for d in cfg.booted_domus:
            if d.cpupool == pool.index:
                e.append(SetProp(f"/chosen/domU{d.index}", "domain-cpupool",
                                 Cells((pool_ph,))))
    return e


def build_edits(cfg: ImageBuilderConfig, layout: XenLayout, host: DeviceTree) -> list[Edit]:
    """The ``fdt mknod``/``fdt set`` edits for ``cfg`` placed as ``layout``, in script order.

    A host tree without ``/chosen`` gets one first (U-Boot cannot set properties on a
    missing node). Raises :class:`ConfigError` for a CPUPOOL naming a cpu the host tree
    does not have or a cpu in two pools, for a passthrough path the tree lacks, and for a
    rootfs root= device LOAD_CMD cannot name.
    """
    e: list[Edit] = [] if host.exists("/chosen") else [Mknod("/", "chosen")]
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
    k = layout.find("dom0-kernel")
    if k is not None and k.dt_node is not None:
        e += _module(k.dt_node, ("xen,linux-zimage", "xen,multiboot-module",
                                 "multiboot,module"), k)
        e.append(SetProp("/chosen", "xen,dom0-bootargs",
                         Strings((_with_root(cfg.dom0_cmd, cfg.dom0_rootfs, cfg.load_cmd),))))
    r = layout.find("dom0-ramdisk")
    if r is not None and r.dt_node is not None:
        e += _module(r.dt_node, ("xen,linux-initrd", "xen,multiboot-module",
                                 "multiboot,module"), r)
    pol = layout.find("xen-policy")
    if pol is not None and pol.dt_node is not None:
        e += _module(pol.dt_node, ("xen,xsm-policy", "multiboot,module"), pol)
    for d in cfg.domus:
        for p in d.passthrough_paths:
            if not host.exists(p):
                raise ConfigError("no such node in DEVICE_TREE (U-Boot's fdt set would fail)",
                                  path=cfg.path, field=f"DOMU_PASSTHROUGH_PATHS[{d.index}]",
                                  value=p)
            e.append(SetProp(p, "xen,passthrough", Empty()))
    for d in reversed(cfg.booted_domus):
        e += _domu_edits(cfg, layout, d)
    e += _cpupool_edits(cfg, host)
    return e

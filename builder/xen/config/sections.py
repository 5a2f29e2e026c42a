"""The sections of a config besides the domUs: Xen and dom0, memory, cpupools, the rest.

Each function reads one section through a :class:`~bootproof.builder.xen.config.variables.Lookup`
and raises :class:`~bootproof.builder.errors.ConfigError` naming the variable for what the
reference would reject (or would let through and then fail on a board).
"""

from __future__ import annotations

from bootproof.builder.errors import ConfigError
from bootproof.builder.xen.config.model import (
    DEFAULT_ALIGN,
    DEFAULT_DOM0_MEM_MB,
    CpuPool,
    DomU,
)
from bootproof.builder.xen.config.variables import Lookup

BOOT_CMDS = ("booti", "bootm", "bootz", "bootefi", "none")
OVERLAY_MODES = ("boot", "merge")


def boot_command(v: Lookup) -> str:
    """``BOOT_CMD``, default ``booti``."""
    boot_cmd = (v.text("BOOT_CMD") or "booti").strip()
    if boot_cmd not in BOOT_CMDS:
        raise v.err("BOOT_CMD", "0", boot_cmd, f"must be one of {', '.join(BOOT_CMDS)}")
    return boot_cmd


def has_dom0(v: Lookup) -> bool:
    """True when ``DOM0_KERNEL`` is set; a ``DOM0_RAMDISK`` without it is an error."""
    if v.text("DOM0_KERNEL") is not None:
        return True
    if v.text("DOM0_RAMDISK") is not None:
        raise v.err("DOM0_RAMDISK", "0", v.text("DOM0_RAMDISK"),
                    "a dom0 ramdisk needs DOM0_KERNEL (without it there is no dom0)")
    return False


def xen_command(v: Lookup, dom0: bool) -> str:
    """``XEN_CMD``, or the reference's default built from ``DOM0_MEM``, ``DOM0_VCPUS``,
    ``XEN_COLORS``, ``DOM0_COLORS`` and ``DOM0_VIOMMU``; without dom0 every word starting
    with ``dom0`` is dropped. ``XEN_CMD`` together with ``DOM0_MEM``/``DOM0_VCPUS`` is an
    error (the reference silently writes nothing)."""
    dom0_mem = v.integer("DOM0_MEM", minimum=1)
    dom0_vcpus = v.integer("DOM0_VCPUS", minimum=1)
    xen_cmd = v.text("XEN_CMD")
    if xen_cmd is not None and (dom0_mem is not None or dom0_vcpus is not None):
        raise ConfigError("one can specify either XEN_CMD or (DOM0_MEM and/or DOM0_VCPUS), "
                          "not both", path=v.sv.path, line=v.line("XEN_CMD"), field="XEN_CMD",
                          value=xen_cmd)
    if xen_cmd is None:
        parts = [
            "console=dtuart dtuart=serial0",
            f"dom0_mem={dom0_mem or DEFAULT_DOM0_MEM_MB}M",
            f"dom0_max_vcpus={dom0_vcpus or 1}",
            "bootscrub=0 vwfi=native sched=null",
        ]
        xc = v.color_range("XEN_COLORS")
        if xc:
            parts.append(f"xen_colors={xc[0]}-{xc[1]}")
        dc = v.color_range("DOM0_COLORS")
        if dc:
            parts.append(f"dom0_colors={dc[0]}-{dc[1]}")
        if v.flag("DOM0_VIOMMU"):
            parts.append("dom0_viommu=1")
        xen_cmd = " ".join(parts)
    if not dom0:
        xen_cmd = " ".join(w for w in xen_cmd.split() if not w.startswith("dom0"))
    return xen_cmd


def check_passthrough_repo(v: Lookup, domus: tuple[DomU, ...]) -> str | None:
    """``PASSTHROUGH_DTS_REPO``; it cannot be combined with a domU's own partial DTB."""
    repo = v.text("PASSTHROUGH_DTS_REPO")
    if repo is not None:
        for d in domus:
            if d.passthrough_dtb is not None:
                raise v.err("DOMU_PASSTHROUGH_DTB", str(d.index), d.passthrough_dtb,
                            "cannot be combined with PASSTHROUGH_DTS_REPO for the same domU")
    return repo


def cpupools(v: Lookup, domus: tuple[DomU, ...]) -> tuple[CpuPool, ...]:
    """``CPUPOOL[n]="cpu@1,cpu@2 [scheduler]"`` for n below ``NUM_CPUPOOLS``; every
    ``DOMU_CPUPOOL[i]`` must name one of them."""
    pools = []
    for n, text in enumerate(v.listed("CPUPOOL")):
        words = text.split()
        cpus = tuple(c for c in words[0].split(",") if c) if words else ()
        if not cpus:
            raise v.err("CPUPOOL", str(n), text, "no CPU given")
        pools.append(CpuPool(n, cpus, words[-1] if len(words) > 1 else None))
    for d in domus:
        if d.cpupool is not None and d.cpupool >= len(pools):
            raise v.err("DOMU_CPUPOOL", str(d.index), d.cpupool,
                        f"there are only {len(pools)} CPUPOOLs")
    return tuple(pools)


def alignment(v: Lookup) -> int:
    """``ADDRESS_ALIGN`` (ours; the reference's fixed ``offset``): a power of two ≥ 4 KiB."""
    align = v.integer("ADDRESS_ALIGN") or DEFAULT_ALIGN
    if align < 0x1000 or align & (align - 1):
        raise v.err("ADDRESS_ALIGN", "0", align, "must be a power of two, at least 0x1000")
    return align


def overlay_mode(v: Lookup) -> str:
    """``DT_OVERLAY_MODE`` (ours): apply overlays at ``boot`` (default) or ``merge`` them."""
    mode = (v.text("DT_OVERLAY_MODE") or "boot").strip()
    if mode not in OVERLAY_MODES:
        raise v.err("DT_OVERLAY_MODE", "0", mode, "must be 'boot' or 'merge'")
    return mode


def memory_window(v: Lookup) -> tuple[int | None, int | None]:
    """``MEMORY_START`` and ``MEMORY_END`` (the end above the start)."""
    start = v.integer("MEMORY_START")
    end = v.integer("MEMORY_END")
    if start is not None and end is not None and end <= start:
        raise v.err("MEMORY_END", "0", end, f"must be above MEMORY_START 0x{start:X}")
    return start, end

"""The domU section of a config: ``NUM_DOMUS`` slots, each read from its ``DOMU_*[i]`` values.

:data:`FIELDS` pairs each :class:`~bootproof.builder.xen.config.model.DomU` field that one
variable gives with that variable and its reader: a new per-domU variable is a line there
(after its line in :data:`~bootproof.builder.xen.config.variables.VARIABLES` and its field in
the model). Fields that depend on each other (the memory and static memory, the vCPU
affinity and the vCPU count, ``xen,enhanced`` and dom0) are read after the table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from bootproof.builder.errors import ConfigError
from bootproof.builder.layout import AddressRange
from bootproof.builder.numbers import NumberError
from bootproof.builder.xen.config.model import (
    CELL_MAX,
    DEFAULT_DOMU_CMD,
    DEFAULT_DOMU_MEM_MB,
    DomU,
    SharedMem,
    capability_mask,
)
from bootproof.builder.xen.config.variables import Lookup, ignored_domu_values

#: A shared-memory id is also part of a node name (``shared-mem-ID``): node-name characters.
_SHM_ID = re.compile(r"[A-Za-z0-9,._+-]+")
_CPU_LIST = re.compile(r"\s*\d+(-\d+)?(\s*,\s*\d+(-\d+)?)*\s*")
_ENHANCED = {"1": "enabled", "enabled": "enabled", "0": None, "disabled": None,
             "no-xenstore": "no-xenstore"}

#: How one variable's value is read: ``reader(lookup, NAME, key)``.
Reader = Callable[[Lookup, str, str], Any]


def _cmd(v: Lookup, name: str, key: str) -> str:
    return v.text(name, key) or DEFAULT_DOMU_CMD


def _vcpus(v: Lookup, name: str, key: str) -> int:
    return v.integer(name, key, minimum=1, maximum=CELL_MAX) or 1


def _cell(v: Lookup, name: str, key: str) -> int | None:
    return v.integer(name, key, maximum=CELL_MAX)


def _words(v: Lookup, name: str, key: str) -> tuple[str, ...]:
    return tuple((v.text(name, key) or "").split())


def _direct_map(v: Lookup, name: str, key: str) -> bool:
    return True if v.text(name, key) is None else v.flag(name, key)


def _enabled_disabled(v: Lookup, name: str, key: str) -> str | None:
    text = v.text(name, key)
    if text is not None and text not in ("enabled", "disabled"):
        raise v.err(name, key, text, "expected enabled or disabled")
    return text


def _capabilities(v: Lookup, name: str, key: str) -> str | None:
    caps = v.text(name, key)
    if caps is None:
        return None
    try:
        ok = capability_mask(caps) <= CELL_MAX
    except ValueError as exc:
        raise v.err(name, key, caps, "expected control|hardware|xenstore|dom0 or a 32-bit "
                    f"number ({exc})") from exc
    if not ok:
        raise v.err(name, key, caps, "expected control|hardware|xenstore|dom0 or a 32-bit number")
    return caps


def _shared_mem(v: Lookup, name: str, key: str) -> tuple[SharedMem, ...]:
    """``"SHM-ID [HOST_ADDR] GUEST_ADDR SIZE"``."""
    text = v.text(name, key)
    if text is None:
        return ()
    words = text.split()
    expected = "expected 'SHM-ID [HOST_ADDR] GUEST_ADDR SIZE'"
    if len(words) not in (3, 4):
        raise v.err(name, key, text, expected)
    try:
        nums = [v.number(name, key, w) for w in words[1:]]
    except NumberError as exc:
        raise v.err(name, key, text, f"{expected} ({exc})") from exc
    if not _SHM_ID.fullmatch(words[0]):
        raise v.err(name, key, text,
                    f"SHM-ID {words[0]!r} names a DT node: use letters, digits and , . _ + -")
    host = nums[0] if len(nums) == 3 else None
    return (SharedMem(words[0], host, nums[-2], nums[-1]),)


#: DomU field, the ``DOMU_*`` variable that gives it, and its reader.
FIELDS: tuple[tuple[str, str, Reader], ...] = (
    ("kernel", "DOMU_KERNEL", Lookup.text),
    ("ramdisk", "DOMU_RAMDISK", Lookup.text),
    ("cmd", "DOMU_CMD", _cmd),
    ("vcpus", "DOMU_VCPUS", _vcpus),
    ("passthrough_paths", "DOMU_PASSTHROUGH_PATHS", _words),
    ("passthrough_dtb", "DOMU_PASSTHROUGH_DTB", Lookup.text),
    ("colors", "DOMU_COLORS", Lookup.color_range),
    ("static_mem", "DOMU_STATIC_MEM", Lookup.regions),
    ("direct_map", "DOMU_DIRECT_MAP", _direct_map),
    ("viommu", "DOMU_VIOMMU", Lookup.flag),
    ("vpl011", "DOMU_VUART_PL011", Lookup.flag),
    ("cpupool", "DOMU_CPUPOOL", Lookup.integer),
    ("noboot", "DOMU_NOBOOT", Lookup.flag),
    ("rootfs", "DOMU_ROOTFS", Lookup.text),
    ("driver_domain", "DOMU_DRIVER_DOMAIN", Lookup.text),
    ("shared_mem", "DOMU_SHARED_MEM", _shared_mem),
    ("capabilities", "DOMU_CAPS", _capabilities),
    ("nr_spis", "DOMU_NR_SPIS", _cell),
    ("p2m_mem_mb", "DOMU_P2M_MEM_MB", _cell),
    ("passthrough", "DOMU_PASSTHROUGH", _enabled_disabled),
    ("name", "DOMU_NAME", Lookup.text),
)


def _memory(v: Lookup, i: int, fields: dict[str, Any], warnings: list[str]) -> int:
    """``DOMU_MEM[i]`` in MB (its KiB count is one cell); a static-memory total wins."""
    mem = v.integer("DOMU_MEM", str(i), minimum=1, maximum=CELL_MAX // 1024)
    static_mem: tuple[AddressRange, ...] = fields["static_mem"]
    if not static_mem:
        return mem or DEFAULT_DOMU_MEM_MB
    total_mb = sum(r.size for r in static_mem) >> 20
    if mem is not None and mem != total_mb:
        warnings.append(f"DOMU_MEM[{i}]={mem} differs from the DOMU_STATIC_MEM total "
                        f"{total_mb} MB: using {total_mb}")
    return total_mb


def _enhanced(v: Lookup, i: int, has_dom0: bool) -> str | None:
    """``xen,enhanced``: on with a dom0, off without, unless ``DOMU_ENHANCED[i]`` says."""
    text = v.text("DOMU_ENHANCED", str(i))
    if text is None:
        return "enabled" if has_dom0 else None
    if text.strip() not in _ENHANCED:
        raise v.err("DOMU_ENHANCED", str(i), text.strip(),
                    "expected 1, 0, enabled or no-xenstore")
    return _ENHANCED[text.strip()]


def _affinity(v: Lookup, i: int, vcpus: int) -> tuple[tuple[int, str], ...]:
    """``DOMU_VCPU_HARD_AFFINITY[i,n]``: host CPU lists by vCPU, for vCPUs that exist."""
    out = []
    for key, vcpu, text in v.pairs("DOMU_VCPU_HARD_AFFINITY", i):
        if not _CPU_LIST.fullmatch(text):
            raise v.err("DOMU_VCPU_HARD_AFFINITY", key, text, "expected a CPU list like 0-1,3")
        if vcpu >= vcpus:
            raise v.err("DOMU_VCPU_HARD_AFFINITY", key, vcpu,
                        f"vCPU {vcpu} does not exist: DOMU_VCPUS[{i}] is {vcpus} "
                        "(Xen would panic)")
        out.append((vcpu, text.replace(" ", "")))
    return tuple(sorted(out))


def read_domu(v: Lookup, i: int, has_dom0: bool, warnings: list[str]) -> DomU:
    """DomU ``i`` (its warnings appended to ``warnings``).

    Raises :class:`ConfigError` naming ``NAME[i]`` for a malformed value, and for a booted
    domU without ``DOMU_KERNEL[i]``.
    """
    k = str(i)
    fields = {attr: read(v, name, k) for attr, name, read in FIELDS}
    d = DomU(index=i, mem_mb=_memory(v, i, fields, warnings),
             enhanced=_enhanced(v, i, has_dom0),
             vcpu_affinity=_affinity(v, i, fields["vcpus"]), **fields)
    if d.booted and d.kernel is None:
        raise ConfigError(f"DOMU_KERNEL[{i}] is not defined (NUM_DOMUS includes domU {i})",
                          path=v.sv.path, field=f"DOMU_KERNEL[{i}]")
    return d


def read_domus(v: Lookup, has_dom0: bool) -> tuple[tuple[DomU, ...], list[str]]:
    """Every domU slot below ``NUM_DOMUS``, and the warnings reading them gave (domUs the
    script skips, values beyond ``NUM_DOMUS``)."""
    num = v.count("NUM_DOMUS")
    domus = []
    warnings: list[str] = []
    for i in range(num):
        d = read_domu(v, i, has_dom0, warnings)
        if d.rootfs and not d.noboot:
            warnings.append(f"Skipping DomU[{i}]: cannot handle non-ramdisk rootfs for "
                            "dom0less VMs.")
        domus.append(d)
    return tuple(domus), warnings + ignored_domu_values(v.sv, num)

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
    Evtchn,
    SharedMem,
    capability_mask,
)
from bootproof.builder.xen.config.variables import Lookup, ignored_domu_values

#: A shared-memory id is also part of a node name (``shared-mem-ID``): node-name characters.
_SHM_ID = re.compile(r"[A-Za-z0-9,._+-]+")
_CPU_LIST = re.compile(r"\s*\d+(-\d+)?(\s*,\s*\d+(-\d+)?)*\s*")
_ENHANCED = {"1": "enabled", "enabled": "enabled", "0": None, "disabled": None,
             "no-xenstore": "no-xenstore", "2": "no-xenstore"}

#: How one variable's value is read: ``reader(lookup, NAME, key)``.
Reader = Callable[[Lookup, str, str], Any]


def _cmd(v: Lookup, name: str, key: str) -> str:
    """``DOMU_CMD[i]``; its default ``console=ttyAMA0`` only comes with a vpl011 UART
    (upstream: unless ``DOMU_VPL011[i]`` turns it off, the kernel gets ``bootargs ""``)."""
    text = v.text(name, key)
    if text is not None:
        return text
    return DEFAULT_DOMU_CMD if _vpl011(v, "DOMU_VPL011", key) is not False else ""


def _tristate(v: Lookup, name: str, key: str) -> bool | None:
    """A flag (see :meth:`Lookup.flag`), None when unset."""
    return None if v.text(name, key) is None else v.flag(name, key)


def _vpl011(v: Lookup, name: str, key: str) -> bool | None:
    """``DOMU_VPL011[i]``: upstream's ``-eq 1`` test (None when unset)."""
    n = v.integer(name, key)
    return None if n is None else n == 1


def _trap_unmap(v: Lookup, name: str, key: str) -> int | None:
    """``DOMU_TRAP_UNMAP[i]``: 0 or 1 (anything else the reference ignores: refused here)."""
    text = v.text(name, key)
    n = v.integer(name, key)
    if n is not None and n > 1:
        raise v.err(name, key, text, "expected 0 or 1 (ImageBuilder ignores anything else)")
    return n


def _passthrough_prop(v: Lookup, name: str, key: str) -> bool:
    """``DOMU_PASSTHROUGH_PROP[i]``: only ``enabled`` means something (the reference ignores
    other values: refused here, so that a typo is not silently lost)."""
    text = v.text(name, key)
    if text is not None and text != "enabled":
        raise v.err(name, key, text, "the only value ImageBuilder reads is 'enabled'")
    return text == "enabled"


def _evtchns(v: Lookup, name: str, key: str) -> tuple[Evtchn, ...]:
    """``"LOCAL_PORT REMOTE_DOMU REMOTE_PORT; ..."`` (a trailing ``;`` allowed).

    Ports are numbers U-Boot can read, at most 1023 (Xen 4.17's ``max_evtchn_port`` for a
    domU: a higher one panics it); ``REMOTE_DOMU`` a domU index in plain decimal (it forms
    the peer's endpoint key ``"REMOTE_DOMU,REMOTE_PORT"``).
    """
    text = v.text(name, key)
    if text is None:
        return ()
    defs = [d.strip() for d in text.split(";")]
    if defs and defs[-1] == "":
        defs.pop()
    out = []
    for d in defs:
        words = d.split()
        if len(words) != 3:
            what = "Malformed" if len(words) < 3 else "Extra words in"
            raise v.err(name, key, text, f"{what} evtchn definition: {d!r} (expected "
                        "'LOCAL_PORT REMOTE_DOMU REMOTE_PORT', definitions separated by ';')")
        local, remote, remote_port = words
        for port in (local, remote_port):
            try:
                n = v.number(name, key, port)
            except NumberError as exc:
                raise v.err(name, key, text, f"port {port!r} in {d!r} is not a number "
                            f"({exc.reason})") from exc
            if n > 1023:
                raise v.err(name, key, text, f"port {port} in {d!r} is above 1023, the "
                            "highest a domU may use (Xen panics)")
        if not (remote.isascii() and remote.isdigit() and str(int(remote)) == remote):
            raise v.err(name, key, text, f"REMOTE_DOMU {remote!r} in {d!r} must be a domU "
                        "index in plain decimal")
        if int(remote) == int(key) and local == remote_port:
            raise v.err(name, key, text, f"Invalid evtchn definition: {d!r} (an endpoint "
                        "cannot be its own peer)")
        out.append(Evtchn(local, int(remote), remote_port))
    return tuple(out)


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
    return (SharedMem(words[0], host, nums[-2], nums[-1], words[1] if len(nums) == 3 else None),)


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
    ("vpl011", "DOMU_VUART_PL011", _tristate),
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
    ("load_cmd", "DOMU_LOAD", Lookup.text),
    ("static_evtchns", "DOMU_STATIC_EVTCHNS", _evtchns),
    ("trap_unmap", "DOMU_TRAP_UNMAP", _trap_unmap),
    ("passthrough_prop", "DOMU_PASSTHROUGH_PROP", _passthrough_prop),
    ("domid", "DOMU_DOMID", _cell),
    ("grant_version", "DOMU_GRANT_VER", _cell),
    ("grant_frames", "DOMU_GRANT_FRAMES", _cell),
    ("maptrack_frames", "DOMU_MAPTRACK_FRAMES", _cell),
    ("vpl011_upstream", "DOMU_VPL011", _vpl011),
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


def _enhanced(v: Lookup, i: int, has_dom0: bool, warnings: list[str]) -> str | None:
    """``xen,enhanced``: on with a dom0, off without, unless ``DOMU_ENHANCED[i]`` says.

    Upstream's ``2`` means "no-xenstore" only where its "enabled" rule does not fire (1, or
    a dom0 and not 0): with a dom0, ``2`` gives "enabled", as upstream writes it (warned);
    ``no-xenstore`` (ours) gives "no-xenstore" in every case.
    """
    text = v.text("DOMU_ENHANCED", str(i))
    if text is None:
        return "enabled" if has_dom0 else None
    if text.strip() not in _ENHANCED:
        raise v.err("DOMU_ENHANCED", str(i), text.strip(),
                    "expected 1, 0, 2, enabled or no-xenstore")
    if text.strip() == "2" and has_dom0:
        warnings.append(f"DOMU_ENHANCED[{i}]=2 with a dom0 gives xen,enhanced \"enabled\", as "
                        "upstream ImageBuilder writes it: write no-xenstore to get that")
        return "enabled"
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
             enhanced=_enhanced(v, i, has_dom0, warnings),
             vcpu_affinity=_affinity(v, i, fields["vcpus"]), **fields)
    if d.vpl011 is not None and d.vpl011_upstream is not None:
        warnings.append(f"DOMU_VUART_PL011[{i}] ignored: DOMU_VPL011[{i}] is set too "
                        "(upstream's variable wins)")
    if d.passthrough is not None and d.passthrough_prop and d.passthrough != "enabled":
        raise v.err("DOMU_PASSTHROUGH", k, d.passthrough,
                    f"contradicts DOMU_PASSTHROUGH_PROP[{i}]=enabled")
    if d.booted and d.kernel is None:
        raise ConfigError(f"DOMU_KERNEL[{i}] is not defined (NUM_DOMUS includes domU {i})",
                          path=v.sv.path, field=f"DOMU_KERNEL[{i}]")
    return d


def check_evtchns(v: Lookup, domus: tuple[DomU, ...]) -> None:
    """Static event channels must pair up: each definition's peer domU exists, and lists
    the mirrored definition; both ends are created at boot or neither is. Xen panics on a
    dangling phandle ("Could not set up domains evtchn"), and ImageBuilder checks none of
    this. A port is used once per domU. Raises :class:`ConfigError` naming
    ``DOMU_STATIC_EVTCHNS[i]``."""
    name = "DOMU_STATIC_EVTCHNS"
    ends = {(d.index, e.local_port): e for d in domus for e in d.static_evtchns}
    for d in domus:
        seen: set[int] = set()
        for e in d.static_evtchns:
            key = str(d.index)
            shown = f"{e.local_port} {e.remote} {e.remote_port}"
            port = v.number(name, key, e.local_port)
            if port in seen:
                raise v.err(name, key, shown, f"port {e.local_port} is used twice in domU "
                            f"{d.index}")
            seen.add(port)
            if e.remote >= len(domus):
                raise v.err(name, key, shown, f"domU {e.remote} does not exist (NUM_DOMUS is "
                            f"{len(domus)})")
            peer = ends.get((e.remote, e.remote_port))
            if peer is None or (peer.remote, peer.remote_port) != (d.index, e.local_port):
                raise v.err(name, key, shown, f"DOMU_STATIC_EVTCHNS[{e.remote}] must list the "
                            f"mirrored definition '{e.remote_port} {d.index} {e.local_port}' "
                            "(Xen panics on a one-sided channel)")
            if d.booted != domus[e.remote].booted:
                raise v.err(name, key, shown, f"domU {d.index} is created at boot and domU "
                            f"{e.remote} is not (NOBOOT/ROOTFS): the channel has no peer")


def read_domus(v: Lookup, has_dom0: bool) -> tuple[tuple[DomU, ...], list[str]]:
    """Every domU slot below ``NUM_DOMUS``, and the warnings reading them gave (domUs the
    script skips, values beyond ``NUM_DOMUS``). Raises :class:`ConfigError` for a bad
    value and for static event channels that do not pair up (:func:`check_evtchns`)."""
    num = v.count("NUM_DOMUS")
    domus = []
    warnings: list[str] = []
    for i in range(num):
        d = read_domu(v, i, has_dom0, warnings)
        if d.rootfs and not d.noboot:
            warnings.append(f"Skipping DomU[{i}]: cannot handle non-ramdisk rootfs for "
                            "dom0less VMs.")
        domus.append(d)
    check_evtchns(v, tuple(domus))
    return tuple(domus), warnings + ignored_domu_values(v.sv, num)

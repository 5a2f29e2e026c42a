"""ImageBuilder configs, read safely into typed, frozen objects.

:func:`load_config` reads a config with :mod:`bootproof.builder.xen.shellvars` (nothing is executed)
and validates it into :class:`ImageBuilderConfig`: numbers parsed, per-domU variables
gathered into :class:`DomU` objects, the combinations the reference rejects turned into
:class:`~bootproof.builder.errors.ConfigError` s, and unknown variables reported as warnings with
the nearest known name. File *contents* are checked later, by :func:`check_files`, because
the paths in a config are relative to the ``-d`` directory of the command line.

Both ``uboot-script-gen`` and the disk-image builder read configs through this module.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

from bootproof.builder.errors import ConfigError, InputError
from bootproof.builder.formats.identify import file_kind
from bootproof.builder.xen.shellvars import ShellVars, read_shell_vars

DEFAULT_DOM0_CMD = "console=hvc0 earlycon=xen earlyprintk=xen clk_ignore_unused"
DEFAULT_DOMU_CMD = "console=ttyAMA0"
DEFAULT_LINUX_CMD = "earlycon console=ttyPS0,115200"
DEFAULT_DOM0_MEM_MB = 1500
DEFAULT_DOMU_MEM_MB = 512
BOOT_CMDS = ("booti", "bootm", "bootz", "bootefi", "none")
LOAD_CMD_ALIASES = MappingProxyType({
    "sd": "load mmc 0:1",
    "scsi": "load scsi 0:1",
    "usb": "fatload usb 0:1",
    "tftp": "tftpb",
})

#: Every variable ImageBuilder (reference snapshot, upstream additions and ours) reads.
SCALARS = frozenset(
    [
        "MEMORY_START",
        "MEMORY_END",
        "LOAD_CMD",
        "BOOT_CMD",
        "DEVICE_TREE",
        "XEN",
        "XEN_CMD",
        "XEN_COLORS",
        "XEN_STATIC_HEAP",
        "DOM0_KERNEL",
        "DOM0_RAMDISK",
        "DOM0_CMD",
        "DOM0_MEM",
        "DOM0_VCPUS",
        "DOM0_COLORS",
        "DOM0_VIOMMU",
        "DOM0_ROOTFS",
        "NUM_DOMUS",
        "PASSTHROUGH_DTS_REPO",
        "LOPPER_PATH",
        "LOPPER_CMD",
        "NUM_CPUPOOLS",
        "NUM_DT_OVERLAY",
        "LINUX",
        "LINUX_RAMDISK",
        "LINUX_CMD",
        "LINUX_ROOTFS",
        "BITSTREAM",
        "UBOOT_SOURCE",
        "UBOOT_SCRIPT",
        "APPEND_EXTRA_CMDS",
        "FDTEDIT",
        "FIT",
        "FIT_ENC_KEY_DIR",
        "FIT_ENC_UB_DTB",
        "NUM_BOOT_AUX_FILE",
        "GPT",
        "XEN_POLICY",
        "ADDRESS_ALIGN",
        "DT_OVERLAY_MODE",
    ]
)
DOMU_ARRAYS = frozenset(
    [
        "DOMU_KERNEL",
        "DOMU_RAMDISK",
        "DOMU_CMD",
        "DOMU_MEM",
        "DOMU_VCPUS",
        "DOMU_PASSTHROUGH_PATHS",
        "DOMU_PASSTHROUGH_DTB",
        "DOMU_COLORS",
        "DOMU_STATIC_MEM",
        "DOMU_DIRECT_MAP",
        "DOMU_ENHANCED",
        "DOMU_VIOMMU",
        "DOMU_VUART_PL011",
        "DOMU_CPUPOOL",
        "DOMU_NOBOOT",
        "DOMU_ROOTFS",
        "DOMU_DRIVER_DOMAIN",
        "DOMU_SHARED_MEM",
        "DOMU_CAPS",
        "DOMU_VCPU_HARD_AFFINITY",
        "DOMU_NR_SPIS",
        "DOMU_P2M_MEM_MB",
        "DOMU_PASSTHROUGH",
        "DOMU_NAME",
    ]
)
OTHER_ARRAYS = frozenset(["CPUPOOL", "DT_OVERLAY", "BOOT_AUX_FILE"])
KNOWN = SCALARS | DOMU_ARRAYS | OTHER_ARRAYS


@dataclass(frozen=True)
class Region:
    """A physical address range ``[base, base + size)``."""

    base: int
    size: int

    @property
    def end(self) -> int:
        return self.base + self.size


@dataclass(frozen=True)
class SharedMem:
    """``DOMU_SHARED_MEM[i]="ID [HOST_ADDR] GUEST_ADDR SIZE"`` (static shared memory)."""

    shm_id: str
    host_addr: int | None
    guest_addr: int
    size: int


@dataclass(frozen=True)
class DomU:
    """One domU slot, ``index`` being the ``[i]`` of its variables.

    ``enhanced`` is the value of ``xen,enhanced`` ("enabled", "no-xenstore") or ``None``
    for none; the reference's default (on with a dom0, off without) is already applied.
    ``vcpu_affinity`` maps a vCPU number to the host CPU list text ("0-1,3").
    """

    index: int
    kernel: str | None
    ramdisk: str | None = None
    cmd: str = DEFAULT_DOMU_CMD
    mem_mb: int = DEFAULT_DOMU_MEM_MB
    vcpus: int = 1
    passthrough_paths: tuple[str, ...] = ()
    passthrough_dtb: str | None = None
    colors: tuple[int, int] | None = None
    static_mem: tuple[Region, ...] = ()
    direct_map: bool = True
    enhanced: str | None = "enabled"
    viommu: bool = False
    vpl011: bool = False
    cpupool: int | None = None
    noboot: bool = False
    rootfs: str | None = None
    driver_domain: str | None = None
    shared_mem: tuple[SharedMem, ...] = ()
    capabilities: str | None = None
    vcpu_affinity: tuple[tuple[int, str], ...] = ()
    nr_spis: int | None = None
    p2m_mem_mb: int | None = None
    passthrough: str | None = None
    name: str | None = None

    @property
    def booted(self) -> bool:
        """True when uboot-script-gen creates this domU at boot (not NOBOOT, no ROOTFS)."""
        return not self.noboot and not self.rootfs


@dataclass(frozen=True)
class CpuPool:
    """``CPUPOOL[n]="cpu@1,cpu@2 [scheduler]"``."""

    index: int
    cpus: tuple[str, ...]
    sched: str | None


@dataclass(frozen=True)
class ImageBuilderConfig:
    """A validated ImageBuilder config.

    ``variables`` keeps every raw assignment (``variables[NAME][KEY]``, key ``"0"`` for a
    scalar) so tools can read what this model does not interpret; ``lines`` has the line
    of each. Paths are as written in the config (relative to the ``-d`` directory).
    """

    path: str
    variables: Mapping[str, Mapping[str, str]]
    lines: Mapping[str, Mapping[str, int]]
    warnings: tuple[str, ...]
    memory_start: int | None
    memory_end: int | None
    load_cmd: str | None
    boot_cmd: str
    device_tree: str | None
    xen: str | None
    xen_cmd: str | None
    xen_cmd_given: bool
    xen_static_heap: tuple[Region, ...]
    xen_policy: str | None
    dom0_kernel: str | None
    dom0_ramdisk: str | None
    dom0_cmd: str
    dom0_rootfs: str | None
    domus: tuple[DomU, ...]
    cpupools: tuple[CpuPool, ...]
    dt_overlays: tuple[str, ...]
    linux: str | None
    linux_ramdisk: str | None
    linux_cmd: str
    linux_rootfs: str | None
    bitstream: str | None
    uboot_source: str | None
    uboot_script: str | None
    append_extra_cmds: str | None
    fdtedit: str | None
    fit: str | None
    fit_enc_key_dir: str | None
    fit_enc_ub_dtb: str | None
    boot_aux_files: tuple[str, ...]
    gpt: bool
    passthrough_dts_repo: str | None
    lopper_path: str | None
    align: int = 0x200000
    overlay_mode: str = "boot"
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def xen_mode(self) -> bool:
        return self.xen is not None

    @property
    def has_dom0(self) -> bool:
        return self.dom0_kernel is not None

    @property
    def booted_domus(self) -> tuple[DomU, ...]:
        return tuple(d for d in self.domus if d.booted)


def resolve_load_cmd(text: str) -> str:
    """Apply the ``-t`` aliases (sd, scsi, usb, tftp); anything else is used verbatim."""
    return LOAD_CMD_ALIASES.get(text, text)


def with_overrides(
    cfg: ImageBuilderConfig,
    *,
    load_cmd: str | None = None,
    output: str | None = None,
    fit: bool = False,
    key: str | None = None,
    ub_dtb: str | None = None,
) -> ImageBuilderConfig:
    """Apply the command-line overrides the way the reference does (``-t -o -f -k -u``)."""
    changes: dict[str, object] = {}
    if load_cmd is not None:
        changes["load_cmd"] = resolve_load_cmd(load_cmd)
    if output is not None:
        changes["uboot_script"] = f"{output}.scr"
        changes["uboot_source"] = f"{output}.source"
    if key is not None:
        changes["fit_enc_key_dir"] = key
    if ub_dtb is not None:
        changes["fit_enc_ub_dtb"] = ub_dtb
    out = replace(cfg, **changes)  # type: ignore[arg-type]
    if fit and out.fit is None:
        source = out.uboot_source or ""
        base = source[: -len(".source")] if source.endswith(".source") else source
        out = replace(out, fit=f"{base}.fit")
    if out.fit is not None and out.fdtedit is None and out.device_tree is not None:
        dt = out.device_tree
        stem = dt[: -len(".dtb")] if dt.endswith(".dtb") else dt
        out = replace(out, fdtedit=f"{stem}-fit.dtb")
    return out


class _Vars:
    """Typed getters over the raw variables, raising errors that name the variable."""

    def __init__(self, sv: ShellVars) -> None:
        self.sv = sv

    def raw(self, name: str, key: str = "0") -> str | None:
        return self.sv.values.get(name, {}).get(key)

    def line(self, name: str, key: str = "0") -> int | None:
        return self.sv.lines.get(name, {}).get(key)

    def label(self, name: str, key: str) -> str:
        return name if name in SCALARS and key == "0" else f"{name}[{key}]"

    def err(self, name: str, key: str, value: object, message: str) -> ConfigError:
        return ConfigError(
            message,
            path=self.sv.path,
            line=self.line(name, key),
            field=self.label(name, key),
            value=value,
        )

    def text(self, name: str, key: str = "0") -> str | None:
        """The value, or None when unset or empty (bash's ``-z`` test)."""
        v = self.raw(name, key)
        return v if v else None

    def integer(self, name: str, key: str = "0", *, minimum: int = 0,
                maximum: int | None = None) -> int | None:
        v = self.text(name, key)
        if v is None:
            return None
        n = parse_number(v.strip())
        if n is None:
            raise self.err(name, key, v, "not a number (use 0x.., or decimal)")
        if n < minimum:
            raise self.err(name, key, v, f"must be at least {minimum}")
        if maximum is not None and n > maximum:
            raise self.err(name, key, v, f"must be at most {maximum} (one 32-bit DT cell)")
        return n

    def flag(self, name: str, key: str = "0") -> bool:
        """Any non-empty value is true, except "0", "n", "no", "false"."""
        v = self.text(name, key)
        return v is not None and v.strip().lower() not in ("0", "n", "no", "false", "off")

    def numbers(self, name: str, key: str = "0") -> list[int]:
        v = self.text(name, key)
        if v is None:
            return []
        out = []
        for word in v.split():
            n = parse_number(word)
            if n is None:
                raise self.err(name, key, v, f"{word!r} is not a number")
            out.append(n)
        return out

    def regions(self, name: str, key: str = "0") -> tuple[Region, ...]:
        nums = self.numbers(name, key)
        if len(nums) % 2:
            raise self.err(name, key, self.raw(name, key), "needs 'base size' pairs")
        regions = tuple(Region(nums[i], nums[i + 1]) for i in range(0, len(nums), 2))
        for r in regions:
            if r.size <= 0:
                raise self.err(name, key, self.raw(name, key), "a region size must be > 0")
        return regions

    def color_range(self, name: str, key: str = "0") -> tuple[int, int] | None:
        v = self.text(name, key)
        if v is None:
            return None
        m = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", v)
        if m is None or int(m.group(1)) > int(m.group(2)) or int(m.group(2)) > 1023:
            raise self.err(name, key, v, "expected a colour range 'FIRST-LAST'")
        return int(m.group(1)), int(m.group(2))

    def count(self, name: str, limit: int = 1024) -> int:
        n = self.integer(name) or 0
        if n > limit:
            raise self.err(name, "0", n, f"more than {limit} is not supported")
        return n


def parse_number(text: str) -> int | None:
    """A config number: ``0x`` hex or decimal (bash would read a leading 0 as octal)."""
    t = text.strip()
    if re.fullmatch(r"0[xX][0-9a-fA-F]+", t):
        return int(t, 16)
    if re.fullmatch(r"[0-9]+", t):
        if len(t) > 1 and t.startswith("0"):
            return None
        try:
            return int(t)
        except ValueError:  # more digits than Python converts (4300): no config number
            return None
    return None


#: The largest value one 32-bit device-tree cell holds.
CELL_MAX = 0xFFFFFFFF
#: A shared-memory id is also part of a node name (``shared-mem-ID``): node-name characters.
_SHM_ID = re.compile(r"[A-Za-z0-9,._+-]+")
#: Characters that would end or break a U-Boot script line (all C0 controls but TAB, DEL).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _domu(v: _Vars, i: int, has_dom0: bool) -> tuple[DomU, list[str]]:
    k = str(i)
    static_mem = v.regions("DOMU_STATIC_MEM", k)
    # memory = <0 KiB>: the KiB count is one cell
    mem = v.integer("DOMU_MEM", k, minimum=1, maximum=CELL_MAX // 1024) or DEFAULT_DOMU_MEM_MB
    warnings: list[str] = []
    if static_mem:
        total_mb = sum(r.size for r in static_mem) >> 20
        if v.integer("DOMU_MEM", k) is not None and v.integer("DOMU_MEM", k) != total_mb:
            warnings.append(
                f"DOMU_MEM[{i}]={v.integer('DOMU_MEM', k)} differs from the DOMU_STATIC_MEM total "
                f"{total_mb} MB: using {total_mb}"
            )
        mem = total_mb
    enhanced_raw = v.text("DOMU_ENHANCED", k)
    enhanced: str | None = "enabled" if has_dom0 else None
    if enhanced_raw is not None:
        e = enhanced_raw.strip()
        if e in ("1", "enabled"):
            enhanced = "enabled"
        elif e in ("0", "disabled"):
            enhanced = None
        elif e == "no-xenstore":
            enhanced = "no-xenstore"
        else:
            raise v.err("DOMU_ENHANCED", k, e, "expected 1, 0, enabled or no-xenstore")
    shared = []
    for idx_key in sorted(v.sv.values.get("DOMU_SHARED_MEM", {})):
        if idx_key != k:
            continue
        words = (v.text("DOMU_SHARED_MEM", k) or "").split()
        nums = [parse_number(w) for w in words[1:]]
        if len(words) not in (3, 4) or any(n is None for n in nums):
            raise v.err(
                "DOMU_SHARED_MEM",
                k,
                v.raw("DOMU_SHARED_MEM", k),
                "expected 'SHM-ID [HOST_ADDR] GUEST_ADDR SIZE'",
            )
        if not _SHM_ID.fullmatch(words[0]):
            raise v.err(
                "DOMU_SHARED_MEM",
                k,
                v.raw("DOMU_SHARED_MEM", k),
                f"SHM-ID {words[0]!r} names a DT node: use letters, digits and , . _ + -",
            )
        vals = [n for n in nums if n is not None]
        host = vals[0] if len(vals) == 3 else None
        shared.append(SharedMem(words[0], host, vals[-2], vals[-1]))
    affinity = []
    for akey, text in v.sv.values.get("DOMU_VCPU_HARD_AFFINITY", {}).items():
        parts = akey.split(",")
        if len(parts) != 2 or parts[0] != k:
            continue
        if not re.fullmatch(r"\s*\d+(-\d+)?(\s*,\s*\d+(-\d+)?)*\s*", text):
            raise v.err("DOMU_VCPU_HARD_AFFINITY", akey, text, "expected a CPU list like 0-1,3")
        affinity.append((int(parts[1]), text.replace(" ", "")))
    caps = v.text("DOMU_CAPS", k)
    if caps is not None:
        words = [c.strip() for c in caps.replace("|", " ").split()]
        if not all(c in ("control", "hardware", "xenstore", "dom0")
                   or (c.isdigit() and int(c) <= CELL_MAX) for c in words):
            raise v.err("DOMU_CAPS", k, caps,
                        "expected control|hardware|xenstore|dom0 or a 32-bit number")
    pt = v.text("DOMU_PASSTHROUGH", k)
    if pt is not None and pt not in ("enabled", "disabled"):
        raise v.err("DOMU_PASSTHROUGH", k, pt, "expected enabled or disabled")
    vcpus = v.integer("DOMU_VCPUS", k, minimum=1, maximum=CELL_MAX) or 1
    for vcpu, _cpus in affinity:
        if vcpu >= vcpus:
            raise v.err("DOMU_VCPU_HARD_AFFINITY", f"{i},{vcpu}", vcpu,
                        f"vCPU {vcpu} does not exist: DOMU_VCPUS[{i}] is {vcpus} "
                        "(Xen would panic)")
    direct = v.text("DOMU_DIRECT_MAP", k)
    d = DomU(
        index=i,
        kernel=v.text("DOMU_KERNEL", k),
        ramdisk=v.text("DOMU_RAMDISK", k),
        cmd=v.text("DOMU_CMD", k) or DEFAULT_DOMU_CMD,
        mem_mb=mem,
        vcpus=vcpus,
        passthrough_paths=tuple((v.text("DOMU_PASSTHROUGH_PATHS", k) or "").split()),
        passthrough_dtb=v.text("DOMU_PASSTHROUGH_DTB", k),
        colors=v.color_range("DOMU_COLORS", k),
        static_mem=static_mem,
        direct_map=True if direct is None else v.flag("DOMU_DIRECT_MAP", k),
        enhanced=enhanced,
        viommu=v.flag("DOMU_VIOMMU", k),
        vpl011=v.flag("DOMU_VUART_PL011", k),
        cpupool=v.integer("DOMU_CPUPOOL", k),
        noboot=v.flag("DOMU_NOBOOT", k),
        rootfs=v.text("DOMU_ROOTFS", k),
        driver_domain=v.text("DOMU_DRIVER_DOMAIN", k),
        shared_mem=tuple(shared),
        capabilities=caps,
        vcpu_affinity=tuple(sorted(affinity)),
        nr_spis=v.integer("DOMU_NR_SPIS", k, maximum=CELL_MAX),
        p2m_mem_mb=v.integer("DOMU_P2M_MEM_MB", k, maximum=CELL_MAX),
        passthrough=pt,
        name=v.text("DOMU_NAME", k),
    )
    if d.booted and d.kernel is None:
        raise ConfigError(
            f"DOMU_KERNEL[{i}] is not defined (NUM_DOMUS includes domU {i})",
            path=v.sv.path,
            field=f"DOMU_KERNEL[{i}]",
        )
    return d, warnings


def _unknown_warnings(sv: ShellVars) -> list[str]:
    out = []
    for name in sv.values:
        if name in KNOWN:
            continue
        line = min(sv.lines[name].values())
        near = difflib.get_close_matches(name, sorted(KNOWN), n=1, cutoff=0.75)
        hint = f" (did you mean {near[0]}?)" if near else ""
        out.append(f"{sv.path}:{line}: {name} is not an ImageBuilder variable{hint}")
    return out


def build_config(sv: ShellVars) -> ImageBuilderConfig:
    """Validate raw variables into an :class:`ImageBuilderConfig` (no file access).

    Raises :class:`ConfigError` naming the variable, its line and value for malformed
    numbers and lists, a bad ``BOOT_CMD``, a booted domU without kernel, XEN_CMD given
    together with DOM0_MEM/DOM0_VCPUS, PASSTHROUGH_DTS_REPO with a DOMU_PASSTHROUGH_DTB for
    the same domU, cpupool indexes that do not exist, numbers too large for their 32-bit DT
    cell, and control characters (a line break) in any ImageBuilder variable.
    """
    v = _Vars(sv)
    warnings = _unknown_warnings(sv)
    for name, keys in sv.values.items():
        for key, value in keys.items():
            control = _CONTROL.search(value) if name in KNOWN else None
            if control is not None:
                raise v.err(name, key, value,
                            f"contains control character {control.group()!r}: a line break would "
                            "end the U-Boot command and run the rest as a new one")
    for name, keys in sv.values.items():
        if name in SCALARS and set(keys) != {"0"}:
            bad = sorted(set(keys) - {"0"})[0]
            raise v.err(name, bad, keys[bad], "is a single value, not an array")
    boot_cmd = (v.text("BOOT_CMD") or "booti").strip()
    if boot_cmd not in BOOT_CMDS:
        raise v.err("BOOT_CMD", "0", boot_cmd, f"must be one of {', '.join(BOOT_CMDS)}")
    dom0_mem = v.integer("DOM0_MEM", minimum=1)
    dom0_vcpus = v.integer("DOM0_VCPUS", minimum=1)
    xen_cmd = v.text("XEN_CMD")
    if xen_cmd is not None and (dom0_mem is not None or dom0_vcpus is not None):
        raise ConfigError(
            "one can specify either XEN_CMD or (DOM0_MEM and/or DOM0_VCPUS), not both",
            path=sv.path,
            line=v.line("XEN_CMD"),
            field="XEN_CMD",
            value=xen_cmd,
        )
    has_dom0 = v.text("DOM0_KERNEL") is not None
    if not has_dom0 and v.text("DOM0_RAMDISK") is not None:
        raise v.err("DOM0_RAMDISK", "0", v.text("DOM0_RAMDISK"),
                    "a dom0 ramdisk needs DOM0_KERNEL (without it there is no dom0)")
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
        if not has_dom0:
            xen_cmd = " ".join(w for w in xen_cmd.split() if not w.startswith("dom0"))
    elif not has_dom0:
        xen_cmd = " ".join(w for w in xen_cmd.split() if not w.startswith("dom0"))
    num_domus = v.count("NUM_DOMUS")
    built = [_domu(v, i, has_dom0) for i in range(num_domus)]
    domus = tuple(d for d, _ in built)
    for d, domu_warnings in built:
        warnings.extend(domu_warnings)
        if d.rootfs and not d.noboot:
            warnings.append(
                f"Skipping DomU[{d.index}]: cannot handle non-ramdisk rootfs for dom0less VMs."
            )
    for name in DOMU_ARRAYS:
        for key in sv.values.get(name, {}):
            first = key.split(",")[0]
            if int(first) >= num_domus:
                warnings.append(
                    f"{sv.path}:{sv.lines[name][key]}: {name}[{key}] ignored: "
                    f"NUM_DOMUS is {num_domus}"
                )
    repo = v.text("PASSTHROUGH_DTS_REPO")
    if repo is not None:
        for d in domus:
            if d.passthrough_dtb is not None:
                raise v.err(
                    "DOMU_PASSTHROUGH_DTB",
                    str(d.index),
                    d.passthrough_dtb,
                    "cannot be combined with PASSTHROUGH_DTS_REPO for the same domU",
                )
    pools = []
    for n in range(v.count("NUM_CPUPOOLS")):
        text = v.text("CPUPOOL", str(n))
        if text is None:
            raise v.err("CPUPOOL", str(n), None, "is not defined (NUM_CPUPOOLS includes it)")
        words = text.split()
        cpus = tuple(c for c in words[0].split(",") if c)
        sched = words[-1] if len(words) > 1 else None
        if not cpus:
            raise v.err("CPUPOOL", str(n), text, "no CPU given")
        pools.append(CpuPool(n, cpus, sched))
    for d in domus:
        if d.cpupool is not None and d.cpupool >= len(pools):
            raise v.err(
                "DOMU_CPUPOOL", str(d.index), d.cpupool, f"there are only {len(pools)} CPUPOOLs"
            )
    overlays = []
    for n in range(v.count("NUM_DT_OVERLAY")):
        ov = v.text("DT_OVERLAY", str(n))
        if ov is None:
            raise v.err("DT_OVERLAY", str(n), None, "is not defined (NUM_DT_OVERLAY includes it)")
        overlays.append(ov)
    aux = []
    for n in range(v.count("NUM_BOOT_AUX_FILE")):
        a = v.text("BOOT_AUX_FILE", str(n))
        if a is None:
            raise v.err(
                "BOOT_AUX_FILE", str(n), None, "is not defined (NUM_BOOT_AUX_FILE includes it)"
            )
        aux.append(a)
    align = v.integer("ADDRESS_ALIGN") or 0x200000
    if align < 0x1000 or align & (align - 1):
        raise v.err("ADDRESS_ALIGN", "0", align, "must be a power of two, at least 0x1000")
    mode = (v.text("DT_OVERLAY_MODE") or "boot").strip()
    if mode not in ("boot", "merge"):
        raise v.err("DT_OVERLAY_MODE", "0", mode, "must be 'boot' or 'merge'")
    mem_start = v.integer("MEMORY_START")
    mem_end = v.integer("MEMORY_END")
    if mem_start is not None and mem_end is not None and mem_end <= mem_start:
        raise v.err("MEMORY_END", "0", mem_end, f"must be above MEMORY_START 0x{mem_start:X}")
    dom0_cmd = v.text("DOM0_CMD") or DEFAULT_DOM0_CMD
    linux_cmd = v.text("LINUX_CMD") or DEFAULT_LINUX_CMD
    return ImageBuilderConfig(
        path=sv.path,
        variables={k: dict(val) for k, val in sv.values.items()},
        lines={k: dict(val) for k, val in sv.lines.items()},
        warnings=tuple(warnings),
        memory_start=mem_start,
        memory_end=mem_end,
        load_cmd=v.text("LOAD_CMD"),
        boot_cmd=boot_cmd,
        device_tree=v.text("DEVICE_TREE"),
        xen=v.text("XEN"),
        xen_cmd=xen_cmd,
        xen_cmd_given=v.text("XEN_CMD") is not None,
        xen_static_heap=v.regions("XEN_STATIC_HEAP"),
        xen_policy=v.text("XEN_POLICY"),
        dom0_kernel=v.text("DOM0_KERNEL"),
        dom0_ramdisk=v.text("DOM0_RAMDISK"),
        dom0_cmd=dom0_cmd,
        dom0_rootfs=v.text("DOM0_ROOTFS"),
        domus=domus,
        cpupools=tuple(pools),
        dt_overlays=tuple(overlays),
        linux=v.text("LINUX"),
        linux_ramdisk=v.text("LINUX_RAMDISK"),
        linux_cmd=linux_cmd,
        linux_rootfs=v.text("LINUX_ROOTFS"),
        bitstream=v.text("BITSTREAM"),
        uboot_source=v.text("UBOOT_SOURCE"),
        uboot_script=v.text("UBOOT_SCRIPT"),
        append_extra_cmds=v.text("APPEND_EXTRA_CMDS"),
        fdtedit=v.text("FDTEDIT"),
        fit=v.text("FIT"),
        fit_enc_key_dir=v.text("FIT_ENC_KEY_DIR"),
        fit_enc_ub_dtb=v.text("FIT_ENC_UB_DTB"),
        boot_aux_files=tuple(aux),
        gpt=v.flag("GPT"),
        passthrough_dts_repo=repo,
        lopper_path=v.text("LOPPER_PATH"),
        align=align,
        overlay_mode=mode,
        extra={k: val["0"] for k, val in sv.values.items() if k not in KNOWN and "0" in val},
    )


def load_config(path: Path, *, env: Mapping[str, str] | None = None) -> ImageBuilderConfig:
    """Read and validate the ImageBuilder config at ``path`` without executing anything.

    ``env`` is the environment ``$VAR`` falls back to (default: ``os.environ``).
    Raises :class:`ConfigError` (file, line, variable, value in the message).
    """
    sv = read_shell_vars(Path(path), env=os.environ if env is None else env)
    return build_config(sv)


# -- file checks (need the -d root) ---------------------------------------------------------

_UNSAFE_NAME = re.compile(r"[\s;\"'$#\\]")


def check_script_path(text: str, *, field: str, what: str = "file names") -> None:
    """Refuse a path that the U-Boot shell would split or expand when it stands in a
    ``load``/``tftpb`` line (blanks, quotes, ``;``, ``$``, ``#``, ``\\``).
    Raises :class:`InputError` naming ``field`` and the text."""
    if _UNSAFE_NAME.search(text):
        raise InputError(f"{what} in a U-Boot script cannot contain blanks, quotes, "
                         "';', '$', '#' or '\\'", path=text if what == "file names" else None,
                         field=field, value=text)
_KERNEL_KINDS = (
    "arm64-image",
    "arm-zimage",
    "uimage",
    "elf",
    "pe",
    "data",
    "gzip-arm64-image",
    "gzip-data",
    "gzip-elf",
)
_RAMDISK_KINDS = ("cpio", "gzip-cpio", "zstd")


@dataclass(frozen=True)
class FileCheck:
    """What :func:`check_files` found: every named file with its size and kind."""

    sizes: Mapping[str, int]
    kinds: Mapping[str, str]


def check_files(cfg: ImageBuilderConfig, root: Path) -> FileCheck:
    """Check that every file the config names for booting exists under ``root`` and has the
    right type: kernels/Xen (arm64 Image, zImage, uImage, ELF, PE or raw data, never a DTB,
    cpio or text), ramdisks (cpio, gzip-compressed cpio, zstd), DTBs (DTB magic).

    Names the U-Boot shell would split or expand (blanks, quotes, ``;``, ``$``...) are
    refused. Raises :class:`InputError` naming the variable and the path.
    """
    sizes: dict[str, int] = {}
    kinds: dict[str, str] = {}

    def check(var: str, rel: str | None, allowed: tuple[str, ...], what: str) -> None:
        if rel is None:
            return
        check_script_path(rel, field=var)
        p = root / rel
        if not p.is_file():
            reason = "does not exist" if not p.exists() else "is not a regular file"
            raise InputError(f"file {reason} (under {root})", path=rel, field=var, value=rel)
        kind = file_kind(p)
        if kind not in allowed:
            raise InputError(f"is {kind}, expected {what}", path=rel, field=var, value=rel)
        sizes[rel] = p.stat().st_size
        kinds[rel] = kind

    kernel = "a kernel image"
    check("XEN", cfg.xen, _KERNEL_KINDS, kernel)
    check("DOM0_KERNEL", cfg.dom0_kernel, _KERNEL_KINDS, kernel)
    check("DOM0_RAMDISK", cfg.dom0_ramdisk, _RAMDISK_KINDS, "a cpio ramdisk (plain/gzip/zstd)")
    if cfg.xen_mode:
        check("XEN_POLICY", cfg.xen_policy, ("data",), "an XSM/FLASK policy binary")
    check("LINUX", cfg.linux, _KERNEL_KINDS, kernel)
    check("LINUX_RAMDISK", cfg.linux_ramdisk, _RAMDISK_KINDS, "a cpio ramdisk (plain/gzip/zstd)")
    check("DEVICE_TREE", cfg.device_tree, ("dtb",), "a device tree blob")
    for d in cfg.domus:
        if not d.booted:
            continue
        check(f"DOMU_KERNEL[{d.index}]", d.kernel, _KERNEL_KINDS, kernel)
        check(
            f"DOMU_RAMDISK[{d.index}]",
            d.ramdisk,
            _RAMDISK_KINDS,
            "a cpio ramdisk (plain/gzip/zstd)",
        )
        check(f"DOMU_PASSTHROUGH_DTB[{d.index}]", d.passthrough_dtb, ("dtb",), "a device tree blob")
    for n, ov in enumerate(cfg.dt_overlays):
        check(f"DT_OVERLAY[{n}]", ov, ("dtb",), "a device tree overlay blob")
    # -u: mkimage -K writes the public key into it (a missing one was a traceback)
    check("FIT_ENC_UB_DTB", cfg.fit_enc_ub_dtb, ("dtb",), "U-Boot's control device tree blob")
    if cfg.bitstream is not None:
        check("BITSTREAM", cfg.bitstream, ("data", "elf"), "an FPGA bitstream")
    if cfg.append_extra_cmds is not None:
        p = root / cfg.append_extra_cmds
        try:
            text = p.read_bytes()
        except OSError as exc:
            raise InputError(
                f"cannot read: {exc.strerror}",
                path=cfg.append_extra_cmds,
                field="APPEND_EXTRA_CMDS",
                value=cfg.append_extra_cmds,
            ) from exc
        if b"\0" in text or not text.isascii():
            raise InputError(
                "is not ASCII text",
                path=cfg.append_extra_cmds,
                field="APPEND_EXTRA_CMDS",
                value=cfg.append_extra_cmds,
            )
    return FileCheck(sizes=sizes, kinds=kinds)

"""The typed form of an ImageBuilder config: frozen dataclasses, no I/O, no parsing.

:class:`ImageBuilderConfig` is what :func:`bootproof.builder.xen.config.load_config` returns;
the planner, the device-tree edits, the script and the disk builder read it. Paths in it
are as written in the config (relative to the ``-d`` directory); defaults are the
reference's, already applied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from bootproof.builder.layout import AddressRange
from bootproof.builder.numbers import Rule, parse_number

DEFAULT_DOM0_CMD = "console=hvc0 earlycon=xen earlyprintk=xen clk_ignore_unused"
DEFAULT_DOMU_CMD = "console=ttyAMA0"
DEFAULT_LINUX_CMD = "earlycon console=ttyPS0,115200"
DEFAULT_DOM0_MEM_MB = 1500
DEFAULT_DOMU_MEM_MB = 512
DEFAULT_ALIGN = 0x200000
#: The largest value one 32-bit device-tree cell holds.
CELL_MAX = 0xFFFFFFFF
#: ``DOMU_CAPS`` words and the ``capabilities`` bits they stand for.
CAPABILITIES = MappingProxyType({"none": 0, "control": 1, "hardware": 2, "xenstore": 4,
                                 "dom0": 7, "domain0": 7})


def capability_mask(text: str) -> int:
    """The ``capabilities`` value of a ``DOMU_CAPS`` text: its ``|``-separated words, in
    any case (:data:`CAPABILITIES`, or numbers read as bash reads them) OR'ed together.

    Raises :class:`ValueError` (a :class:`~bootproof.builder.numbers.NumberError` for a bad
    number) naming the word that is neither.
    """
    mask = 0
    for word in text.lower().replace("|", " ").split():
        if word in CAPABILITIES:
            mask |= CAPABILITIES[word]
        elif word[:1].isdigit():
            mask |= parse_number(word, Rule.BASH)
        else:
            raise ValueError(f"{word!r} is not a capability")
    return mask


@dataclass(frozen=True)
class SharedMem:
    """``DOMU_SHARED_MEM[i]="ID [HOST_ADDR] GUEST_ADDR SIZE"`` (static shared memory);
    ``host_text`` is the host address as written (upstream names the node with it)."""

    shm_id: str
    host_addr: int | None
    guest_addr: int
    size: int
    host_text: str | None = None


@dataclass(frozen=True)
class Evtchn:
    """One ``DOMU_STATIC_EVTCHNS[i]`` definition ``"LOCAL_PORT REMOTE_DOMU REMOTE_PORT"``.

    Ports are kept as written: they name the node (``evtchn@PORT``), form the endpoint keys
    (``"i,PORT"``, compared as text, as ImageBuilder does) and go into the cell as typed.
    """

    local_port: str
    remote: int
    remote_port: str


@dataclass(frozen=True)
class DomU:
    """One domU slot, ``index`` being the ``[i]`` of its variables.

    ``enhanced`` is the value of ``xen,enhanced`` ("enabled", "no-xenstore") or ``None``
    for none; the reference's default (on with a dom0, off without) is already applied.
    ``vcpu_affinity`` maps a vCPU number to the host CPU list text ("0-1,3").
    ``vpl011`` is ``DOMU_VUART_PL011[i]`` (the Xilinx snapshot's), ``vpl011_upstream``
    ``DOMU_VPL011[i]`` (upstream's); None where unset (see :attr:`vpl011_form`).
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
    static_mem: tuple[AddressRange, ...] = ()
    direct_map: bool = True
    enhanced: str | None = "enabled"
    viommu: bool = False
    vpl011: bool | None = None
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
    load_cmd: str | None = None
    static_evtchns: tuple[Evtchn, ...] = ()
    trap_unmap: int | None = None
    passthrough_prop: bool = False
    domid: int | None = None
    grant_version: int | None = None
    grant_frames: int | None = None
    maptrack_frames: int | None = None
    vpl011_upstream: bool | None = None

    @property
    def vpl011_form(self) -> str | None:
        """How the ``vpl011`` property is written: ``"cell"`` (upstream's ``vpl011 <0x1>``,
        also the default when neither variable is set), ``"pl011"`` (the snapshot's
        ``vpl011 "pl011"``), ``"empty"`` (the snapshot's bare ``vpl011``) or None (no
        property: ``DOMU_VPL011[i]`` other than 1). ``DOMU_VPL011`` wins when both are set.
        """
        if self.vpl011_upstream is not None:
            return "cell" if self.vpl011_upstream else None
        if self.vpl011 is not None:
            return "pl011" if self.vpl011 else "empty"
        return "cell"

    @property
    def passthrough_value(self) -> str | None:
        """The ``passthrough`` property's value: ``DOMU_PASSTHROUGH[i]`` (ours:
        enabled/disabled), else "enabled" for ``DOMU_PASSTHROUGH_PROP[i]=enabled``."""
        if self.passthrough is not None:
            return self.passthrough
        return "enabled" if self.passthrough_prop else None

    @property
    def booted(self) -> bool:
        """True when uboot-script-gen creates this domU at boot (not NOBOOT, no ROOTFS)."""
        return not self.noboot and not self.rootfs

    @property
    def capability_mask(self) -> int | None:
        """The value of the ``capabilities`` cell (None when ``DOMU_CAPS`` is unset)."""
        return None if self.capabilities is None else capability_mask(self.capabilities)


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
    xen_static_heap: tuple[AddressRange, ...]
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
    align: int = DEFAULT_ALIGN
    overlay_mode: str = "boot"
    extra: Mapping[str, str] = field(default_factory=dict)
    xen_load: str | None = None
    dom0_load: str | None = None
    dbg_fdt_print_chosen: bool = False
    lopper_cmd: str | None = None

    @property
    def xen_mode(self) -> bool:
        return self.xen is not None

    @property
    def has_dom0(self) -> bool:
        return self.dom0_kernel is not None

    @property
    def booted_domus(self) -> tuple[DomU, ...]:
        return tuple(d for d in self.domus if d.booted)

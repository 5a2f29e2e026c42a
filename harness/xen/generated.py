"""A generated boot set, and what booting it must show.

:func:`generate` runs the generator the way ``uboot-script-gen -c CONFIG -d DIR -t tftp -o
boot --map boot.map.json [-f]`` does (same code, called in-process so errors keep their
type) and keeps its results as data: the typed config, the
:class:`~bootproof.builder.xen.plan.XenLayout` and the
:class:`~bootproof.builder.xen.script.LoadLine` to type at U-Boot's prompt.

From those, :func:`expectations` says which guests must report (their markers, and the cpus
and memory each domU was given) and :func:`expected_layout` what U-Boot and Xen must report
loading where, in the keys :func:`~bootproof.harness.xen.parsers.reported_layout` reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bootproof.builder.errors import FormatError
from bootproof.builder.xen import GenerateOptions, LoadLine, with_overrides
from bootproof.builder.xen import generate as generate_set
from bootproof.builder.xen.config import ImageBuilderConfig, load_config
from bootproof.builder.xen.plan import Module, XenLayout
from bootproof.harness.xen.initramfs import MarkerReport
from bootproof.harness.xen.parsers import load_key, marker_name

SCRIPT_BASE = "boot"
MAP_NAME = "boot.map.json"


@dataclass(frozen=True)
class Generated:
    """A generated boot set: where it is, its layout, what the generator said, what to type."""

    config: ImageBuilderConfig
    config_path: Path
    directory: Path
    layout: XenLayout
    load: LoadLine
    output: str  # the generator's hints, notes and warnings

    @property
    def fit(self) -> bool:
        """True when U-Boot loads one FIT holding the script and every image."""
        return self.load.fit

    @property
    def load_line(self) -> str:
        """The load-and-source line, e.g. ``tftpb 0x40200000 boot.scr; source 0x40200000``."""
        return str(self.load)

    @property
    def modules(self) -> tuple[Module, ...]:
        return self.layout.modules


def generate(config: Path, directory: Path, *, fit: bool = False) -> Generated:
    """Generate the boot set for ``config`` with ``-d directory`` and TFTP loading, exactly as
    ``uboot-script-gen -c CONFIG -d DIR -t tftp -o boot --map boot.map.json [-f]`` does.

    Returns the set with its layout and the line to type at U-Boot's prompt.
    Raises :class:`~bootproof.builder.errors.ConfigError` /
    :class:`~bootproof.builder.errors.InputError` for a bad config or missing files,
    :class:`~bootproof.builder.errors.LayoutError` when the images do not fit in RAM (nothing is
    written then), :class:`~bootproof.builder.errors.ToolError` when mkimage fails.
    """
    cfg = with_overrides(load_config(config), load_cmd="tftp", output=SCRIPT_BASE, fit=fit)
    result = generate_set(cfg, directory, GenerateOptions(map_file=directory / MAP_NAME))
    output = "\n".join([*result.hints, *result.notes, *result.warnings])
    return Generated(config=cfg, config_path=config, directory=directory, layout=result.layout,
                     load=result.load_line, output=output)


@dataclass(frozen=True)
class DomainExpectation:
    """What one guest must show: its marker and (domUs) the cpus and memory asked for."""

    label: str  # "dom0", "domU<i>" or "linux"
    marker: str | None
    cpus: int | None = None
    memory_kb: int | None = None
    static_mem: tuple[tuple[int, int], ...] = ()  # (base, size) regions, direct-mapped


def expectations(cfg: ImageBuilderConfig) -> list[DomainExpectation]:
    """Every guest the config boots, with the marker named by ``marker=`` in its command
    line (a guest without one is not waited for) and, for domUs, cpus and memory."""
    out: list[DomainExpectation] = []
    if cfg.xen_mode:
        if cfg.has_dom0:
            out.append(DomainExpectation("dom0", marker_name(cfg.dom0_cmd)))
        for d in cfg.booted_domus:
            static = tuple((r.base, r.size) for r in d.static_mem)
            mem_kb = (sum(s for _, s in static) >> 10) if static else d.mem_mb * 1024
            out.append(DomainExpectation(f"domU{d.index}", marker_name(d.cmd), cpus=d.vcpus,
                                         memory_kb=mem_kb, static_mem=static))
    else:
        out.append(DomainExpectation("linux", marker_name(cfg.linux_cmd)))
    return out


def domain_problems(exp: DomainExpectation, rep: MarkerReport) -> list[str]:
    """How a guest's own report (cpus, RAM) differs from what the config asked (empty: no
    difference); static memory must be at the configured host addresses."""
    problems: list[str] = []
    if exp.cpus is not None and rep.cpus != exp.cpus:
        problems.append(f"{exp.label} ({exp.marker}): sees {rep.cpus} cpus, config asks "
                        f"{exp.cpus}")
    if exp.static_mem:
        want = tuple((base, base + size - 1) for base, size in exp.static_mem)
        if rep.ram != want:
            got = ",".join(f"{a:#x}-{b:#x}" for a, b in rep.ram)
            problems.append(f"{exp.label} ({exp.marker}): RAM at {got}, static memory asks "
                            + ",".join(f"{a:#x}-{b:#x}" for a, b in want))
    elif exp.memory_kb is not None and rep.ram_bytes != exp.memory_kb * 1024:
        problems.append(f"{exp.label} ({exp.marker}): has {rep.ram_bytes >> 10} KiB of RAM, "
                        f"config asks {exp.memory_kb} KiB")
    return problems


def _domain(layout: XenLayout, m: Module) -> str | None:
    """The domain a module boots, as Xen names it (``d0``, ``d<domid>``); None for Xen's
    own modules."""
    if m.role.startswith("dom0-"):
        return "d0"
    if m.role.startswith("domU-") and m.domu is not None:
        domid = layout.domids.get(m.domu)
        return f"d{domid}" if domid is not None else f"domU{m.domu}"
    return None


def expected_layout(gen: Generated) -> dict[str, int]:
    """Flat name -> value layout from the generated layout: every TFTP load in order (the
    typed one first: the script, or the FIT), and each domain's kernel and ramdisk module
    address (ramdisk size too) as Xen reports them. Loads are keyed by their position, so a
    file loaded twice (one kernel for several domains) is checked at each address.

    Raises :class:`FormatError` for a FIT set whose layout has no FIT address.
    """
    layout = gen.layout
    first = layout.fit_addr if gen.fit else layout.script_addr
    if first is None:
        raise FormatError("the layout of a FIT boot has no FIT address", field="fit_addr")
    out: dict[str, int] = {load_key(1, gen.load.file): first}
    for n, m in enumerate(layout.modules, start=2):
        if not gen.fit:
            out[load_key(n, m.file)] = m.addr
        dom = _domain(layout, m)
        if dom is not None and m.role.endswith("-kernel"):
            out[f"{dom} kernel module @"] = m.addr
        if dom is not None and m.role.endswith("-ramdisk"):
            out[f"{dom} ramdisk module @"] = m.addr
            out[f"{dom} ramdisk size"] = m.size
    return out

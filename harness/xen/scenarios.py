"""Test scenarios: ImageBuilder configs written the way upstream ImageBuilder reads them.

A scenario is the variables of one test boot (:func:`scenario_config`): one kernel and one
initramfs from a :class:`~bootproof.harness.xen.guests.GuestSet` serve every domain, each
told its marker on its command line (``marker=NAME``, reported by the test ``/init``).
:func:`config_text` writes variables as a config file (scalars and ``NAME[i]`` arrays), and
:func:`example_config` puts the bundled example (``examples/xen``) into a guest directory.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bootproof.builder.errors import ConfigError
from bootproof.builder.fileio import atomic_write
from bootproof.harness.xen.guests import GuestSet, link_or_copy

#: Command lines of the test scenarios (``marker=NAME`` is added per domain).
XEN_CMD = "console=dtuart dtuart=/pl011@9000000 dom0_mem=512M dom0_max_vcpus=1 bootscrub=0"
DOM0_CMD = "console=hvc0 earlycon=xenboot rdinit=/init quiet"
DOMU_CMD = "console=ttyAMA0 rdinit=/init quiet"
LINUX_CMD = "console=ttyAMA0 earlycon rdinit=/init quiet"


def config_text(values: Mapping[str, object]) -> str:
    """An ImageBuilder config from ``values``: scalars, and lists for per-domU arrays
    (``NAME[i]=...``). Strings are double-quoted (no ``$`` or backquote allowed)."""
    lines: list[str] = []

    def quote(v: object) -> str:
        text = str(v)
        if any(c in text for c in '"$`\\\n'):
            raise ConfigError("value cannot be written into a config", field="value",
                              value=text)
        return f'"{text}"' if not isinstance(v, int) else text

    for key, value in values.items():
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                if item is not None:
                    lines.append(f"{key}[{i}]={quote(item)}")
        elif value is not None:
            lines.append(f"{key}={quote(value)}")
    return "\n".join(lines) + "\n"



@dataclass(frozen=True)
class DomUSpec:
    """One domU of a scenario config: marker, memory (MB), vCPUs and optional extras."""

    marker: str
    mem_mb: int = 256
    vcpus: int = 1
    static_mem: tuple[tuple[int, int], ...] = ()
    cpupool: int | None = None


def scenario_config(
    guests: GuestSet,
    *,
    dom0_marker: str | None = "DOM0",
    domus: Sequence[DomUSpec] = (),
    linux_marker: str | None = None,
    xen_cmd: str = XEN_CMD,
    cpupools: Sequence[str] = (),
    memory_end: int = 0xC0000000,
    extra: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The ImageBuilder variables for a test boot: one kernel and one initramfs for every
    domain, each told its marker on its command line. ``linux_marker`` makes a Linux-only
    config (no Xen)."""
    values: dict[str, object] = {
        "MEMORY_START": "0x40000000",
        "MEMORY_END": f"0x{memory_end:X}",
        "DEVICE_TREE": guests.dtb,
        "LOAD_CMD": "tftpb",
        "UBOOT_SOURCE": "boot.source",
        "UBOOT_SCRIPT": "boot.scr",
    }
    if linux_marker is not None:
        values.update(LINUX=guests.kernel, LINUX_RAMDISK=guests.initrd,
                      LINUX_CMD=f"{LINUX_CMD} marker={linux_marker}")
        values.update(extra or {})
        return values
    values.update(XEN=guests.xen, XEN_CMD=xen_cmd)
    if dom0_marker is not None:
        values.update(DOM0_KERNEL=guests.kernel_gz, DOM0_RAMDISK=guests.initrd,
                      DOM0_CMD=f"{DOM0_CMD} marker={dom0_marker}")
    values["NUM_DOMUS"] = len(domus)
    values["DOMU_KERNEL"] = [guests.kernel_gz] * len(domus)
    values["DOMU_RAMDISK"] = [guests.initrd] * len(domus)
    values["DOMU_CMD"] = [f"{DOMU_CMD} marker={d.marker}" for d in domus]
    values["DOMU_MEM"] = [d.mem_mb for d in domus]
    values["DOMU_VCPUS"] = [d.vcpus for d in domus]
    if any(d.static_mem for d in domus):
        values["DOMU_STATIC_MEM"] = [
            " ".join(f"0x{b:x} 0x{s:x}" for b, s in d.static_mem) if d.static_mem else None
            for d in domus]
    if cpupools:
        values["NUM_CPUPOOLS"] = len(cpupools)
        values["CPUPOOL"] = list(cpupools)
        values["DOMU_CPUPOOL"] = [d.cpupool for d in domus]
    values.update(extra or {})
    return values


def write_scenario(guests: GuestSet, name: str, values: Mapping[str, object]) -> Path:
    """Write ``values`` as ``<name>.cfg`` into the guest directory; returns its path."""
    path = guests.directory / f"{name}.cfg"
    atomic_write(path, config_text(values))
    return path




#: The bundled example, in a source checkout (an installed package has no ``examples/``).
EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "xen"


def example_config(guests: GuestSet) -> Path:
    """Put the bundled example (``examples/xen/config``, dom0 + 2 domUs, and the files it
    names) into the guest directory and return the config's path there. Falls back to an
    equivalent generated config when the example is not available (installed package)."""
    src = EXAMPLE_DIR / "config"
    if not src.is_file():
        return write_scenario(guests, "demo", scenario_config(
            guests, domus=[DomUSpec("DOMU1", mem_mb=256), DomUSpec("DOMU2", mem_mb=256)]))
    for extra in EXAMPLE_DIR.iterdir():
        if extra.is_file():
            shutil.copyfile(extra, guests.directory / extra.name)
    link_or_copy(guests.directory / guests.initrd, guests.directory / "initrd.cpio.gz")
    return guests.directory / "config"


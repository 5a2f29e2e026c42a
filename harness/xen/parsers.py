"""What U-Boot 2023.01, Xen 4.17 and Linux print on the serial console, and how it is read.

Three kinds of text, one place:

* **stage lines** the flow waits for (autoboot prompt, ``=>``, ``## Executing script``, the
  Xen banner, ``Starting kernel``, Xen's serial-input switch);
* **bad patterns** that fail a boot at once (:func:`bad_patterns`);
* **report lines** read into data: ``Filename``/``Load address`` of every U-Boot TFTP load,
  Xen's ``LOADING DOMU`` and boot-module lines (:class:`DomUBuild`, :class:`KernelModule`,
  :func:`reported_layout`). The guests' own marker lines are read by
  :func:`bootproof.harness.xen.initramfs.parse_marker`, next to the ``/init`` that prints them.

Every pattern awaited on the live console ends in fixed text or a fixed-width field: the
console also matches the line still being printed, where ``[0-9a-f]+`` could stop at a
partial number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from bootproof.builder.layout.model import Item, Layout, Space
from bootproof.harness.core.errors import flat_model
from bootproof.harness.core.patterns import BadPatterns

#: Bad patterns of the Xen flow, added to the console's defaults.
XEN_BAD_PATTERNS: tuple[tuple[str, str], ...] = (
    ("uboot-tftp-error", r"TFTP error: [^\n]*"),
    ("uboot-tftp-retry", r"Retry count exceeded"),
    ("uboot-fdt-error", r"libfdt fdt_\w+\(\): FDT_ERR_\w+|No FDT memory address configured"),
    ("uboot-bad-image", r"Bad Linux ARM64 Image magic|Wrong Image Format for \w+ command"),
    ("uboot-script-error", r"## Error[^\n]*|Bad data crc|Bad header crc|"
                           r"Unknown command '[^'\n]*'"),
    ("xen-domain-crash", r"\(XEN\) Domain \d+ \(vcpu#\d+\) crashed"),
    ("xen-setup-failed", r"\(XEN\) Could not set up [^\n]*"),
    ("linux-oops", r"Internal error: [^\n]*|Unable to handle kernel [^\n]*"),
    ("init-failed", r"No working init found|Kernel panic - not syncing: [^\n]*"),
)

# -- stage lines -------------------------------------------------------------------------------
AUTOBOOT_RE = re.compile(r"Hit any key to stop autoboot")
UBOOT_PROMPT_RE = re.compile(r"^=> ", re.MULTILINE)
SCRIPT_RUNNING_RE = re.compile(r"## Executing script at [0-9a-fA-F]+")
XEN_BANNER_RE = re.compile(r"\(XEN\) Xen version (\S+) ")
# U-Boot's last words before jumping to the kernel ("quiet" hides Linux's banner)
KERNEL_STARTED_RE = re.compile(r"Starting kernel \.\.\.")
#: Xen's line when the serial input moves on; the name alone (a domain's output may follow
#: it on the same line)
SERIAL_INPUT_RE = re.compile(r"\*\*\* Serial input to (DOM\d+|Xen)")

# -- report lines ------------------------------------------------------------------------------
LOADING_DOMU_RE = re.compile(r"\(XEN\) \*\*\* LOADING DOMU cpus=(\d+) memory=([0-9a-fA-F]+)KB")
XEN_KERNEL_RE = re.compile(
    r"\(XEN\) Loading d(\d+) kernel from boot module @ ([0-9a-fA-F]{16})")
XEN_ZIMAGE_RE = re.compile(
    r"\(XEN\) Loading zImage from ([0-9a-fA-F]+) to ([0-9a-fA-F]+)-([0-9a-fA-F]+)")
XEN_INITRD_RE = re.compile(
    r"\(XEN\) Loading d(\d+) initrd from ([0-9a-fA-F]+) to 0x([0-9a-fA-F]+)-0x([0-9a-fA-F]+)")
UBOOT_LOAD_RE = re.compile(
    r"Filename '([^'\n]*)'\.\s*\nLoad address: 0x([0-9a-fA-F]+)\n(?:[^\n]*\n)*?"
    r"Bytes transferred = (\d+)")
#: A storage load's report (``load``/``fatload``/``ext4load``): ``N bytes read in M ms``.
UBOOT_DISK_READ_RE = re.compile(r"^(\d+) bytes read in \d+ ms", re.MULTILINE)
#: ``printenv NAME`` output: ``NAME=value`` alone on a line.
PRINTENV_RE = re.compile(r"^(\w+_(?:addr|size))=(?:0x)?([0-9a-fA-F]+)\r?$", re.MULTILINE)
#: U-Boot commands that read a file from storage (the others in a script use TFTP).
DISK_LOAD_COMMANDS = ("load", "fatload", "ext4load", "ext2load")
#: ``marker=NAME`` in a kernel command line: the name the guest's ``/init`` reports.
MARKER_NAME_RE = re.compile(r"(?:^|\s)marker=(\S+)")


def bad_patterns() -> BadPatterns:
    """The console's bad-pattern table for this flow (defaults plus U-Boot/Xen/Linux)."""
    table = BadPatterns()
    for name, regex in XEN_BAD_PATTERNS:
        table.add(name, regex)
    return table


@dataclass(frozen=True)
class DomUBuild:
    """Xen's ``*** LOADING DOMU cpus=N memory=HEXKB`` line: the domU as Xen builds it."""

    cpus: int
    memory_kb: int

    @classmethod
    def from_match(cls, m: re.Match[str]) -> DomUBuild:
        """Read a :data:`LOADING_DOMU_RE` match."""
        return cls(int(m.group(1)), int(m.group(2), 16))


@dataclass(frozen=True)
class KernelModule:
    """Xen's ``Loading dN kernel from boot module @ ADDR`` line."""

    domid: int
    addr: int

    @classmethod
    def from_match(cls, m: re.Match[str]) -> KernelModule:
        """Read a :data:`XEN_KERNEL_RE` match."""
        return cls(int(m.group(1)), int(m.group(2), 16))


def marker_name(cmdline: str) -> str | None:
    """The ``marker=NAME`` of a kernel command line (None without one)."""
    m = MARKER_NAME_RE.search(cmdline)
    return m.group(1) if m else None


def load_key(index: int, file: object) -> str:
    """The flat-layout key of the ``index``-th TFTP load (1: the line typed at the prompt)."""
    return f"load {index}: {file} @"


def is_disk_load(load_cmd: str) -> bool:
    """True when ``load_cmd`` reads from storage (``load virtio 0:1``...), not TFTP."""
    words = load_cmd.split()
    return bool(words) and words[0] in DISK_LOAD_COMMANDS


def disk_read_key(index: int) -> str:
    """The flat-layout key of the ``index``-th storage load's byte count."""
    return f"disk read {index}: bytes"


def printed_variables(log: str) -> dict[str, int]:
    """The ``NAME_addr``/``NAME_size`` values a ``printenv`` printed (hex, with or without
    ``0x``, as ``setenv``/``setexpr`` left them); the last print of a name wins."""
    return {m.group(1): int(m.group(2), 16) for m in PRINTENV_RE.finditer(log)}


def reported_layout(log: str, *, xen: bool) -> dict[str, int]:
    """The flat name -> value layout read from what U-Boot (every TFTP load, by position;
    the byte count of every storage load, by position) and, with ``xen``, Xen (each
    domain's kernel module address, ramdisk module address and size) printed; the keys are
    those of :func:`bootproof.harness.xen.generated.expected_layout`."""
    out: dict[str, int] = {}
    for n, m in enumerate(UBOOT_LOAD_RE.finditer(log), start=1):
        out[load_key(n, m.group(1))] = int(m.group(2), 16)
    for n, m in enumerate(UBOOT_DISK_READ_RE.finditer(log), start=1):
        out[disk_read_key(n)] = int(m.group(1))
    if xen:
        for m in XEN_KERNEL_RE.finditer(log):
            mod = KernelModule.from_match(m)
            out[f"d{mod.domid} kernel module @"] = mod.addr
        for m in XEN_INITRD_RE.finditer(log):
            dom = f"d{m.group(1)}"
            out[f"{dom} ramdisk module @"] = int(m.group(2), 16)
            out[f"{dom} ramdisk size"] = int(m.group(4), 16) - int(m.group(3), 16)
    return out


_LOAD_KEY = re.compile(r"^(load \d+: .*) @$")
_DISK_KEY = re.compile(r"^(disk read \d+): bytes$")
_MODULE_KEY = re.compile(r"^(d\d+ (?:kernel|ramdisk) module) @$")
_RAMDISK_SIZE_KEY = re.compile(r"^(d\d+) ramdisk size$")


def report_model(flat: Mapping[str, int]) -> Layout:
    """A flat layout (:func:`reported_layout`, or the expected one of
    :func:`bootproof.harness.xen.generated.expected_layout`) as the layout model, so that
    the guest check compares it as every layout is compared:

    * space ``u-boot``: each TFTP load (``load N: FILE``, kind ``load``, at its load
      address; U-Boot's address is what is checked, so its size is 0) and each storage
      load (``disk read N``, kind ``disk read``, no address, its byte count);
    * space ``xen``: each domain's kernel module (``dN kernel module``, at its address,
      size 0: Xen prints no size) and ramdisk module (``dN ramdisk module``, address and
      size), kind ``module``;
    * any other name as a flat value (:func:`~bootproof.harness.core.errors.flat_model`).

    Both spaces are there even when empty, so that a report without Xen's lines misses
    every module the layout expects."""
    loads: list[Item] = []
    starts: dict[str, int] = {}
    sizes: dict[str, int] = {}
    other: dict[str, object] = {}
    for key, value in flat.items():
        if m := _LOAD_KEY.match(key):
            loads.append(Item("load", m.group(1), value, 0))
        elif m := _DISK_KEY.match(key):
            loads.append(Item("disk read", m.group(1), None, value))
        elif m := _MODULE_KEY.match(key):
            starts[m.group(1)] = value
        elif m := _RAMDISK_SIZE_KEY.match(key):
            sizes[f"{m.group(1)} ramdisk module"] = value
        else:
            other[key] = value
    names = list(starts) + [n for n in sizes if n not in starts]
    modules = tuple(Item("module", n, starts.get(n), sizes.get(n, 0)) for n in names)
    spaces = [Space("u-boot", "byte", 0, None, tuple(loads)),
              Space("xen", "byte", 0, None, modules)]
    if other:
        spaces += flat_model(other).spaces
    return Layout("xen", tuple(spaces))

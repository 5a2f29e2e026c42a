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
from dataclasses import dataclass

from bootproof.harness.core.console import BadPatterns

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
SERIAL_INPUT_RE = re.compile(r"\*\*\* Serial input to (\S+)")

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


def reported_layout(log: str, *, xen: bool) -> dict[str, int]:
    """The flat name -> value layout read from what U-Boot (every TFTP load, by position)
    and, with ``xen``, Xen (each domain's kernel module address, ramdisk module address and
    size) printed; the keys are those of
    :func:`bootproof.harness.xen.generated.expected_layout`."""
    out: dict[str, int] = {}
    for n, m in enumerate(UBOOT_LOAD_RE.finditer(log), start=1):
        out[load_key(n, m.group(1))] = int(m.group(2), 16)
    if xen:
        for m in XEN_KERNEL_RE.finditer(log):
            mod = KernelModule.from_match(m)
            out[f"d{mod.domid} kernel module @"] = mod.addr
        for m in XEN_INITRD_RE.finditer(log):
            dom = f"d{m.group(1)}"
            out[f"{dom} ramdisk module @"] = int(m.group(2), 16)
            out[f"{dom} ramdisk size"] = int(m.group(4), 16) - int(m.group(3), 16)
    return out

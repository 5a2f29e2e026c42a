"""xl domain configs for the domUs of an ImageBuilder config, as dom0 will read them.

:func:`passthrough_from_dtb` reads a partial ("passthrough") DTB the way Xen's
``docs/misc/arm/passthrough.txt`` describes it: device nodes under ``/passthrough`` with
``xen,reg`` (address, size, guest address triples in the node's cell sizes), ``xen,path``,
optional ``xen,force-assign-without-iommu`` and 3-cell GIC ``interrupts``.
:func:`render_xl` turns an :class:`XlDomain` into the config text.

Fixed against the reference: ``iomem`` keeps full 64-bit addresses (the reference took the
low cell and masked it, so only devices below 4 GiB worked), the interrupt number is offset
by 32 for SPIs and 16 for PPIs (the reference always added 32), and the rootfs disk names
the partition actually created (the reference used ``2 + domU index``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bootproof.builder.errors import ConfigError, FormatError
from bootproof.builder.formats.fdt import DeviceTree

PAGE_SHIFT = 12
_GIC_OFFSET = {0: 32, 1: 16}  # SPI, PPI


@dataclass(frozen=True)
class Passthrough:
    """What a passthrough DTB grants a domU."""

    dtb_name: str
    iomem: tuple[tuple[int, int, int], ...]  # (mfn, pages, gfn)
    dtdev: tuple[str, ...]
    irqs: tuple[int, ...]


@dataclass(frozen=True)
class XlDomain:
    """Everything one xl config says. Paths are as dom0 sees them."""

    name: str
    memory_mib: int
    vcpus: int
    kernel: str
    ramdisk: str | None
    extra: str
    disk: str | None = None  # dom0 device holding the domU's rootfs
    driver_domain: str | None = None
    boot_device: str | None = None  # the boot partition, for the "mount" hint
    passthrough: Passthrough | None = None

    @property
    def file_name(self) -> str:
        return f"{self.name}.cfg"


def _cells(tree: DeviceTree, node: str, name: str, path: str | Path) -> list[int] | None:
    try:
        return tree.cells(node, name)
    except FormatError as exc:  # a length that is not whole cells: name the file too
        exc.path = str(path)
        raise


def _join(cells: Sequence[int]) -> int:
    value = 0
    for cell in cells:
        value = (value << 32) | cell
    return value


def passthrough_from_dtb(data: bytes, *, path: str | Path, field: str) -> Passthrough:
    """Read the iomem/dtdev/irqs grants from a passthrough DTB's bytes.

    Raises :class:`FormatError` (naming ``path`` and the node) when the blob is not a DTB,
    has no ``/passthrough`` node, or has ``xen,reg``/``interrupts`` of the wrong length.
    """
    try:
        tree = DeviceTree.from_bytes(data, path=str(path))
    except FormatError as exc:
        raise FormatError(f"not a valid DTB: {exc.message}", path=path, field=field) from exc
    if not tree.exists("/passthrough"):
        raise FormatError("passthrough DTB has no /passthrough node", path=path, field=field)
    acells = (tree.cells("/passthrough", "#address-cells") or [2])[0]
    scells = (tree.cells("/passthrough", "#size-cells") or [2])[0]
    iomem: list[tuple[int, int, int]] = []
    dtdev: list[str] = []
    irqs: list[int] = []
    for name in tree.children("/passthrough"):
        where = f"/passthrough/{name}"
        reg = _cells(tree, where, "xen,reg", path)
        if reg is not None:
            step = 2 * acells + scells
            if not reg or len(reg) % step:
                raise FormatError(f"xen,reg length is not a multiple of {step} cells",
                                  path=path, field=f"{where}:xen,reg", value=len(reg))
            for i in range(0, len(reg), step):
                addr = _join(reg[i:i + acells])
                size = _join(reg[i + acells:i + acells + scells])
                gaddr = _join(reg[i + acells + scells:i + step])
                pages = (size + (1 << PAGE_SHIFT) - 1) >> PAGE_SHIFT
                iomem.append((addr >> PAGE_SHIFT, pages, gaddr >> PAGE_SHIFT))
        dev_path = tree.strings(where, "xen,path")
        if dev_path is not None and tree.get(where, "xen,force-assign-without-iommu") is None:
            dtdev.extend(dev_path)
        ints = _cells(tree, where, "interrupts", path)
        if ints is not None:
            if len(ints) % 3:
                raise FormatError("interrupts is not a list of 3-cell GIC specifiers",
                                  path=path, field=f"{where}:interrupts", value=len(ints))
            for i in range(0, len(ints), 3):
                kind, number = ints[i], ints[i + 1]
                if kind not in _GIC_OFFSET:
                    raise FormatError("unknown GIC interrupt type (0 SPI, 1 PPI)", path=path,
                                      field=f"{where}:interrupts", value=kind)
                irqs.append(number + _GIC_OFFSET[kind])
    return Passthrough(Path(path).name, tuple(iomem), tuple(dtdev), tuple(irqs))


def _quoted(text: str, field: str) -> str:
    if '"' in text or "\n" in text:
        raise ConfigError("value cannot be written into an xl config", field=field, value=text)
    return f'"{text}"'


def render_xl(dom: XlDomain) -> str:
    """The xl config text for ``dom`` (one ``key = value`` per line, ending in a newline).

    Raises :class:`ConfigError` for values that xl's syntax cannot carry (quotes, newlines).
    """
    out = [f"name = {_quoted(dom.name, 'name')}",
           f"memory = {dom.memory_mib}",
           f"vcpus = {dom.vcpus}"]
    if dom.driver_domain is not None:
        out.append(f"driver_domain = {dom.driver_domain}")
    if dom.boot_device is not None:
        out.append(f"# kernel and ramdisk are on the boot partition: mount {dom.boot_device} /boot")
    out.append(f"kernel = {_quoted(dom.kernel, 'kernel')}")
    if dom.ramdisk is not None:
        out.append(f"ramdisk = {_quoted(dom.ramdisk, 'ramdisk')}")
    out.append(f"extra = {_quoted(dom.extra, 'extra')}")
    if dom.disk is not None:
        out.append(f"disk = [ {_quoted(dom.disk + ',raw,xvda,rw', 'disk')} ]")
    pt = dom.passthrough
    if pt is not None:
        out.append(f'device_tree = "/etc/xen/{pt.dtb_name}"')
        if pt.iomem:
            items = ", ".join(f'"{m:x},{n:x}@{g:x}"' for m, n, g in pt.iomem)
            out.append(f"iomem = [ {items} ]")
        if pt.dtdev:
            out.append("dtdev = [ " + ", ".join(_quoted(d, "dtdev") for d in pt.dtdev) + " ]")
        if pt.irqs:
            out.append("irqs = [ " + ", ".join(str(n) for n in pt.irqs) + " ]")
    return "\n".join(out) + "\n"

"""FIT image sources (``.its``): images and one configuration, rendered as dts text.

Only the source is produced here; ``mkimage -f`` turns it into the ``.fit`` (the one place
a tool is needed, because signing needs it). The tree has ``#address-cells = <1>``, so
every load/entry address must fit in 32 bits: :func:`render_its` refuses larger ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bootproof.builder.errors import LayoutError


@dataclass(frozen=True)
class FitImage:
    """One ``/images/NAME`` node. ``data`` is the ``/incbin/`` path as mkimage will see it;
    ``kind`` is the FIT type (kernel, ramdisk, flat_dt, fpga, script...)."""

    name: str
    data: str
    kind: str
    load: int | None = None
    entry: int | None = None
    description: str = ""
    arch: str = "arm64"
    os: str = "linux"
    compression: str = "none"


@dataclass(frozen=True)
class FitConfig:
    """The ``/configurations/NAME`` node."""

    name: str
    kernel: str | None = None
    fdt: str | None = None
    ramdisk: str | None = None
    loadables: tuple[str, ...] = ()
    fpga: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Signing:
    """Sign every image with ``algo`` and the key ``key_name_hint`` (mkimage ``-k DIR``)."""

    key_name_hint: str
    algo: str = "sha1,rsa2048"


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _cell(field: str, image: str, value: int) -> str:
    if not 0 <= value <= 0xFFFFFFFF:
        raise LayoutError("FIT addresses are 32-bit (#address-cells = <1>)",
                          field=f"{image}.{field}", value=value)
    return f"<0x{value:x}>"


def render_its(images: Sequence[FitImage], config: FitConfig, *, description: str,
               signing: Signing | None = None) -> str:
    """The ``.its`` text. Raises :class:`LayoutError` for an address above 32 bits."""
    out = ["/dts-v1/;", "", "/ {", f"\tdescription = {_q(description)};",
           "\t#address-cells = <1>;", "", "\timages {"]
    for im in images:
        out.append(f"\t\t{im.name} {{")
        out.append(f"\t\t\tdescription = {_q(im.description or im.name)};")
        out.append(f"\t\t\tdata = /incbin/({_q(im.data)});")
        out.append(f"\t\t\ttype = {_q(im.kind)};")
        out.append(f"\t\t\tarch = {_q(im.arch)};")
        out.append(f"\t\t\tos = {_q(im.os)};")
        out.append(f"\t\t\tcompression = {_q(im.compression)};")
        if im.load is not None:
            out.append(f"\t\t\tload = {_cell('load', im.name, im.load)};")
        if im.entry is not None:
            out.append(f"\t\t\tentry = {_cell('entry', im.name, im.entry)};")
        if signing is None:
            out += ["\t\t\thash-1 {", '\t\t\t\talgo = "md5";', "\t\t\t};"]
        else:
            out += ["\t\t\tsignature-1 {", f"\t\t\t\talgo = {_q(signing.algo)};",
                    f"\t\t\t\tkey-name-hint = {_q(signing.key_name_hint)};", "\t\t\t};"]
        out.append("\t\t};")
    out += ["\t};", "", "\tconfigurations {", f"\t\tdefault = {_q(config.name)};",
            f"\t\t{config.name} {{",
            f"\t\t\tdescription = {_q(config.description or config.name)};"]
    for key, value in (("kernel", config.kernel), ("fdt", config.fdt),
                       ("ramdisk", config.ramdisk), ("fpga", config.fpga)):
        if value is not None:
            out.append(f"\t\t\t{key} = {_q(value)};")
    if config.loadables:
        out.append(f"\t\t\tloadables = {', '.join(_q(x) for x in config.loadables)};")
    out += ["\t\t};", "\t};", "};", ""]
    return "\n".join(out)

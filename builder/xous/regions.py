"""Memory regions for args.bin: LiteX ``csr.csv`` / ``soc.svd`` / ``--ram`` -> main RAM + MREx.

Pipeline (the reference's, with its silent failures turned into errors):

1. read a source into a map ``lower-case name -> (start, length)``
   (:func:`read_csr_csv`, :func:`read_svd`, :func:`add_extra_svd`), trimming the CSR
   window to the highest CSR bank actually used;
2. :func:`reduce_regions` picks main RAM (the largest region whose name contains
   ``sram`` or ``ddr_ram``), drops every region whose fourcc equals RAM's, rounds lengths
   up to a page, drops empty ones, and orders/merges the rest.

Errors: a missing RAM region, a region overlapping main RAM, a number that does not parse
or does not fit in 32 bits, and unreadable files are all :class:`InputError`/
:class:`LayoutError` subclasses naming the file, the field and the value.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bootproof.builder.errors import ConfigError, FormatError, InputError, OverlapError
from bootproof.builder.layout import AddressRange, NamedRange, align_up
from bootproof.builder.numbers import parse_int, parse_size

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

PAGE = 4096
U32_MAX = 0xFFFF_FFFF

# Names the Xous tools give well-known LiteX regions; any other name is its first four
# characters, space-padded.
_KNOWN_NAMES = {
    "sram_ext": "SrEx",
    "sram": "SrIn",
    "memlcd": "Disp",
    "vexriscv_debug": "VexD",
    "csr": "CSRs",
    "audio": "Audi",
    "rom": "Boot",
    "spiflash": "SpFl",
}
DEFAULT_RAM_NAME = "SrIn"

RegionMap = dict[str, tuple[int, int]]


def make_name(key: str) -> str:
    """The four-character region name (fourcc text) for a region key."""
    known = _KNOWN_NAMES.get(key)
    if known is not None:
        return known
    encoded = (key.lower() + "    ").encode("utf-8")[:4]
    return encoded.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class MemoryMap:
    """Main RAM, the extra regions in MREx order, and what the reference would print.

    ``source`` names the file(s) the regions came from, for messages.
    """

    ram: NamedRange
    regions: tuple[NamedRange, ...]
    memory_required: int
    warnings: tuple[str, ...] = ()
    source: str | None = None


def _u32(text: str, *, path: Path, field: str, line: int | None = None) -> int:
    try:
        value = parse_int(text, field=field, path=str(path))
    except InputError as exc:
        raise ConfigError(exc.message, path=path, field=field, value=text, line=line) from None
    if not 0 <= value <= U32_MAX:
        raise ConfigError("does not fit in 32 bits", path=path, field=field, value=text,
                          line=line)
    return value


def read_csr_csv(path: str | Path) -> RegionMap:
    """Read the memory regions of a LiteX ``csr.csv``, with the CSR window trimmed.

    ``memory_region`` rows give ``name -> (base, size)``; the ``csr`` row only gives the CSR
    base, and the CSR length runs to the end of the page holding the highest ``csr_base``.
    Comment lines (``#``) and other row kinds are ignored (the reference instead drops
    whatever the first line is, taking it for a header). Raises ConfigError naming the
    line and value of a bad number, InputError if the file cannot be read.
    """
    p = Path(path)
    text = _read_text(p)
    out: RegionMap = {}
    csr_base = 0
    csr_top = 0
    for lineno, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or row[0].lstrip().startswith("#"):
            continue
        kind = row[0].strip()
        if kind == "csr_base" and len(row) >= 3:
            csr_top = max(csr_top, _u32(row[2], path=p, field=f"csr_base {row[1].strip()}",
                                        line=lineno))
        elif kind == "memory_region" and len(row) >= 4:
            name = row[1].strip()
            base = _u32(row[2], path=p, field=f"memory_region {name} base", line=lineno)
            if name == "csr":
                csr_base = base
                continue
            size = _u32(row[3], path=p, field=f"memory_region {name} size", line=lineno)
            out[name.lower()] = (base, size)
    if csr_base and csr_top:
        out["csr"] = (csr_base, align_up(csr_top + 1, PAGE) - csr_base)
    return out


def _read_text(p: Path) -> str:
    try:
        return p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"cannot read file ({exc.strerror})", path=p) from exc


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child_text(elem: ET.Element, name: str) -> str | None:
    for child in elem:
        if _local(child.tag) == name:
            return (child.text or "").strip()
    return None


def _svd_parts(p: Path) -> tuple[int, list[tuple[str, int, int]]]:
    """(highest peripheral baseAddress, [(name, base, size)] of memoryRegions) of an SVD."""
    # Imported here: only an SVD needs the XML parser (2.0 ms of create-image's start-up
    # with --csv or --ram, by `python -X importtime`).
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(p).getroot()
    except ET.ParseError as exc:
        raise FormatError(f"not well-formed XML ({exc})", path=p, line=exc.position[0]) from exc
    except OSError as exc:
        raise InputError(f"cannot read file ({exc.strerror})", path=p) from exc
    csr_top = 0
    regions: list[tuple[str, int, int]] = []
    for elem in root.iter():
        tag = _local(elem.tag)
        if tag == "peripheral":
            base_text = _child_text(elem, "baseAddress")
            if base_text:
                pname = _child_text(elem, "name") or "?"
                csr_top = max(csr_top, _u32(base_text, path=p,
                                            field=f"peripheral {pname} baseAddress"))
        elif tag == "memoryRegion":
            name = _child_text(elem, "name")
            base_text = _child_text(elem, "baseAddress")
            size_text = _child_text(elem, "size")
            if not name or base_text is None or size_text is None:
                raise FormatError("memoryRegion needs name, baseAddress and size", path=p,
                                  field="memoryRegion", value=name or "")
            regions.append((
                name,
                _u32(base_text, path=p, field=f"memoryRegion {name} baseAddress"),
                _u32(size_text, path=p, field=f"memoryRegion {name} size"),
            ))
    return csr_top, regions


def read_svd(path: str | Path) -> RegionMap:
    """Read the memoryRegions of a LiteX ``soc.svd`` (vendorExtensions), CSR trimmed.

    Duplicate region names get ``_X`` appended until unique. The region named exactly
    ``CSR`` becomes ``csr``, running from its base to one page past the page-rounded
    highest peripheral base. Raises FormatError/ConfigError naming the file and value.
    """
    p = Path(path)
    csr_top, regions = _svd_parts(p)
    seen: set[str] = set()
    out: RegionMap = {}
    for name, base, size in regions:
        unique = name
        while unique in seen:
            unique += "_X"
        seen.add(unique)
        if unique == "CSR":
            if csr_top < base:
                raise ConfigError("no peripheral at or above the CSR region base", path=p,
                                  field="memoryRegion CSR baseAddress", value=base)
            d = csr_top - base
            out["csr"] = (base, align_up(d, PAGE) + PAGE)
        else:
            out[unique.lower()] = (base, size)
    return out


def add_extra_svd(regions: RegionMap, path: str | Path) -> list[str]:
    """Add every memoryRegion of an extra SVD to ``regions`` (in place, CSR untrimmed).

    A name already present gets ``_`` appended until unique. Returns one line per region
    added (``name: start - end``), as the reference prints them.
    """
    p = Path(path)
    _, found = _svd_parts(p)
    lines = []
    for name, base, size in found:
        key = name.lower()
        while key in regions:
            key += "_"
        regions[key] = (base, size)
        lines.append(f"{key:10}: {base:x} - {base + size:x}")
    return lines


def parse_range(text: str, option: str = "--ram") -> tuple[int, int]:
    """Parse ``OFFSET:SIZE`` (``--ram``, ``--swap``): numbers as :func:`parse_int` reads
    them, the size with an optional K/M/G suffix (:func:`parse_size`); the range must be
    non-empty and inside the 32-bit address space (offset 0 allowed). InputError naming
    ``option`` and the value."""
    parts = text.split(":")
    if len(parts) != 2:
        raise InputError("expected OFFSET:SIZE", field=option, value=text)
    try:
        offset = parse_int(parts[0], field=f"{option} offset")
        size = parse_size(parts[1], field=f"{option} size")
    except InputError as exc:
        raise InputError(f"{exc.field} is {exc.message}", field=option, value=text) from None
    if not 0 <= offset <= U32_MAX or not 0 < size <= U32_MAX + 1 - offset:
        what = "RAM" if option == "--ram" else option
        raise InputError(f"{what} must be a non-empty range inside the 32-bit address space",
                         field=option, value=text)
    return offset, size


def parse_ram(text: str) -> tuple[int, int]:
    """Parse ``--ram OFFSET:SIZE`` (see :func:`parse_range`)."""
    return parse_range(text, "--ram")


def reduce_regions(
    regions: Mapping[str, tuple[int, int]],
    *,
    source: str,
    ram: tuple[int, int] | None = None,
    merge: bool = True,
) -> MemoryMap:
    """Choose main RAM and build the MREx list from a region map.

    ``source`` names the input file(s) for messages. ``ram`` is a ``--ram`` (offset, size)
    that a region only replaces when strictly larger. With ``merge`` (the current
    reference), regions are sorted by start and overlapping or adjacent ones merged under
    the first one's name (with a warning naming them); without it (the 2020 tools) they
    stay in key order and an overlap is an OverlapError.

    Raises ConfigError when no RAM region is found (or ``--ram`` is not smaller than it),
    OverlapError when a region overlaps main RAM.
    """
    keys = sorted(regions)
    for key in keys:
        if not key.isascii():
            raise ConfigError("region names must be ASCII (they become 4-byte names)",
                              path=source, field="memory region", value=key)
    ram_key: str | None = None
    ram_start, ram_size = ram if ram is not None else (0, 0)
    memory_required = ram[1] // PAGE if ram is not None else 0
    for key in keys:
        if "sram" in key or "ddr_ram" in key:
            start, length = regions[key]
            if length > ram_size:
                ram_key, ram_start, ram_size = key, start, align_up(length, PAGE)
    if ram_key is None:
        if ram is not None:
            raise ConfigError(
                "no region named *sram* or *ddr_ram* larger than --ram (the reference drops "
                "every region then); give --ram alone or drop it", path=source, field="--ram",
                value=f"0x{ram[0]:x}:0x{ram[1]:x}")
        raise ConfigError("no main RAM region (a name containing 'sram' or 'ddr_ram')",
                          path=source, field="memory regions", value=", ".join(keys))
    ram_code = make_name(ram_key)
    ram_region = NamedRange(ram_code, AddressRange(ram_start, ram_size))
    collected: list[tuple[NamedRange, str]] = []
    for key in keys:
        start, length = regions[key]
        memory_required += align_up(length, PAGE) // PAGE
        code = make_name(key)
        if code == ram_code or align_up(length, PAGE) == 0:
            continue
        collected.append((NamedRange(code, AddressRange(start, align_up(length, PAGE))), key))
    for region, key in collected:
        if region.range.overlaps(ram_region.range):
            raise OverlapError(
                f"region {region.name} ({key}) {region.range.describe()} overlaps "
                f"main RAM {ram_code} {ram_region.range.describe()}",
                path=source, field=key, value=region.start)
    warnings: list[str] = []
    if merge:
        out = _merge(collected, warnings)
    else:
        ordered = sorted(collected, key=lambda rk: rk[0].start)
        for (a, ka), (b, kb) in itertools.pairwise(ordered):
            if a.range.overlaps(b.range):
                raise OverlapError(
                    f"regions {a.name} ({ka}) and {b.name} ({kb}) overlap (the legacy layout "
                    "does not merge regions)", path=source, field=kb, value=b.start)
        out = [r for r, _ in collected]
    return MemoryMap(ram_region, tuple(out), memory_required, tuple(warnings), source)


def _merge(collected: list[tuple[NamedRange, str]], warnings: list[str]) -> list[NamedRange]:
    if not collected:
        return []
    items = sorted(collected, key=lambda rk: rk[0].start)
    out: list[NamedRange] = []
    cur, cur_keys = items[0][0], [items[0][1]]
    for region, key in items[1:]:
        if region.start > cur.end:
            out.append(_note_merge(cur, cur_keys, warnings))
            cur, cur_keys = region, [key]
        else:
            # The reference sets the end to the later region's end, which shrinks a region
            # containing the next one: keep the larger end instead.
            end = max(cur.end, region.end)
            cur = NamedRange(cur.name, AddressRange(cur.start, end - cur.start))
            cur_keys.append(key)
    out.append(_note_merge(cur, cur_keys, warnings))
    return out


def _note_merge(region: NamedRange, keys: list[str], warnings: list[str]) -> NamedRange:
    if len(keys) > 1:
        names = ", ".join(f"{make_name(k)} ({k})" for k in keys)
        warnings.append(
            f"merged overlapping or adjacent regions {names} into {region.name} "
            f"{region.range.describe()}")
    return region

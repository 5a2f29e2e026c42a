"""A disk image's layout in the terms of the one layout model (:mod:`bootproof.builder.layout`).

:meth:`DiskLayout.to_model() <bootproof.builder.disk.image.DiskLayout.to_model>` calls
:func:`disk_model`. Target ``disk``; its spaces and items:

* ``disk`` (512-byte sectors, the whole disk) holds the partition table and the
  partitions:

  - DOS label: ``mbr`` (sector 0) and, with logical partitions, ``ebr N`` (the extended
    boot record in the sector right after the partition before logical partition ``N``);
  - GPT: ``gpt primary`` (protective MBR, header, entry array: sectors 0-33) and
    ``gpt backup`` (entry array and header: the last 33 sectors);
  - ``partition N`` (kind ``partition``), attrs ``role``, ``fs``, ``label``, ``fs_id``,
    ``device`` (when known) and ``content_bytes``; ``source`` the rootfs archive.

  Items of kind ``table`` hold the label's records (no container item: the extended
  partition is attr ``extended`` of the disk space, ``start+sectors``).
* ``partitionN`` (bytes, no end: a filesystem places files where it likes) for each
  partition whose files are known (the boot partition): one item per file (kind ``file``,
  ``start`` None, ``size`` its bytes, named by its path in the partition); the partition's
  size is the space's attr ``bytes``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from bootproof.builder.formats import partitions as pt
from bootproof.builder.layout.model import AttrValue, Item, Layout, Space

SECTOR = pt.SECTOR


class PartitionLike(Protocol):
    """What :func:`disk_model` reads of a :class:`~bootproof.builder.disk.image.
    PartitionLayout` (a protocol: ``image`` imports this module)."""

    @property
    def number(self) -> int: ...
    @property
    def role(self) -> str: ...
    @property
    def fs(self) -> str: ...
    @property
    def start_lba(self) -> int: ...
    @property
    def sectors(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def label(self) -> str: ...
    @property
    def fs_id(self) -> str: ...
    @property
    def device(self) -> str | None: ...
    @property
    def content_bytes(self) -> int: ...
    @property
    def source(self) -> str | None: ...
    @property
    def files(self) -> tuple[tuple[str, int], ...]: ...


class DiskLayoutLike(Protocol):
    """What :func:`disk_model` reads of a :class:`~bootproof.builder.disk.image.DiskLayout`."""

    @property
    def image(self) -> str: ...
    @property
    def scheme(self) -> str: ...
    @property
    def size_bytes(self) -> int: ...
    @property
    def disk_id(self) -> str: ...
    @property
    def partitions(self) -> Sequence[PartitionLike]: ...
    def to_json(self) -> dict[str, Any]: ...


def _table_items(lay: DiskLayoutLike, sectors: int) -> tuple[list[Item], dict[str, AttrValue]]:
    attrs: dict[str, AttrValue] = {}
    if lay.scheme == pt.Scheme.GPT.value:
        array = pt.GPT_ARRAY_SECTORS
        return [Item("table", "gpt primary", 0, 2 + array),
                Item("table", "gpt backup", sectors - 1 - array, 1 + array)], attrs
    items = [Item("table", "mbr", 0, 1)]
    parts = lay.partitions
    if len(parts) > pt.MBR_MAX_PRIMARY:
        logical = parts[3:]
        ebrs = [p.start_lba + p.sectors for p in parts[2:-1]]
        items += [Item("table", f"ebr {p.number}", e, 1)
                  for e, p in zip(ebrs, logical, strict=True)]
        end = logical[-1].start_lba + logical[-1].sectors
        attrs["extended"] = f"{ebrs[0]}+{end - ebrs[0]}"
    return items, attrs


def disk_model(lay: DiskLayoutLike, *, sha256: Mapping[str, str] | None = None) -> Layout:
    """``lay`` as a :class:`~bootproof.builder.layout.model.Layout` (see the module
    docstring). ``sha256`` maps a boot-partition file's path to its digest, when known.
    The ``--json`` document of earlier versions stays whole under ``detail``."""
    digests = sha256 or {}
    sectors = lay.size_bytes // SECTOR
    items, disk_attrs = _table_items(lay, sectors)
    for p in lay.partitions:
        attrs: dict[str, AttrValue] = {"role": p.role, "fs": p.fs, "label": p.label,
                                       "fs_id": p.fs_id, "content_bytes": p.content_bytes}
        if p.device is not None:
            attrs["device"] = p.device
        items.append(Item("partition", f"partition {p.number}", p.start_lba, p.sectors,
                          source=p.source, attrs=attrs))
    disk_attrs.update({"scheme": lay.scheme, "disk_id": lay.disk_id, "image": lay.image})
    spaces = [Space("disk", "sector", 0, sectors, tuple(items), disk_attrs)]
    for p in lay.partitions:
        if p.files:
            spaces.append(Space(f"partition{p.number}", "byte", 0, None, tuple(
                Item("file", path, None, size, sha256=digests.get(path))
                for path, size in p.files), {"bytes": p.size, "fs": p.fs}))
    return Layout("disk", tuple(spaces), detail=lay.to_json())

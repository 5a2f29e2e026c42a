"""A planned Xen (or plain Linux) boot in the terms of the one layout model
(:mod:`bootproof.builder.layout`).

:meth:`XenLayout.to_model() <bootproof.builder.xen.plan.XenLayout.to_model>` calls
:func:`xen_model`. Target ``xen``; one space, ``ram`` (bytes, ``MEMORY_START`` to
``MEMORY_END``), holding

* ``script`` (kind ``script``): the boot script's slot, ``ADDRESS_ALIGN`` bytes;
* one item per module, kind = its role (``dom0-kernel``, ``domU-kernel``, ``dtb``,
  ``xen``...), named by the role with the domU's index for a domU's (``domU1-kernel``,
  ``domU1-ramdisk``, ``domU1-dtb``) and the overlay's place for an overlay (``overlay0``);
  ``size`` the RAM it occupies (a DTB's includes the room its ``fdt resize`` needs; the
  ``reg`` size is then attr ``reg_size``), ``align`` ``ADDRESS_ALIGN``, ``source`` the file
  as the config names it; attrs ``dt_node``, ``fit_name``, ``domu``;
* ``fit`` (kind ``fit``) in FIT mode: the room planned for the FIT blob (its real size as
  attr ``bytes`` when the blob is known);
* every reserved region the planner kept clear (kind ``reserved``): ``/reserved-memory``
  nodes and ``/memreserve/`` entries by their DT name, ``XEN_STATIC_HEAP``,
  ``DOMU_STATIC_MEM[i]`` and ``DOMU_SHARED_MEM[i]`` (a label that repeats gets `` #2``...).

``sha256`` is given for what the generator holds in memory anyway (``outputs``: the edited
DTB, ``xen.ub``, ``boot.scr``, the FIT), never by reading a module file a second time. With
``-s`` (``calc``) U-Boot places the files at boot: the modules have no address (``start``
None) and their size is the planner's placeholder (attr ``placeholder``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from bootproof.builder.layout import AddressRange
from bootproof.builder.layout.model import AttrValue, Item, Layout, Space, unique_names


class ModuleLike(Protocol):
    """What :func:`xen_model` reads of a :class:`~bootproof.builder.xen.plan.Module` (a
    protocol: ``plan`` imports this module)."""

    @property
    def role(self) -> str: ...
    @property
    def file(self) -> str: ...
    @property
    def addr(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def span(self) -> int: ...
    @property
    def domu(self) -> int | None: ...
    @property
    def dt_node(self) -> str | None: ...
    @property
    def fit_name(self) -> str | None: ...


class XenLayoutLike(Protocol):
    """What :func:`xen_model` reads of a :class:`~bootproof.builder.xen.plan.XenLayout`."""

    @property
    def memory_start(self) -> int: ...
    @property
    def memory_end(self) -> int: ...
    @property
    def align(self) -> int: ...
    @property
    def script_addr(self) -> int: ...
    @property
    def modules(self) -> Sequence[ModuleLike]: ...
    @property
    def fit_addr(self) -> int | None: ...
    @property
    def fit_room(self) -> int: ...
    @property
    def reserved(self) -> tuple[tuple[AddressRange, str], ...]: ...
    @property
    def calc(self) -> bool: ...
    @property
    def overlay_mode(self) -> str: ...
    def map_document(self) -> dict[str, Any]: ...


def module_name(m: ModuleLike, overlay_index: int | None = None) -> str:
    """The item name of module ``m`` (see the module docstring)."""
    if m.domu is not None and m.role.startswith("domU-"):
        return f"domU{m.domu}-{m.role[5:]}"
    if m.role == "overlay":
        return f"overlay{overlay_index if overlay_index is not None else ''}"
    return m.role


def _sha(outputs: Mapping[str, bytes], name: str | None) -> str | None:
    data = outputs.get(name) if name is not None else None
    return None if data is None else hashlib.sha256(data).hexdigest()


def xen_model(lay: XenLayoutLike, *, outputs: Mapping[str, bytes] | None = None,
              script: str | None = None, fit: str | None = None) -> Layout:
    """``lay`` as a :class:`~bootproof.builder.layout.model.Layout` (see the module
    docstring). ``outputs``: the generated files by name (for sha256); ``script`` and
    ``fit``: the names of the script and FIT outputs. The ``--map`` document of earlier
    versions stays whole under ``detail``."""
    outs = outputs or {}
    a = lay.align
    items = [Item("script", "script", lay.script_addr, a, a, source=script,
                  sha256=_sha(outs, script))]
    overlays = 0
    names: list[str] = []
    for m in lay.modules:
        names.append(module_name(m, overlays if m.role == "overlay" else None))
        overlays += m.role == "overlay"
    for name, m in zip(unique_names(names), lay.modules, strict=True):
        attrs: dict[str, AttrValue] = {}
        if m.dt_node:
            attrs["dt_node"] = m.dt_node
        if m.fit_name:
            attrs["fit_name"] = m.fit_name
        if m.domu is not None:
            attrs["domu"] = m.domu
        if m.span != m.size:
            attrs["reg_size"] = m.size
        if lay.calc:
            attrs["placeholder"] = True
        items.append(Item(m.role, name, None if lay.calc else m.addr, m.span, a,
                          source=m.file, sha256=_sha(outs, m.file), attrs=attrs))
    if lay.fit_addr is not None:
        room = lay.fit_room
        blob = outs.get(fit) if fit is not None else None
        items.append(Item("fit", "fit", lay.fit_addr, room, a, source=fit,
                          sha256=_sha(outs, fit),
                          attrs={} if blob is None else {"bytes": len(blob)}))
    labels = unique_names(label for _, label in lay.reserved)
    items += [Item("reserved", label, r.start, r.size)
              for label, (r, _) in zip(labels, lay.reserved, strict=True)]
    space_attrs: dict[str, AttrValue] = {"overlay_mode": lay.overlay_mode, "calc": lay.calc}
    ram = Space("ram", "byte", lay.memory_start, lay.memory_end - lay.memory_start,
                tuple(items), space_attrs)
    return Layout("xen", (ram,), detail=lay.map_document())

"""Read a layout file of any target and of any version this project wrote.

* the layout document (``"format": "bootproof-layout"``), read as it is (a newer version
  than this bootproof reads is refused, naming it);
* the documents earlier versions wrote, converted as their builder converts them today:
  the Xous map (``"format": "xous-args"``, also ``xous inspect --json``), the Xen map
  (``memory_start`` ... ``modules``, from ``uboot-script-gen --map``) and the disk layout
  (``scheme`` ... ``partitions``, from ``disk_image --json``). They carry less than the
  document written now: no sha256 anywhere, no reserved regions in a Xen map.

:func:`read_layout` takes a path, :func:`layout_from_data` the parsed JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from bootproof.builder.disk.image import DiskLayout, PartitionLayout
from bootproof.builder.errors import FormatError
from bootproof.builder.fileio import read_json
from bootproof.builder.layout.model import FORMAT, VERSION, Layout
from bootproof.builder.xen.plan import Module, XenLayout
from bootproof.builder.xous.layout import JSON_FORMAT, XousLayout


def read_layout(path: str | Path) -> Layout:
    """The layout in the JSON file ``path`` (see the module docstring). Raises InputError
    when it cannot be read, FormatError naming the file when it is not one of them."""
    p = Path(path)
    return layout_from_data(read_json(p, "the layout file"), path=str(p))


def layout_from_data(data: object, *, path: str | None = None) -> Layout:
    """The layout ``data`` (parsed JSON) describes; FormatError naming ``path`` otherwise."""
    if not isinstance(data, Mapping):
        raise FormatError("not a layout: the JSON is not an object", path=path,
                          field="document", value=type(data).__name__)
    if data.get("format") == FORMAT:
        return Layout.from_json(data, path=path)
    try:
        if data.get("format") == JSON_FORMAT:
            return XousLayout.from_json(data, path=path).to_model()
        if "memory_start" in data and "modules" in data:
            return xen_from_map(data).to_model()
        if "scheme" in data and "partitions" in data:
            return disk_from_json(data).to_model()
    except FormatError as exc:
        exc.path = exc.path or path
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise FormatError(f"malformed layout of an earlier version ({exc!r})",
                          path=path) from exc
    raise FormatError(f"not a layout: no \"format\": {FORMAT!r} (version {VERSION}), nor the "
                      "Xous, Xen or disk layout of an earlier version", path=path,
                      field="format", value=data.get("format"))


def _pick(cls: type[Any], data: Mapping[str, Any]) -> dict[str, Any]:
    return {f.name: data[f.name] for f in fields(cls) if f.name in data}


def xen_from_map(doc: Mapping[str, Any]) -> XenLayout:
    """The :class:`XenLayout` an earlier ``--map`` (now the detail) describes (no reserved
    regions: that map did not list them). KeyError/TypeError on a malformed one."""
    domids = {int(k.removeprefix("domU")): int(v) for k, v in doc.get("domids", {}).items()}
    return XenLayout(
        memory_start=int(doc["memory_start"]), memory_end=int(doc["memory_end"]),
        align=int(doc["align"]), script_addr=int(doc["script_addr"]),
        modules=tuple(Module(**_pick(Module, m)) for m in doc["modules"]),
        end=int(doc["end"]), fit_addr=doc.get("fit_addr"),
        dtb_extra=int(doc.get("dtb_extra", 0)), domids=domids,
        overlay_mode=str(doc.get("overlay_mode", "none")), calc=bool(doc.get("calc", False)))


def disk_from_json(doc: Mapping[str, Any]) -> DiskLayout:
    """The :class:`DiskLayout` an earlier ``--json`` (now the detail) describes."""
    parts = []
    for p in doc["partitions"]:
        files = tuple((str(f["path"]), int(f["size"])) for f in p.get("files", []))
        parts.append(PartitionLayout(**{**_pick(PartitionLayout, p), "files": files}))
    return DiskLayout(
        image=str(doc["image"]), scheme=str(doc["scheme"]), size_bytes=int(doc["size_bytes"]),
        disk_id=str(doc["disk_id"]), partitions=tuple(parts),
        xl_configs=tuple(doc.get("xl_configs", ())), warnings=tuple(doc.get("warnings", ())))

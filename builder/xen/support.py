"""Which Xen release reads each dom0less property the script can write.

ImageBuilder writes what the config asks for, whatever the Xen it boots; so does
``uboot-script-gen``. :func:`xen_notes` adds one line per variable whose property the target
Xen (:data:`TARGET_XEN`, the release the harness boots) ignores, naming the release that
reads it (``docs/misc/arm/device-tree/booting.txt`` history in xen-project/xen; see
``docs/xen-script.md``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from bootproof.builder.xen.fdtcmd import Edit, SetProp

#: The Xen release bootproof boots (Debian 12's, and the one built from its source).
TARGET_XEN = "4.17"

#: Property name -> (first Xen release that reads it, None: none does; the variable).
SINCE: Mapping[str, tuple[str | None, str]] = MappingProxyType({
    "max_grant_version": ("4.18", "DOMU_GRANT_VER"),
    "max_grant_frames": ("4.18", "DOMU_GRANT_FRAMES"),
    "max_maptrack_frames": ("4.18", "DOMU_MAPTRACK_FRAMES"),
    "passthrough": ("4.19", "DOMU_PASSTHROUGH_PROP"),
    "capabilities": ("4.21", "DOMU_CAPS"),
    "trap-unmapped-accesses": ("4.21", "DOMU_TRAP_UNMAP"),
    "hard-affinity": ("4.21", "DOMU_VCPU_HARD_AFFINITY"),
    "domid": (None, "DOMU_DOMID"),
    "colors": (None, "DOMU_COLORS"),  # upstream Xen 4.20 reads llc-colors instead
})
#: A shared-memory node without a host address (``shared-mem-ID``): read from Xen 4.19.
SHM_WITHOUT_HOST = ("4.19", "DOMU_SHARED_MEM")

_DOMU = re.compile(r"/chosen/domU(\d+)(/|$)")


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def _needs(edit: SetProp) -> tuple[str | None, str] | None:
    if edit.name == "xen,shared-mem" and "/shared-mem-" in edit.path:
        return SHM_WITHOUT_HOST
    return SINCE.get(edit.name)


def xen_notes(edits: Iterable[Edit], target: str = TARGET_XEN) -> list[str]:
    """One line per variable whose property ``target`` ignores, e.g.
    ``DOMU_TRAP_UNMAP[0,1]: trap-unmapped-accesses is read by Xen 4.21 and later; Xen 4.17
    does not honour it``. Raises :class:`ValueError` for a ``target`` that is not ``N.M``."""
    want = _version(target)
    found: dict[tuple[str, str, str | None], list[str]] = {}
    for e in edits:
        if not isinstance(e, SetProp):
            continue
        need = _needs(e)
        if need is None or (need[0] is not None and _version(need[0]) <= want):
            continue
        m = _DOMU.match(e.path)
        found.setdefault((need[1], e.name, need[0]), [])
        if m is not None and m.group(1) not in found[(need[1], e.name, need[0])]:
            found[(need[1], e.name, need[0])].append(m.group(1))
    out = []
    for (var, prop, since), domus in found.items():
        who = f"{var}[{','.join(sorted(domus, key=int))}]" if domus else var
        when = f"is read by Xen {since} and later" if since else "is read by no Xen release"
        if prop == "xen,shared-mem":
            prop = "shared memory without a host address"
        out.append(f"{who}: {prop} {when}; Xen {target} does not honour it")
    return out

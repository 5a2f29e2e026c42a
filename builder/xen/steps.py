"""The records the Xen generator's pipeline (:mod:`bootproof.builder.xen.generator`) passes
along: the options of a run, what step 1 (the settings) and step 4 (the placement) hand on
to the later steps, and the result of the whole run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bootproof.builder.xen import fdtcmd
from bootproof.builder.xen.plan import XenLayout
from bootproof.builder.xen.script import LoadLine
from bootproof.builder.xen.support import TARGET_XEN


@dataclass(frozen=True)
class GenerateOptions:
    """Options beyond the config. ``merge_overlays`` None means the config's
    ``DT_OVERLAY_MODE`` (default: apply at boot, as the reference does). ``calc`` is
    ``-s``: U-Boot computes load addresses and sizes at boot. ``target_xen`` is the Xen
    release the notes about properties it ignores are written for."""

    prefix: str | None = None
    map_file: Path | None = None
    svg_file: Path | None = None
    merge_overlays: bool | None = None
    env: Mapping[str, str] | None = None
    mkimage: str = "mkimage"
    fdtoverlay: str = "fdtoverlay"
    calc: bool = False
    target_xen: str = TARGET_XEN


@dataclass(frozen=True)
class GenerateResult:
    """What was generated: the layout, the script text, the edits, the files written, the
    line to type at U-Boot's prompt (``load_line``) and the messages for the user."""

    layout: XenLayout
    source: str
    edits: tuple[fdtcmd.Edit, ...]
    written: tuple[Path, ...]
    load_line: LoadLine
    hints: tuple[str, ...]
    notes: tuple[str, ...]
    warnings: tuple[str, ...]
    xen_notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Required:
    """Step 1: the settings every run needs, known to be set. ``load_cmd`` loads the
    script (``LOAD_CMD``, else ``XEN_LOAD``); ``device_tree`` is None with ``-s`` when
    U-Boot's own control DTB is edited."""

    load_cmd: str
    uboot_source: str
    uboot_script: str
    device_tree: str | None


@dataclass(frozen=True)
class Placement:
    """Step 4: the settled layout, its DT edits and the offline copy with them applied."""

    layout: XenLayout
    edits: tuple[fdtcmd.Edit, ...]
    edited_dtb: bytes | None

"""The host DTB of a dom0less boot: the blob the script loads and the trees edits start from.

DT overlays are either applied by U-Boot at boot (``fdt apply``, the reference's way) or
merged offline with ``fdtoverlay`` into a DTB the script loads instead
(``--merge-overlays``, ``DT_OVERLAY_MODE=merge``, and always in FIT mode, where the FIT
carries an edited copy). ``FDTEDIT`` and FIT mode also need an *offline* tree: the board's
DTB as it will be once the script's edits are applied, written as a file.
"""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bootproof.builder.formats.fdt import DeviceTree
from bootproof.builder.tools import run_tool
from bootproof.builder.xen import fdtcmd
from bootproof.builder.xen.config import ImageBuilderConfig


@dataclass(frozen=True)
class HostDtb:
    """The DTB the script loads, and the trees the edits start from.

    ``board`` is the DTB as given (its ``/memory`` and reserved ranges); ``tree`` and
    ``data`` the DTB loaded at boot (the board's, or with the overlays merged); ``file`` its
    name; ``offline`` the tree the FDTEDIT/FIT copy is edited from (None: no copy);
    ``outputs`` a merged DTB the script loads, to be written; ``notes`` say where the
    overlays went.
    """

    board: DeviceTree
    tree: DeviceTree
    data: bytes
    file: str
    overlays_at_boot: bool
    offline: DeviceTree | None
    outputs: Mapping[str, bytes]
    notes: tuple[str, ...]

    @property
    def content_size(self) -> int:
        """Where the blob's strings block ends: the bytes U-Boot keeps after ``fdt resize``."""
        (off_strings,) = struct.unpack_from(">I", self.data, 12)
        (size_strings,) = struct.unpack_from(">I", self.data, 32)
        return int(off_strings + size_strings)


def _merge_overlays(base: Path, overlays: Sequence[Path], tool: str) -> bytes:
    """``fdtoverlay`` run in a private directory: the inputs go to it as absolute paths
    (a ``-d`` typed relative to the caller's working directory means nothing there)."""
    with tempfile.TemporaryDirectory(prefix="bootproof-ovl-") as tmp:
        out = Path(tmp) / "merged.dtb"
        run_tool([tool, "-i", str(base.resolve()), "-o", str(out),
                  *(str(o.resolve()) for o in overlays)], cwd=Path(tmp))
        return out.read_bytes()


def _stem(path: str) -> str:
    return path[: -len(".dtb")] if path.endswith(".dtb") else path


def load_host_dtb(cfg: ImageBuilderConfig, root: Path, *, merge_overlays: bool | None,
                  fdtoverlay: str = "fdtoverlay") -> HostDtb:
    """Read ``DEVICE_TREE`` under ``root`` and decide where the DT overlays go.

    ``merge_overlays`` None means the config's ``DT_OVERLAY_MODE``. Raises
    :class:`~bootproof.builder.errors.FormatError` for a DTB that does not parse and
    :class:`~bootproof.builder.errors.ToolError` when fdtoverlay fails.
    """
    assert cfg.device_tree is not None
    fit = cfg.fit is not None
    dtb_path = root / cfg.device_tree
    board = DeviceTree.load(dtb_path)
    merge = bool(merge_overlays) if merge_overlays is not None else \
        cfg.overlay_mode == "merge"
    overlays = [root / o for o in cfg.dt_overlays]
    overlays_at_boot = bool(cfg.dt_overlays) and not merge and not fit
    tree, data, dtb_file = board, dtb_path.read_bytes(), cfg.device_tree
    outputs: dict[str, bytes] = {}
    notes: list[str] = []
    if cfg.dt_overlays and not overlays_at_boot:
        data = _merge_overlays(dtb_path, overlays, fdtoverlay)
        tree = DeviceTree.from_bytes(data, path="merged overlays")
        if not fit:
            dtb_file = f"{_stem(cfg.device_tree)}-overlays.dtb"
            outputs[dtb_file] = data
            notes.append(f"DT overlays: merged offline into {dtb_file}, which the script "
                         "loads (no 'fdt apply' needed)")
        else:
            notes.append("DT overlays: merged offline into the FIT's host_fdt")
    elif overlays_at_boot:
        notes.append("DT overlays: applied at boot with 'fdt apply' (needs a U-Boot with "
                     "CONFIG_OF_LIBFDT_OVERLAY; Debian's 2023.01 lacks it: use "
                     "--merge-overlays)")
    offline: DeviceTree | None = None
    if fit or cfg.fdtedit:
        offline = tree
        if overlays_at_boot:  # the offline copy shows what the board ends up with
            offline = DeviceTree.from_bytes(_merge_overlays(dtb_path, overlays, fdtoverlay))
    return HostDtb(board, tree, data, dtb_file, overlays_at_boot, offline, outputs,
                   tuple(notes))


def edited_dtb(offline: DeviceTree | None, edits: Sequence[fdtcmd.Edit]) -> bytes | None:
    """A copy of ``offline`` with ``edits`` applied, as bytes (None without an offline
    tree). ``offline`` itself is not changed."""
    if offline is None:
        return None
    edited = offline.copy()
    fdtcmd.apply(edited, edits)
    return edited.to_bytes()

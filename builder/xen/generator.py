"""Generate a dom0less boot: the I/O around the pure planner and renderers.

:func:`generate` is the Python API behind ``uboot-script-gen``. It runs one pipeline of
named steps; each is a function of this module that can be called and tested alone, and
each takes what the steps before it returned:

1. :func:`check_config` -- read and validate: the settings every run needs are set, the
   FIT signing options agree, the ``-p`` prefix is safe in a U-Boot line;
2. :func:`check_inputs` -- every file the config names exists and is of the right kind;
   their sizes (and an arm64 Image's ``image_size``);
3. :func:`~bootproof.builder.xen.host_dtb.load_host_dtb` -- the board DTB the script
   loads and edits, with the DT overlays merged offline when they are not applied at boot;
4. :func:`place` -- plan: place every module and build the ``/chosen`` edits
   (:func:`~bootproof.builder.xen.dt_edits.build_edits`) until both settle, since the
   room the edits need in the DTB can move what follows it; the edits are replayed on the
   offline copy (``FDTEDIT``, the FIT's DTB) with
   :func:`~bootproof.builder.xen.host_dtb.edited_dtb`;
5. :func:`script_text` -- the ``boot.source`` text;
6. :func:`build_outputs` -- every output's bytes (``boot.source``, ``boot.scr`` or the FIT and
   its ``.its``, ``xen.ub`` for bootm, the FDTEDIT copy, the merged DTB), then
   :func:`write_outputs` -- refuse to overwrite an input, write them and the ``--map``
   layout through one :class:`~bootproof.builder.fileio.OutputSet`;
7. :func:`load_line` and :func:`hints` -- the line to type at U-Boot's prompt, as data, and
   the reference's hint text around it.

Every check is done before anything is written, so a failure leaves nothing behind. No
subprocess runs on the default path; ``fdtoverlay`` runs only to merge overlays offline and
``mkimage`` only in FIT mode (:mod:`~bootproof.builder.xen.fit_image`).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bootproof.builder.errors import ConfigError, LayoutError
from bootproof.builder.fileio import OutputSet
from bootproof.builder.formats import uimage
from bootproof.builder.reproducible import source_date_epoch
from bootproof.builder.xen import fdtcmd
from bootproof.builder.xen.config import ImageBuilderConfig, Region, check_files, check_script_path
from bootproof.builder.xen.dt_edits import build_edits
from bootproof.builder.xen.fit_image import build_fit
from bootproof.builder.xen.host_dtb import HostDtb, edited_dtb, load_host_dtb
from bootproof.builder.xen.plan import FileInfo, XenLayout, plan
from bootproof.builder.xen.script import (
    LoadLine,
    ScriptOptions,
    prefixed,
    render_script,
    resize_bytes,
)


@dataclass(frozen=True)
class GenerateOptions:
    """Options beyond the config. ``merge_overlays`` None means the config's
    ``DT_OVERLAY_MODE`` (default: apply at boot, as the reference does)."""

    prefix: str | None = None
    map_file: Path | None = None
    merge_overlays: bool | None = None
    env: Mapping[str, str] | None = None
    mkimage: str = "mkimage"
    fdtoverlay: str = "fdtoverlay"


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


@dataclass(frozen=True)
class Required:
    """Step 1: the settings every run needs, known to be set."""

    load_cmd: str
    uboot_source: str
    uboot_script: str
    device_tree: str


@dataclass(frozen=True)
class Placement:
    """Step 4: the settled layout, its DT edits and the offline copy with them applied."""

    layout: XenLayout
    edits: tuple[fdtcmd.Edit, ...]
    edited_dtb: bytes | None


def arm64_image_size(path: Path) -> int:
    """``image_size`` from an arm64 Image header (0 if the file is not one)."""
    with open(path, "rb") as fh:
        head = fh.read(64)
    if len(head) < 64 or head[56:60] != b"ARM\x64":
        return 0
    return int(struct.unpack_from("<Q", head, 16)[0])


def check_config(cfg: ImageBuilderConfig, opts: GenerateOptions) -> Required:
    """Step 1: the settings a run needs, and options that only make sense together.

    Raises :class:`ConfigError` naming the variable (LOAD_CMD, UBOOT_SOURCE, XEN/LINUX,
    DEVICE_TREE, PASSTHROUGH_DTS_REPO/LOPPER_PATH, FIT signing) and
    :class:`~bootproof.builder.errors.InputError` for a ``-p`` prefix U-Boot would split.
    """
    if not cfg.load_cmd:
        raise ConfigError("LOAD_CMD is not set (set it in the config or pass -t)",
                          path=cfg.path, field="LOAD_CMD")
    if not cfg.uboot_source or not cfg.uboot_script:
        raise ConfigError("UBOOT_SOURCE and UBOOT_SCRIPT must be set (or pass -o NAME)",
                          path=cfg.path, field="UBOOT_SOURCE")
    if not cfg.xen_mode and cfg.linux is None:
        raise ConfigError("neither XEN nor LINUX is set: nothing to boot", path=cfg.path,
                          field="XEN")
    if cfg.device_tree is None:
        raise ConfigError("DEVICE_TREE is not set", path=cfg.path, field="DEVICE_TREE")
    if cfg.passthrough_dts_repo is not None or cfg.lopper_path is not None:
        field = "PASSTHROUGH_DTS_REPO" if cfg.passthrough_dts_repo else "LOPPER_PATH"
        raise ConfigError("building partial DTBs from a repository or with lopper is not "
                          "supported: build them beforehand and use DOMU_PASSTHROUGH_DTB",
                          path=cfg.path, field=field)
    if cfg.fit_enc_ub_dtb and not cfg.fit_enc_key_dir:
        raise ConfigError("-u needs -k (a key to put into the U-Boot DTB)", path=cfg.path,
                          field="FIT_ENC_UB_DTB", value=cfg.fit_enc_ub_dtb)
    if cfg.fit_enc_key_dir and not cfg.fit:
        raise ConfigError("signing (-k) needs FIT mode (-f)", path=cfg.path,
                          field="FIT_ENC_KEY_DIR", value=cfg.fit_enc_key_dir)
    if opts.prefix:
        check_script_path(opts.prefix, field="-p", what="a path prefix")
    return Required(cfg.load_cmd, cfg.uboot_source, cfg.uboot_script, cfg.device_tree)


def check_inputs(cfg: ImageBuilderConfig, root: Path) -> dict[str, FileInfo]:
    """Step 2: every input file the config names (see
    :func:`~bootproof.builder.xen.config.check_files`), by config path, with what the
    planner needs to know about it. Raises :class:`~bootproof.builder.errors.InputError`."""
    checked = check_files(cfg, root)
    return {rel: FileInfo(size, arm64_image_size(root / rel)
                          if checked.kinds[rel] == "arm64-image" else 0)
            for rel, size in checked.sizes.items()}


def xen_load_name(cfg: ImageBuilderConfig) -> str | None:
    """The Xen file the script loads: ``XEN.ub`` (a uImage made here) for ``bootm``."""
    if cfg.xen_mode and cfg.boot_cmd == "bootm" and cfg.xen is not None:
        return f"{cfg.xen}.ub"
    return cfg.xen


def place(cfg: ImageBuilderConfig, files: Mapping[str, FileInfo], base: HostDtb) -> Placement:
    """Step 4: plan the layout and build its DT edits until both settle.

    Pass 1 measures the edits; pass 2 places the DTB with the room they need (and, in FIT
    mode, plans with the edited copy the FIT carries). Modules before the DTB do not move
    between passes, so the edits (which name only those) settle at once; the loop is a
    guard. Raises :class:`~bootproof.builder.errors.LayoutError` (and its subclasses) when
    the layout does not fit or does not settle, :class:`ConfigError` from the planner.
    """
    fit = cfg.fit is not None
    known = dict(files)
    known[base.file] = FileInfo(len(base.data), 0, base.content_size)
    xen_file = xen_load_name(cfg)
    if xen_file is not None and cfg.xen is not None and xen_file != cfg.xen:
        known[xen_file] = FileInfo(known[cfg.xen].size + uimage.HEADER.size)
    ram = [Region(r.base, r.size) for r in base.board.memory()]
    reserved = [(Region(r.base, r.size), r.source) for r in base.board.reserved()]
    overlay_sizes = ([known[o].size for o in cfg.dt_overlays] if base.overlays_at_boot
                     else [])

    def plan_with(extra: int, dtb_file: str,
                  dtb_info: FileInfo) -> tuple[XenLayout, list[fdtcmd.Edit]]:
        lay = plan(cfg, {**known, dtb_file: dtb_info}, ram=ram, reserved=reserved, fit=fit,
                   dtb_extra=extra, xen_file=xen_file, dtb_file=dtb_file,
                   overlays_loaded=base.overlays_at_boot)
        return lay, build_edits(cfg, lay, base.tree)

    dtb_file, dtb_info = base.file, known[base.file]
    layout, edits = plan_with(0, dtb_file, dtb_info)
    for _ in range(3):
        extra = resize_bytes(fdtcmd.growth(edits), overlay_sizes)
        edited = edited_dtb(base.offline, edits)
        if fit:
            assert cfg.fdtedit is not None and edited is not None
            dtb_file, dtb_info = cfg.fdtedit, FileInfo(len(edited), 0, len(edited))
        layout, new_edits = plan_with(extra, dtb_file, dtb_info)
        if new_edits == edits:
            return Placement(layout, tuple(edits), edited)
        edits = new_edits
    raise LayoutError("the layout does not settle (DT edits keep moving modules)")


def script_text(cfg: ImageBuilderConfig, root: Path, req: Required, placed: Placement,
                opts: GenerateOptions) -> str:
    """Step 5: the ``boot.source`` text (loads, DT edits, APPEND_EXTRA_CMDS, boot)."""
    extra_cmds = None
    if cfg.append_extra_cmds:
        extra_cmds = (root / cfg.append_extra_cmds).read_text(encoding="ascii")
    sopts = ScriptOptions(load_cmd=req.load_cmd, boot_cmd=cfg.boot_cmd, prefix=opts.prefix,
                          fit=cfg.fit is not None, extra_cmds=extra_cmds,
                          xen_mode=cfg.xen_mode)
    return render_script(placed.layout, placed.edits, sopts)


def _add_output(outputs: dict[str, bytes], cfg: ImageBuilderConfig, name: str | None,
                data: bytes) -> None:
    """Add output ``name``; two outputs under one name would silently lose one of them."""
    assert name is not None
    if name in outputs:
        raise ConfigError("two outputs would be the same file: choose different names",
                          path=cfg.path, field="output", value=name)
    outputs[name] = data


def build_outputs(cfg: ImageBuilderConfig, root: Path, req: Required, base: HostDtb,
                  placed: Placement, source: str, opts: GenerateOptions) -> dict[str, bytes]:
    """Step 6: every output's bytes by name (relative to ``root``, or absolute): the merged
    DTB, ``boot.source``, ``xen.ub`` for bootm, the FDTEDIT copy, then ``boot.scr`` (a
    uImage script) or the FIT and its ``.its``.

    Raises :class:`ConfigError` when two outputs share a name, :class:`~bootproof.builder.
    errors.InputError` for a bad ``-k`` and :class:`~bootproof.builder.errors.ToolError`
    when mkimage fails.
    """
    layout = placed.layout
    timestamp = source_date_epoch(opts.env)
    outputs: dict[str, bytes] = dict(base.outputs)
    _add_output(outputs, cfg, req.uboot_source, source.encode())
    xen_file = xen_load_name(cfg)
    if xen_file is not None and xen_file != cfg.xen:
        xm = layout.find("xen")
        assert xm is not None and cfg.xen is not None
        xen_data = (root / cfg.xen).read_bytes()
        arch = uimage.ARCH_ARM64 if xen_data[56:60] == b"ARM\x64" else uimage.ARCH_ARM
        outputs[xen_file] = uimage.encode(xen_data, load=xm.addr, entry=xm.addr,
                                          image_type=uimage.TYPE_KERNEL, arch=arch,
                                          timestamp=timestamp)
    if cfg.fdtedit and placed.edited_dtb is not None:
        outputs[cfg.fdtedit] = placed.edited_dtb
    if cfg.fit is not None:
        for name, data in build_fit(cfg, layout, root, outputs, mkimage=opts.mkimage,
                                    timestamp=timestamp).items():
            _add_output(outputs, cfg, name, data)
    else:
        _add_output(outputs, cfg, req.uboot_script,
                    uimage.script_image(source.encode(), addr=layout.script_addr,
                                        timestamp=timestamp))
    return outputs


def _refuse_overwriting_inputs(cfg: ImageBuilderConfig, root: Path, inputs: Sequence[str],
                               outputs: Mapping[str, bytes], map_file: Path | None) -> None:
    """Raise :class:`ConfigError` if an output would replace an input (the config, a file it
    names, the APPEND_EXTRA_CMDS text). The ``-u`` DTB is the one input meant to change."""
    def key(p: Path) -> Path:
        return p.resolve()

    taken = {key(root / rel): rel for rel in inputs}
    taken[key(Path(cfg.path))] = cfg.path
    if cfg.append_extra_cmds:
        taken[key(root / cfg.append_extra_cmds)] = cfg.append_extra_cmds
    targets = [(rel, root / rel) for rel in outputs if rel != cfg.fit_enc_ub_dtb]
    if map_file is not None:
        targets.append((str(map_file), map_file))
    seen: set[Path] = set()
    for rel, path in targets:
        if key(path) in taken:
            raise ConfigError("an output would overwrite an input file: choose another name",
                              path=cfg.path, field="output", value=rel)
        if key(path) in seen:
            raise ConfigError("two outputs would be the same file: choose different names",
                              path=cfg.path, field="output", value=rel)
        seen.add(key(path))


def write_outputs(cfg: ImageBuilderConfig, root: Path, inputs: Sequence[str],
                  outputs: Mapping[str, bytes], layout: XenLayout,
                  map_file: Path | None) -> tuple[Path, ...]:
    """Step 6, writing: refuse an output that would replace one of ``inputs`` (or the
    config), then write every output and the ``--map`` layout (JSON) together: all of them
    or, on any error, none. Returns the paths written. Raises :class:`ConfigError`."""
    _refuse_overwriting_inputs(cfg, root, inputs, outputs, map_file)
    written: list[Path] = []
    with OutputSet() as out:
        for rel, data in outputs.items():
            p = Path(rel)
            written.append(out.write(p if p.is_absolute() else root / p, data))
        if map_file is not None:
            written.append(out.write(map_file, layout.to_json()))
    return tuple(written)


def load_line(cfg: ImageBuilderConfig, req: Required, layout: XenLayout,
              prefix: str | None) -> LoadLine:
    """Step 7: what to type at U-Boot's prompt: load the script (or the FIT, at its slot
    after the payload) and source it."""
    if cfg.fit is not None:
        assert layout.fit_addr is not None
        return LoadLine(req.load_cmd, layout.fit_addr, prefixed(cfg.fit, prefix), fit=True)
    return LoadLine(req.load_cmd, layout.script_addr, prefixed(req.uboot_script, prefix))


def hints(cfg: ImageBuilderConfig, req: Required, line: LoadLine) -> tuple[str, ...]:
    """Step 7: the two hint lines ``uboot-script-gen`` prints: what was generated and where
    it loads, then the load line."""
    if line.fit:
        head = (f"Generated FIT {cfg.fit} with script {req.uboot_source}, to be loaded at or "
                f"after address 0x{line.addr:x}:")
    else:
        head = (f"Generated uboot script {req.uboot_script}, to be loaded at address "
                f"0x{line.addr:X}:")
    return head, str(line)


def generate(cfg: ImageBuilderConfig, root: Path,
             options: GenerateOptions | None = None) -> GenerateResult:
    """Generate the boot script (and FIT, offline DTBs, map) for ``cfg`` under ``root``,
    step by step (see the module docstring).

    ``root`` is the ``-d`` directory: config paths and outputs are relative to it. ``root``
    and ``options.map_file`` may be relative to the working directory: they are made
    absolute here, once, so every tool run (fdtoverlay, mkimage) gets paths that are valid
    in its own working directory; the names written into the script, the .its and the map
    stay as the config gives them. Raises
    :class:`ConfigError`/:class:`~bootproof.builder.errors.InputError` for bad configs and inputs,
    :class:`~bootproof.builder.errors.LayoutError` when the layout does not fit, and
    :class:`~bootproof.builder.errors.ToolError` when fdtoverlay or mkimage fail; in every case
    nothing is written.
    """
    opts = options or GenerateOptions()
    root = Path(root).absolute()
    if opts.map_file is not None:
        opts = replace(opts, map_file=Path(opts.map_file).absolute())
    req = check_config(cfg, opts)
    files = check_inputs(cfg, root)
    base = load_host_dtb(cfg, root, merge_overlays=opts.merge_overlays,
                         fdtoverlay=opts.fdtoverlay)
    placed = place(cfg, files, base)
    source = script_text(cfg, root, req, placed, opts)
    outputs = build_outputs(cfg, root, req, base, placed, source, opts)
    written = write_outputs(cfg, root, list(files), outputs, placed.layout, opts.map_file)
    line = load_line(cfg, req, placed.layout, opts.prefix)
    return GenerateResult(placed.layout, source, placed.edits, written, line,
                          hints(cfg, req, line), base.notes, tuple(cfg.warnings))

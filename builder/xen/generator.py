"""Generate a dom0less boot: the I/O around the pure planner and renderers.

:func:`generate` is the Python API behind ``uboot-script-gen``. It runs one pipeline of
named steps; each is a function (of this module, or of
:mod:`~bootproof.builder.xen.outputs` for the outputs) that can be called and tested alone,
and each takes what the steps before it returned (the records of
:mod:`~bootproof.builder.xen.steps`):

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
6. :func:`~bootproof.builder.xen.outputs.build_outputs` -- every output's bytes
   (``boot.source``, ``boot.scr`` or the FIT and its ``.its``, ``xen.ub`` for bootm, the
   FDTEDIT copy, the merged DTB), then :func:`~bootproof.builder.xen.outputs.write_outputs`
   -- refuse to overwrite an input, write them and the ``--map`` layout through one
   :class:`~bootproof.builder.fileio.OutputSet`;
7. :func:`load_line` and :func:`hints` -- the line to type at U-Boot's prompt, as data, and
   the reference's hint text around it.

Every check is done before anything is written, so a failure leaves nothing behind. No
subprocess runs on the default path; ``fdtoverlay`` runs only to merge overlays offline and
``mkimage`` only in FIT mode (:mod:`~bootproof.builder.xen.fit_image`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from bootproof.builder.errors import ConfigError, LayoutError
from bootproof.builder.formats import executable, uimage
from bootproof.builder.xen import fdtcmd
from bootproof.builder.xen.config.files import check_files, check_script_path
from bootproof.builder.xen.config.model import ImageBuilderConfig
from bootproof.builder.xen.dt_edits import build_edits
from bootproof.builder.xen.host_dtb import HostDtb, edited_dtb, load_host_dtb
from bootproof.builder.xen.outputs import build_outputs, write_outputs, xen_load_name
from bootproof.builder.xen.passthrough import build_partial_dtbs
from bootproof.builder.xen.plan import FileInfo, XenLayout, plan
from bootproof.builder.xen.script import (
    LoadLine,
    ScriptOptions,
    prefixed,
    render_script,
    resize_bytes,
)
from bootproof.builder.xen.steps import GenerateOptions, GenerateResult, Placement, Required
from bootproof.builder.xen.support import xen_notes


def _header_image_size(path: Path) -> int:
    """``image_size`` from the arm64 Image header of ``path`` (0 if it is not one)."""
    with open(path, "rb") as fh:
        return executable.arm64_image_size(fh.read(executable.ARM64_HEADER_SIZE))


def _load_commands(cfg: ImageBuilderConfig) -> None:
    """Every image group has a load command: ``DOM0_LOAD``, each ``DOMU_LOAD[i]`` and
    ``XEN_LOAD`` fall back to ``LOAD_CMD``; checked in upstream's order and words, for
    every domU (NOBOOT too) and even without a dom0. Linux mode needs ``LOAD_CMD``; so do
    overlays, the bitstream and the XSM policy (upstream would write a line starting with
    a blank, which U-Boot cannot run). Raises :class:`ConfigError`."""
    load = cfg.load_cmd
    if not cfg.xen_mode:
        if not load:
            raise ConfigError("LOAD_CMD is not set (set it in the config or pass -t)",
                              path=cfg.path, field="LOAD_CMD")
        return
    if not (cfg.dom0_load or load):
        raise ConfigError("Neither DOM0_LOAD nor LOAD_CMD is specified", path=cfg.path,
                          field="LOAD_CMD")
    for d in cfg.domus:
        if not (d.load_cmd or load):
            raise ConfigError("Neither DOMU_LOAD[] nor LOAD_CMD is specified", path=cfg.path,
                              field=f"DOMU_LOAD[{d.index}]")
    if not (cfg.xen_load or load):
        raise ConfigError("Neither XEN_LOAD nor LOAD_CMD is specified", path=cfg.path,
                          field="LOAD_CMD")
    if not load:
        for var, value in (("DT_OVERLAY[0]", cfg.dt_overlays), ("BITSTREAM", cfg.bitstream),
                           ("XEN_POLICY", cfg.xen_policy)):
            if value:
                raise ConfigError("is loaded with LOAD_CMD, which is not set (XEN_LOAD, "
                                  "DOM0_LOAD and DOMU_LOAD cover only their own images)",
                                  path=cfg.path, field=var)


def _check_calc(cfg: ImageBuilderConfig) -> None:
    """What ``-s`` cannot do. Raises :class:`ConfigError`."""
    if cfg.boot_cmd == "bootm":
        raise ConfigError("bootm is not compatible with -s", path=cfg.path, field="BOOT_CMD",
                          value="bootm")
    for bad, field, why in (
        (cfg.fit is not None, "FIT", "a FIT holds its images at fixed addresses (upstream's "
                                     "FIT with -s loads nothing the script can find)"),
        (not cfg.xen_mode, "LINUX", "Linux mode writes linux,initrd-start/end, which -s "
                                    "cannot know (upstream writes placeholders)"),
        (cfg.fdtedit is not None, "FDTEDIT", "the offline DTB copy needs the addresses, which "
                                             "-s computes only at boot"),
    ):
        if bad:
            raise ConfigError(f"-s cannot be used with {field}: {why}", path=cfg.path,
                              field=field)
    if cfg.device_tree is None:
        for bad, field in ((bool(cfg.cpupools), "CPUPOOL"),
                           (cfg.overlay_mode == "merge" and bool(cfg.dt_overlays),
                            "DT_OVERLAY_MODE")):
            if bad:
                raise ConfigError("needs DEVICE_TREE, which -s without DEVICE_TREE does not "
                                  "read", path=cfg.path, field=field)


def check_config(cfg: ImageBuilderConfig, opts: GenerateOptions) -> Required:
    """Step 1: the settings a run needs, and options that only make sense together.

    ``UBOOT_SOURCE`` must be set (upstream's message); ``UBOOT_SCRIPT`` defaults to it
    with ``.source`` replaced by ``.scr``. ``DEVICE_TREE`` may be unset only with ``-s``.
    Raises :class:`ConfigError` naming the variable (load commands, UBOOT_SOURCE, XEN/LINUX,
    DEVICE_TREE, PASSTHROUGH_DTS_REPO/LOPPER_PATH, FIT signing, what ``-s`` cannot do) and
    :class:`~bootproof.builder.errors.InputError` for a ``-p`` prefix U-Boot would split.
    """
    if not cfg.uboot_source:
        raise ConfigError("UBOOT_SOURCE not set, either specify it in the config or set it "
                          "with the -o option", path=cfg.path, field="UBOOT_SOURCE")
    script = cfg.uboot_script or derived_script_name(cfg.uboot_source)
    if not cfg.xen_mode and cfg.linux is None:
        raise ConfigError("neither XEN nor LINUX is set: nothing to boot", path=cfg.path,
                          field="XEN")
    _load_commands(cfg)
    if cfg.device_tree is None and not opts.calc:
        raise ConfigError("DEVICE_TREE is unset and -s is not specified", path=cfg.path,
                          field="DEVICE_TREE")
    if opts.calc:
        _check_calc(cfg)
    if opts.calc and cfg.device_tree is None and cfg.lopper_path is not None:
        raise ConfigError("LOPPER_PATH extracts from DEVICE_TREE: -s without DEVICE_TREE "
                          "has none", path=cfg.path, field="LOPPER_PATH")
    if cfg.fit_enc_ub_dtb and not cfg.fit_enc_key_dir:
        raise ConfigError("-u needs -k (a key to put into the U-Boot DTB)", path=cfg.path,
                          field="FIT_ENC_UB_DTB", value=cfg.fit_enc_ub_dtb)
    if cfg.fit_enc_key_dir and not cfg.fit:
        raise ConfigError("signing (-k) needs FIT mode (-f)", path=cfg.path,
                          field="FIT_ENC_KEY_DIR", value=cfg.fit_enc_key_dir)
    if opts.prefix:
        check_script_path(opts.prefix, field="-p", what="a path prefix")
    return Required(cfg.load_cmd or cfg.xen_load or "", cfg.uboot_source, script,
                    cfg.device_tree)


def derived_script_name(source: str) -> str:
    """``UBOOT_SCRIPT`` when unset: ``UBOOT_SOURCE`` without ``.source``, plus ``.scr``."""
    return (source[: -len(".source")] if source.endswith(".source") else source) + ".scr"


def check_inputs(cfg: ImageBuilderConfig, root: Path,
                 calc: bool = False) -> dict[str, FileInfo]:
    """Step 2: every input file the config names (see
    :func:`~bootproof.builder.xen.config.check_files`; with ``calc`` a missing file is
    skipped), by config path, with what the planner needs to know about it. Raises
    :class:`~bootproof.builder.errors.InputError`."""
    checked = check_files(cfg, root, calc=calc)
    return {rel: FileInfo(size, _header_image_size(root / rel)
                          if checked.kinds[rel] == "arm64-image" else 0)
            for rel, size in checked.sizes.items()}



def place(cfg: ImageBuilderConfig, files: Mapping[str, FileInfo], base: HostDtb | None,
          calc: bool = False) -> Placement:
    """Step 4: plan the layout and build its DT edits until both settle.

    Pass 1 measures the edits; pass 2 places the DTB with the room they need (and, in FIT
    mode, plans with the edited copy the FIT carries). Modules before the DTB do not move
    between passes, so the edits (which name only those) settle at once; the loop is a
    guard. ``base`` is None with ``-s`` when no DTB file is read (U-Boot's control DTB,
    or one made later). Raises :class:`~bootproof.builder.errors.LayoutError` (and its
    subclasses) when the layout does not fit or does not settle, :class:`ConfigError` from
    the planner.
    """
    fit = cfg.fit is not None
    known = dict(files)
    if base is not None:
        known[base.file] = FileInfo(len(base.data), 0, base.content_size)
    xen_file = xen_load_name(cfg)
    if xen_file is not None and cfg.xen is not None and xen_file != cfg.xen:
        known[xen_file] = FileInfo(known[cfg.xen].size + uimage.HEADER.size)
    ram = [r.range for r in base.board.memory()] if base is not None else []
    reserved = [(r.range, r.name) for r in base.board.reserved()] \
        if base is not None and not calc else []
    at_boot = base.overlays_at_boot if base is not None else bool(cfg.dt_overlays)
    overlay_sizes = [known[o].size for o in cfg.dt_overlays if o in known] if at_boot else []
    tree = base.tree if base is not None else None

    def plan_with(extra: int, dtb_file: str | None,
                  dtb_info: FileInfo | None) -> tuple[XenLayout, list[fdtcmd.Edit]]:
        sizes = {**known, dtb_file: dtb_info} if dtb_file and dtb_info else known
        lay = plan(cfg, sizes, ram=ram, reserved=reserved, fit=fit, dtb_extra=extra,
                   xen_file=xen_file, dtb_file=dtb_file, overlays_loaded=at_boot, calc=calc)
        return lay, build_edits(cfg, lay, tree)

    dtb_file = base.file if base is not None else cfg.device_tree
    dtb_info = known.get(dtb_file) if dtb_file is not None else None
    layout, edits = plan_with(0, dtb_file, dtb_info)
    for _ in range(3):
        extra = resize_bytes(fdtcmd.growth(edits), overlay_sizes)
        edited = edited_dtb(base.offline, edits) if base is not None else None
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
    sopts = ScriptOptions(boot_cmd=cfg.boot_cmd, prefix=opts.prefix, fit=cfg.fit is not None,
                          extra_cmds=extra_cmds, xen_mode=cfg.xen_mode, calc=opts.calc,
                          print_chosen=cfg.dbg_fdt_print_chosen)
    return render_script(placed.layout, placed.edits, sopts,
                         control_dtb=req.device_tree is None)



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
    and ``options.map_file``/``svg_file`` may be relative to the working directory: they are made
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
    if opts.svg_file is not None:
        opts = replace(opts, svg_file=Path(opts.svg_file).absolute())
    req = check_config(cfg, opts)
    files = check_inputs(cfg, root, opts.calc)
    cfg, made = with_partial_dtbs(cfg, root, files)
    base = None if dtb_made_later(cfg, root, opts) else \
        load_host_dtb(cfg, root, merge_overlays=opts.merge_overlays, fdtoverlay=opts.fdtoverlay)
    placed = place(cfg, files, base, opts.calc)
    source = script_text(cfg, root, req, placed, opts)
    outputs = {**made, **build_outputs(cfg, root, req, base, placed, source, opts)}
    inputs = [f for f in files if f not in made]
    written = write_outputs(cfg, root, inputs, outputs, placed.layout, opts.map_file,
                            script=None if cfg.fit else req.uboot_script,
                            svg_file=opts.svg_file)
    line = load_line(cfg, req, placed.layout, opts.prefix)
    notes = base.notes if base is not None else ()
    return GenerateResult(placed.layout, source, placed.edits, written, line,
                          hints(cfg, req, line), notes,
                          tuple(cfg.warnings) + calc_warnings(placed.layout, base),
                          tuple(xen_notes(placed.edits, opts.target_xen)))


def with_partial_dtbs(cfg: ImageBuilderConfig, root: Path, files: dict[str, FileInfo]
                      ) -> tuple[ImageBuilderConfig, dict[str, bytes]]:
    """Step 2b: the partial DTBs ``PASSTHROUGH_DTS_REPO`` or ``LOPPER_PATH`` make
    (:mod:`~bootproof.builder.xen.passthrough`): each becomes its domU's
    ``DOMU_PASSTHROUGH_DTB`` in the returned config, its size goes into ``files``, and its
    bytes are returned to be written with the other outputs."""
    made = build_partial_dtbs(cfg, root)
    if not made:
        return cfg, {}
    domus = tuple(replace(d, passthrough_dtb=made[d.index][0]) if d.index in made else d
                  for d in cfg.domus)
    for name, data in made.values():
        files[name] = FileInfo(len(data))
    return replace(cfg, domus=domus), dict(made.values())


def dtb_made_later(cfg: ImageBuilderConfig, root: Path, opts: GenerateOptions) -> bool:
    """True with ``-s`` when there is no DTB file to read: ``DEVICE_TREE`` unset (U-Boot's
    control DTB is edited) or not made yet (upstream does not need it then either)."""
    return opts.calc and (cfg.device_tree is None or not (root / cfg.device_tree).exists())


def calc_warnings(layout: XenLayout, base: HostDtb | None) -> tuple[str, ...]:
    """With ``-s``, reserved memory is not avoided (upstream's TODO): a warning for each
    reserved region of the DTB that lies above the first load address."""
    if not layout.calc or base is None:
        return ()
    first = layout.script_addr + layout.align
    return tuple(f"-s: U-Boot places the files from 0x{first:X} on without avoiding "
                 f"{r.name} [0x{r.start:X}, 0x{r.end:X}) (as upstream)"
                 for r in base.board.reserved()
                 if r.end > first and r.start < layout.memory_end)

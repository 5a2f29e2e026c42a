"""Generate a dom0less boot: the I/O around the pure planner and renderers.

:func:`generate` is the Python API behind ``uboot-script-gen``: it checks the input files,
reads the host DTB, plans the layout (every check done before anything is written),
builds the edits and the script, and writes every output through one
:class:`~bootproof.builder.fileio.OutputSet`, so a failure leaves nothing behind. No subprocess
runs on the default path; ``fdtoverlay`` runs only to merge overlays offline and
``mkimage`` only in FIT mode.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bootproof.builder.errors import ConfigError, InputError, LayoutError
from bootproof.builder.fileio import OutputSet
from bootproof.builder.formats import fit as fitfmt
from bootproof.builder.formats import uimage
from bootproof.builder.formats.fdt import DeviceTree
from bootproof.builder.reproducible import source_date_epoch
from bootproof.builder.tools import run_tool
from bootproof.builder.xen import fdtcmd
from bootproof.builder.xen.config.files import check_files, check_script_path
from bootproof.builder.xen.config.model import ImageBuilderConfig, Region
from bootproof.builder.xen.dt_edits import build_edits
from bootproof.builder.xen.plan import FileInfo, XenLayout, plan
from bootproof.builder.xen.script import ScriptOptions, prefixed, render_script, resize_bytes


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
    """What was generated: the layout, the script text, the edits and the files written."""

    layout: XenLayout
    source: str
    edits: tuple[fdtcmd.Edit, ...]
    written: tuple[Path, ...]
    hints: tuple[str, ...]
    notes: tuple[str, ...]
    warnings: tuple[str, ...]


def arm64_image_size(path: Path) -> int:
    """``image_size`` from an arm64 Image header (0 if the file is not one)."""
    with open(path, "rb") as fh:
        head = fh.read(64)
    if len(head) < 64 or head[56:60] != b"ARM\x64":
        return 0
    return int(struct.unpack_from("<Q", head, 16)[0])


def _dtb_content_size(data: bytes) -> int:
    """Where a blob's strings block ends: the bytes U-Boot keeps after ``fdt resize``."""
    (off_strings,) = struct.unpack_from(">I", data, 12)
    (size_strings,) = struct.unpack_from(">I", data, 32)
    return int(off_strings + size_strings)


def _require(cfg: ImageBuilderConfig) -> None:
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


def _merge_overlays(base: Path, overlays: Sequence[Path], tool: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="bootproof-ovl-") as tmp:
        out = Path(tmp) / "merged.dtb"
        run_tool([tool, "-i", str(base), "-o", str(out), *map(str, overlays)], cwd=Path(tmp))
        return out.read_bytes()


def _stem(path: str) -> str:
    return path[: -len(".dtb")] if path.endswith(".dtb") else path


def generate(cfg: ImageBuilderConfig, root: Path,
             options: GenerateOptions | None = None) -> GenerateResult:
    """Generate the boot script (and FIT, offline DTBs, map) for ``cfg`` under ``root``.

    ``root`` is the ``-d`` directory: config paths and outputs are relative to it.
    Raises :class:`ConfigError`/:class:`InputError` for bad configs and inputs,
    :class:`~bootproof.builder.errors.LayoutError` when the layout does not fit, and
    :class:`ToolError` when fdtoverlay or mkimage fail; in every case nothing is written.
    """
    opts = options or GenerateOptions()
    root = Path(root)
    _require(cfg)
    if opts.prefix:
        check_script_path(opts.prefix, field="-p", what="a path prefix")
    assert cfg.device_tree is not None and cfg.load_cmd is not None
    assert cfg.uboot_source is not None and cfg.uboot_script is not None
    checked = check_files(cfg, root)
    fit = cfg.fit is not None
    files: dict[str, FileInfo] = {}
    for rel, size in checked.sizes.items():
        kind = checked.kinds[rel]
        info = FileInfo(size, arm64_image_size(root / rel) if kind == "arm64-image" else 0)
        files[rel] = info
    dtb_path = root / cfg.device_tree
    host = DeviceTree.load(dtb_path)
    notes: list[str] = []
    warnings = list(cfg.warnings)

    merge = bool(opts.merge_overlays) if opts.merge_overlays is not None else \
        cfg.overlay_mode == "merge"
    base_tree = host
    base_bytes = dtb_path.read_bytes()
    dtb_file = cfg.device_tree
    extra_outputs: dict[str, bytes] = {}
    overlays_at_boot = bool(cfg.dt_overlays) and not merge and not fit
    if cfg.dt_overlays and not overlays_at_boot:
        merged = _merge_overlays(dtb_path, [root / o for o in cfg.dt_overlays], opts.fdtoverlay)
        base_tree = DeviceTree.from_bytes(merged, path="merged overlays")
        base_bytes = merged
        if not fit:
            dtb_file = f"{_stem(cfg.device_tree)}-overlays.dtb"
            extra_outputs[dtb_file] = merged
            notes.append(f"DT overlays: merged offline into {dtb_file}, which the script "
                         "loads (no 'fdt apply' needed)")
        else:
            notes.append("DT overlays: merged offline into the FIT's host_fdt")
    elif overlays_at_boot:
        notes.append("DT overlays: applied at boot with 'fdt apply' (needs a U-Boot with "
                     "CONFIG_OF_LIBFDT_OVERLAY; Debian's 2023.01 lacks it: use "
                     "--merge-overlays)")
    files[dtb_file] = FileInfo(len(base_bytes), 0, _dtb_content_size(base_bytes))

    xen_file = cfg.xen
    if cfg.xen_mode and cfg.boot_cmd == "bootm":
        assert cfg.xen is not None
        xen_file = f"{cfg.xen}.ub"
        files[xen_file] = FileInfo(files[cfg.xen].size + uimage.HEADER.size)

    ram = [Region(r.base, r.size) for r in host.memory()]
    reserved = [(Region(r.base, r.size), r.source) for r in host.reserved()]
    overlay_sizes = [files[o].size for o in cfg.dt_overlays] if overlays_at_boot else []

    def do_plan(extra: int, dtb_info: FileInfo) -> tuple[XenLayout, list[fdtcmd.Edit]]:
        f = dict(files)
        f[dtb_file] = dtb_info
        lay = plan(cfg, f, ram=ram, reserved=reserved, fit=fit, dtb_extra=extra,
                   xen_file=xen_file, dtb_file=dtb_file, overlays_loaded=overlays_at_boot)
        return lay, build_edits(cfg, lay, base_tree)

    offline_base: DeviceTree | None = None
    if fit or cfg.fdtedit:
        offline_base = base_tree
        if overlays_at_boot:  # the offline copy shows what the board ends up with
            offline_base = DeviceTree.from_bytes(_merge_overlays(
                dtb_path, [root / o for o in cfg.dt_overlays], opts.fdtoverlay))

    # Pass 1 measures the edits; pass 2 places the DTB with the room they need. Modules
    # before the DTB do not move between passes, so the edits (which name only those)
    # settle at once; the loop is a guard.
    layout, edits = do_plan(0, files[dtb_file])
    dtb_info = files[dtb_file]
    fdtedit_bytes: bytes | None = None
    for _ in range(3):
        extra = resize_bytes(fdtcmd.growth(edits), overlay_sizes)
        if offline_base is not None:
            edited = offline_base.copy()
            fdtcmd.apply(edited, edits)
            fdtedit_bytes = edited.to_bytes()
        if fit:
            assert cfg.fdtedit is not None and fdtedit_bytes is not None
            dtb_file = cfg.fdtedit
            dtb_info = FileInfo(len(fdtedit_bytes), 0, len(fdtedit_bytes))
        layout, new_edits = do_plan(extra, dtb_info)
        if new_edits == edits:
            break
        edits = new_edits
    else:
        raise LayoutError("the layout does not settle (DT edits keep moving modules)")

    extra_cmds = None
    if cfg.append_extra_cmds:
        extra_cmds = (root / cfg.append_extra_cmds).read_text(encoding="ascii")
    sopts = ScriptOptions(load_cmd=cfg.load_cmd, boot_cmd=cfg.boot_cmd, prefix=opts.prefix,
                          fit=fit, extra_cmds=extra_cmds, xen_mode=cfg.xen_mode)
    source = render_script(layout, edits, sopts)
    timestamp = source_date_epoch(opts.env)

    outputs: dict[str, bytes] = dict(extra_outputs)
    _add_output(outputs, cfg, cfg.uboot_source, source.encode())
    if xen_file is not None and xen_file != cfg.xen:
        xm = layout.find("xen")
        assert xm is not None and cfg.xen is not None
        xen_data = (root / cfg.xen).read_bytes()
        arch = uimage.ARCH_ARM64 if xen_data[56:60] == b"ARM\x64" else uimage.ARCH_ARM
        outputs[xen_file] = uimage.encode(xen_data, load=xm.addr, entry=xm.addr,
                                          image_type=uimage.TYPE_KERNEL, arch=arch,
                                          timestamp=timestamp)
    if cfg.fdtedit and fdtedit_bytes is not None:
        outputs[cfg.fdtedit] = fdtedit_bytes
    hints: list[str]
    if fit:
        assert cfg.fit is not None and layout.fit_addr is not None
        its_name = (cfg.fit[: -len(".fit")] if cfg.fit.endswith(".fit") else cfg.fit) + ".its"
        for name, data in _build_fit(cfg, layout, root, its_name, outputs, opts,
                                     timestamp).items():
            _add_output(outputs, cfg, name, data)
        hints = [
            f"Generated FIT {cfg.fit} with script {cfg.uboot_source}, to be loaded at or "
            f"after address 0x{layout.fit_addr:x}:",
            f"{cfg.load_cmd} 0x{layout.fit_addr:x} {prefixed(cfg.fit, opts.prefix)}; "
            f"source 0x{layout.fit_addr:x}:boot_scr",
        ]
    else:
        _add_output(outputs, cfg, cfg.uboot_script,
                    uimage.script_image(source.encode(), addr=layout.script_addr,
                                        timestamp=timestamp))
        hints = [
            f"Generated uboot script {cfg.uboot_script}, to be loaded at address "
            f"0x{layout.script_addr:X}:",
            f"{cfg.load_cmd} 0x{layout.script_addr:X} "
            f"{prefixed(cfg.uboot_script, opts.prefix)}; source 0x{layout.script_addr:X}",
        ]
    _refuse_overwriting_inputs(cfg, root, checked.sizes, outputs, opts.map_file)
    written: list[Path] = []
    with OutputSet() as out:
        for rel, data in outputs.items():
            p = Path(rel)
            written.append(out.write(p if p.is_absolute() else root / p, data))
        if opts.map_file is not None:
            written.append(out.write(opts.map_file, layout.to_json()))
    return GenerateResult(layout, source, tuple(edits), tuple(written), tuple(hints),
                          tuple(notes), tuple(warnings))


def _add_output(outputs: dict[str, bytes], cfg: ImageBuilderConfig, name: str | None,
                data: bytes) -> None:
    """Add output ``name``; two outputs under one name would silently lose one of them."""
    assert name is not None
    if name in outputs:
        raise ConfigError("two outputs would be the same file: choose different names",
                          path=cfg.path, field="output", value=name)
    outputs[name] = data


def _refuse_overwriting_inputs(cfg: ImageBuilderConfig, root: Path, inputs: Mapping[str, int],
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


def _build_fit(cfg: ImageBuilderConfig, layout: XenLayout, root: Path, its_name: str,
               outputs: Mapping[str, bytes], opts: GenerateOptions,
               timestamp: int) -> dict[str, bytes]:
    """Render the .its, run mkimage on a private copy, return the .its/.fit (+ -u DTB)."""
    assert cfg.fit is not None and cfg.uboot_source is not None
    kinds = {"xen": "kernel", "linux-kernel": "kernel", "dom0-kernel": "kernel",
             "domU-kernel": "kernel", "dom0-ramdisk": "ramdisk", "domU-ramdisk": "ramdisk",
             "linux-ramdisk": "ramdisk", "domU-dtb": "flat_dt", "dtb": "flat_dt",
             "bitstream": "fpga", "xen-policy": "firmware"}
    signing = None
    keydir = None
    if cfg.fit_enc_key_dir:
        keydir, _, hint = cfg.fit_enc_key_dir.rstrip("/").rpartition("/")
        if not hint:
            raise InputError("expected KEYDIR/HINT", field="-k", value=cfg.fit_enc_key_dir)
        signing = fitfmt.Signing(hint)
        keydir = keydir or "."
        key = root / keydir / f"{hint}.key"
        if not key.is_file():
            # mkimage 2023.01 only prints "Failed to sign" and still exits 0
            raise InputError("no private key to sign the FIT with", path=key, field="-k",
                             value=cfg.fit_enc_key_dir)

    def images(resolve: dict[str, str]) -> list[fitfmt.FitImage]:
        out = []
        for m in layout.modules:
            assert m.fit_name is not None
            is_exec = m.role in ("xen", "linux-kernel")
            out.append(fitfmt.FitImage(m.fit_name, resolve.get(m.file, m.file), kinds[m.role],
                                       load=m.addr, entry=m.addr if is_exec else None))
        src = cfg.uboot_source or ""
        out.append(fitfmt.FitImage("boot_scr", resolve.get(src, src), "script",
                                   load=layout.script_addr))
        return out

    loadables = tuple(m.fit_name for m in layout.modules if m.fit_name and m.role in (
        "dom0-kernel", "dom0-ramdisk", "domU-kernel", "domU-ramdisk", "domU-dtb", "xen-policy"))
    rd = layout.find("linux-ramdisk")
    fpga = layout.find("bitstream")
    conf = fitfmt.FitConfig(
        "config", kernel="host_kernel", fdt="host_fdt",
        ramdisk=rd.fit_name if rd is not None else None,
        loadables=loadables, fpga=fpga.fit_name if fpga is not None else None,
    )
    desc = "Xen dom0less boot" if cfg.xen_mode else "Linux boot"
    its = fitfmt.render_its(images({}), conf, description=desc, signing=signing)
    result = {its_name: its.encode()}
    with tempfile.TemporaryDirectory(prefix="bootproof-fit-") as tmpname:
        tmp = Path(tmpname)
        resolve: dict[str, str] = {}
        for m in layout.modules:
            resolve[m.file] = str((root / m.file).resolve())
        for rel, data in outputs.items():  # generated files not written yet
            local = tmp / f"gen{len(resolve)}"
            local.write_bytes(data)
            resolve[rel] = str(local)
        tmp_its = tmp / "image.its"
        tmp_its.write_text(fitfmt.render_its(images(resolve), conf, description=desc,
                                             signing=signing))
        argv = [opts.mkimage, "-q", "-f", str(tmp_its)]
        ub_copy = None
        if keydir is not None:
            argv += ["-k", str((root / keydir).resolve()), "-r"]
            if cfg.fit_enc_ub_dtb:
                ub_copy = tmp / "ub.dtb"
                shutil.copyfile(root / cfg.fit_enc_ub_dtb, ub_copy)
                argv += ["-K", str(ub_copy)]
        argv.append(str(tmp / "image.fit"))
        run_tool(argv, cwd=tmp, env={**os.environ, "SOURCE_DATE_EPOCH": str(timestamp)})
        result[cfg.fit] = (tmp / "image.fit").read_bytes()
        if ub_copy is not None and cfg.fit_enc_ub_dtb:
            result[cfg.fit_enc_ub_dtb] = ub_copy.read_bytes()
    return result

"""The generator's outputs (step 6 of :mod:`bootproof.builder.xen.generator`): every output's
bytes (the script, ``boot.scr`` or the FIT, ``xen.ub`` for bootm, the offline DTB copies),
then writing them with the ``--map`` layout and the ``--svg`` picture, all or none, never
over an input."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from bootproof.builder.errors import ConfigError
from bootproof.builder.fileio import OutputSet
from bootproof.builder.formats import executable, uimage
from bootproof.builder.reproducible import source_date_epoch
from bootproof.builder.xen.config.model import ImageBuilderConfig
from bootproof.builder.xen.fit_image import build_fit
from bootproof.builder.xen.host_dtb import HostDtb
from bootproof.builder.xen.plan import XenLayout
from bootproof.builder.xen.steps import GenerateOptions, Placement, Required


def xen_load_name(cfg: ImageBuilderConfig) -> str | None:
    """The Xen file the script loads: ``XEN.ub`` (a uImage made here) for ``bootm``."""
    if cfg.xen_mode and cfg.boot_cmd == "bootm" and cfg.xen is not None:
        return f"{cfg.xen}.ub"
    return cfg.xen


def _add_output(outputs: dict[str, bytes], cfg: ImageBuilderConfig, name: str | None,
                data: bytes) -> None:
    """Add output ``name``; two outputs under one name would silently lose one of them."""
    assert name is not None
    if name in outputs:
        raise ConfigError("two outputs would be the same file: choose different names",
                          path=cfg.path, field="output", value=name)
    outputs[name] = data


def build_outputs(cfg: ImageBuilderConfig, root: Path, req: Required, base: HostDtb | None,
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
    outputs: dict[str, bytes] = dict(base.outputs) if base is not None else {}
    _add_output(outputs, cfg, req.uboot_source, source.encode())
    xen_file = xen_load_name(cfg)
    if xen_file is not None and xen_file != cfg.xen:
        xm = layout.find("xen")
        assert xm is not None and cfg.xen is not None
        xen_data = (root / cfg.xen).read_bytes()
        # upstream 2025-04: arm64 when `file` says ARM64/Aarch64 (the Image magic or an
        # arm64 PE), arm otherwise
        arm64 = executable.is_arm64_image(xen_data) or \
            executable.pe_machine(xen_data) == executable.PE_MACHINE_ARM64
        arch = uimage.ARCH_ARM64 if arm64 else uimage.ARCH_ARM
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
                               outputs: Mapping[str, bytes],
                               *others: Path | None) -> None:
    """Raise :class:`ConfigError` if an output would replace an input (the config, a file it
    names, the APPEND_EXTRA_CMDS text). ``others``: the ``--map`` and ``--svg`` files (None:
    not asked for). The ``-u`` DTB is the one input meant to change."""
    def key(p: Path) -> Path:
        return p.resolve()

    taken = {key(root / rel): rel for rel in inputs}
    taken[key(Path(cfg.path))] = cfg.path
    if cfg.append_extra_cmds:
        taken[key(root / cfg.append_extra_cmds)] = cfg.append_extra_cmds
    targets = [(rel, root / rel) for rel in outputs if rel != cfg.fit_enc_ub_dtb]
    targets += [(str(p), p) for p in others if p is not None]
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
                  map_file: Path | None, *, script: str | None = None,
                  svg_file: Path | None = None) -> tuple[Path, ...]:
    """Step 6, writing: refuse an output that would replace one of ``inputs`` (or the
    config), then write every output, the ``--map`` layout document (JSON; ``script``
    names the boot script output) and the ``--svg`` picture together: all of them or, on
    any error, none. Returns the paths written. Raises :class:`ConfigError`."""
    _refuse_overwriting_inputs(cfg, root, inputs, outputs, map_file, svg_file)
    written: list[Path] = []
    with OutputSet() as out:
        for rel, data in outputs.items():
            p = Path(rel)
            p = p if p.is_absolute() else root / p
            p.parent.mkdir(parents=True, exist_ok=True)  # partial-dtbs/
            written.append(out.write(p, data))
        model = layout.to_model(outputs=outputs, script=script, fit=cfg.fit)
        if map_file is not None:
            written.append(out.write(map_file, json.dumps(model.to_json(), indent=2) + "\n"))
        if svg_file is not None:
            # Imported here: only --svg draws (the renderer is not needed for a script).
            from bootproof.builder.layout.svg import render

            written.append(out.write(svg_file, render(
                model, title=f"{cfg.path}: {'FIT' if cfg.fit else 'boot script'} layout")))
    return tuple(written)

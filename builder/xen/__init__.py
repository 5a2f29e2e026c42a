"""Xen dom0less boot generation, compatible with ImageBuilder's ``uboot-script-gen``.

Public API::

    cfg = load_config(Path("config"))                    # safe reader, typed config
    cfg = with_overrides(cfg, load_cmd="tftp", output="boot")
    result = generate(cfg, Path("boot"), GenerateOptions(map_file=Path("map.json")))
    result.layout                                        # XenLayout (modules, addresses)
    result.load_line                                     # LoadLine: what to type at U-Boot

Modules: :mod:`~bootproof.builder.xen.shellvars` (bash-subset reader),
:mod:`~bootproof.builder.xen.config` (typed config, file checks), :mod:`~bootproof.builder.xen.plan`
(pure address planning), :mod:`~bootproof.builder.xen.dt_edits` (``/chosen`` edits as data),
:mod:`~bootproof.builder.xen.fdtcmd` (``fdt`` commands: render, parse, replay offline),
:mod:`~bootproof.builder.xen.script` (boot.source text, the load line),
:mod:`~bootproof.builder.xen.host_dtb` (the DTB loaded, overlays, the offline copy),
:mod:`~bootproof.builder.xen.fit_image` (FIT mode), :mod:`~bootproof.builder.xen.generator`
(the pipeline: I/O and outputs), :mod:`~bootproof.builder.xen.cli`.
"""

from bootproof.builder.xen.config import ImageBuilderConfig, load_config, with_overrides
from bootproof.builder.xen.generator import GenerateOptions, GenerateResult, generate
from bootproof.builder.xen.plan import Module, XenLayout
from bootproof.builder.xen.script import LoadLine

__all__ = [
    "GenerateOptions",
    "GenerateResult",
    "ImageBuilderConfig",
    "LoadLine",
    "Module",
    "XenLayout",
    "generate",
    "load_config",
    "with_overrides",
]

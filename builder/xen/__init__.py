"""Xen dom0less boot generation, compatible with ImageBuilder's ``uboot-script-gen``.

Public API::

    cfg = load_config(Path("config"))                    # safe reader, typed config
    cfg = with_overrides(cfg, load_cmd="tftp", output="boot")
    result = generate(cfg, Path("boot"), GenerateOptions(map_file=Path("map.json")))
    result.layout                                        # XenLayout (modules, addresses)
    result.load_line                                     # LoadLine: what to type at U-Boot

Modules: :mod:`~bootproof.builder.xen.shellvars` (bash-subset reader: statements; words in
:mod:`~bootproof.builder.xen.shellwords`, ``$(( ))`` in :mod:`~bootproof.builder.xen.shellarith`),
:mod:`~bootproof.builder.xen.config` (the config reader: model, variables, sections, file
checks), :mod:`~bootproof.builder.xen.plan` (pure address planning),
:mod:`~bootproof.builder.xen.dt_edits` (``/chosen`` edits as data),
:mod:`~bootproof.builder.xen.fdtcmd` (``fdt`` commands: render, parse, replay offline),
:mod:`~bootproof.builder.xen.script` (boot.source text, the load line),
:mod:`~bootproof.builder.xen.host_dtb` (the DTB loaded, overlays, the offline copy),
:mod:`~bootproof.builder.xen.fit_image` (FIT mode), :mod:`~bootproof.builder.xen.generator`
(the pipeline), :mod:`~bootproof.builder.xen.steps` (what its steps take and hand on),
:mod:`~bootproof.builder.xen.outputs` (the outputs' bytes, written all or none),
:mod:`~bootproof.builder.xen.cli`.

The public names load on first use (PEP 562): a program that needs one submodule does not
import the generator, the planner and the device-tree code with it. Measured as whole
processes (best of 20, ``.pyc`` present): the disk builder's imports take about 20 ms less
(135 -> 118 ms CPU), importing ``bootproof.builder.xen.config.model`` alone about 40 ms
less (99 -> 57 ms); ``uboot-script-gen`` needs the generator and is unchanged.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what the names are, for type checkers and readers
    from bootproof.builder.xen.config import load_config
    from bootproof.builder.xen.config.model import ImageBuilderConfig
    from bootproof.builder.xen.config.overrides import with_overrides
    from bootproof.builder.xen.generator import generate
    from bootproof.builder.xen.plan import Module, XenLayout
    from bootproof.builder.xen.script import LoadLine
    from bootproof.builder.xen.steps import GenerateOptions, GenerateResult

#: Each public name and the module it comes from.
_HOMES = {
    "load_config": "bootproof.builder.xen.config",
    "ImageBuilderConfig": "bootproof.builder.xen.config.model",
    "with_overrides": "bootproof.builder.xen.config.overrides",
    "GenerateOptions": "bootproof.builder.xen.steps",
    "GenerateResult": "bootproof.builder.xen.steps",
    "generate": "bootproof.builder.xen.generator",
    "Module": "bootproof.builder.xen.plan",
    "XenLayout": "bootproof.builder.xen.plan",
    "LoadLine": "bootproof.builder.xen.script",
}

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

if not TYPE_CHECKING:  # hidden from mypy, so a misspelt name stays an error there

    def __getattr__(name: str) -> object:
        """Import a public name's home module on first use, then keep the name here."""
        home = _HOMES.get(name)
        if home is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        globals()[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})

"""ImageBuilder configs, read safely into typed, frozen objects.

:func:`load_config` reads a config with :mod:`bootproof.builder.xen.shellvars` (nothing is
executed) and :func:`build_config` validates it into
:class:`~bootproof.builder.xen.config.model.ImageBuilderConfig`: numbers read as the
reference reads them, per-domU variables gathered into ``DomU`` objects, the combinations
the reference rejects turned into :class:`~bootproof.builder.errors.ConfigError` s, and
unknown variables reported as warnings with the nearest known name. File *contents* are
checked later, by :func:`~bootproof.builder.xen.config.files.check_files`, because the
paths in a config are relative to the ``-d`` directory of the command line.

The package, by concern: :mod:`.model` (the frozen dataclasses), :mod:`.variables` (every
known variable, its shape and number rule; the one lookup helper), the reader by section
(:mod:`.sections` for Xen, dom0, memory and cpupools; :mod:`.domu`, including shared memory
and vCPU affinity), :mod:`.overrides` (``-t -o -f -k -u``) and :mod:`.files` (input files).
Both ``uboot-script-gen`` and the disk-image builder read configs through it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from bootproof.builder.xen.config import sections
from bootproof.builder.xen.config.domu import read_domus
from bootproof.builder.xen.config.model import (
    DEFAULT_DOM0_CMD,
    DEFAULT_LINUX_CMD,
    ImageBuilderConfig,
)
from bootproof.builder.xen.config.variables import ASSOCIATIVE, VARIABLES, Lookup, check_names
from bootproof.builder.xen.shellvars import ShellVars, read_shell_vars

__all__ = ["build_config", "load_config"]


def build_config(sv: ShellVars) -> ImageBuilderConfig:
    """Validate raw variables into an :class:`ImageBuilderConfig` (no file access).

    Raises :class:`ConfigError` naming the variable, its line and value for malformed
    numbers and lists, a bad ``BOOT_CMD``, a booted domU without kernel, XEN_CMD given
    together with DOM0_MEM/DOM0_VCPUS, PASSTHROUGH_DTS_REPO with a DOMU_PASSTHROUGH_DTB for
    the same domU, cpupool indexes that do not exist, numbers too large for their 32-bit DT
    cell, and control characters (a line break) in any ImageBuilder variable.
    """
    warnings = check_names(sv)
    v = Lookup(sv)
    boot_cmd = sections.boot_command(v)
    dom0 = sections.has_dom0(v)
    xen_cmd = sections.xen_command(v, dom0)
    domus, domu_warnings = read_domus(v, dom0)
    repo = sections.check_passthrough_repo(v, domus)
    pools = sections.cpupools(v, domus)
    overlays = v.listed("DT_OVERLAY")
    aux = v.listed("BOOT_AUX_FILE")
    align = sections.alignment(v)
    mode = sections.overlay_mode(v)
    mem_start, mem_end = sections.memory_window(v)
    return ImageBuilderConfig(
        path=sv.path,
        variables={k: dict(val) for k, val in sv.values.items()},
        lines={k: dict(val) for k, val in sv.lines.items()},
        warnings=tuple(warnings + domu_warnings + v.notes),
        memory_start=mem_start,
        memory_end=mem_end,
        load_cmd=v.text("LOAD_CMD"),
        boot_cmd=boot_cmd,
        device_tree=v.text("DEVICE_TREE"),
        xen=v.text("XEN"),
        xen_cmd=xen_cmd,
        xen_cmd_given=v.text("XEN_CMD") is not None,
        xen_static_heap=v.regions("XEN_STATIC_HEAP"),
        xen_policy=v.text("XEN_POLICY"),
        dom0_kernel=v.text("DOM0_KERNEL"),
        dom0_ramdisk=v.text("DOM0_RAMDISK"),
        dom0_cmd=v.text("DOM0_CMD") or DEFAULT_DOM0_CMD,
        dom0_rootfs=v.text("DOM0_ROOTFS"),
        domus=domus,
        cpupools=pools,
        dt_overlays=overlays,
        linux=v.text("LINUX"),
        linux_ramdisk=v.text("LINUX_RAMDISK"),
        linux_cmd=v.text("LINUX_CMD") or DEFAULT_LINUX_CMD,
        linux_rootfs=v.text("LINUX_ROOTFS"),
        bitstream=v.text("BITSTREAM"),
        uboot_source=v.text("UBOOT_SOURCE"),
        uboot_script=v.text("UBOOT_SCRIPT"),
        append_extra_cmds=v.text("APPEND_EXTRA_CMDS"),
        fdtedit=v.text("FDTEDIT"),
        fit=v.text("FIT"),
        fit_enc_key_dir=v.text("FIT_ENC_KEY_DIR"),
        fit_enc_ub_dtb=v.text("FIT_ENC_UB_DTB"),
        boot_aux_files=aux,
        gpt=v.flag("GPT"),
        passthrough_dts_repo=repo,
        lopper_path=v.text("LOPPER_PATH"),
        align=align,
        overlay_mode=mode,
        extra={k: val["0"] for k, val in sv.values.items() if k not in VARIABLES and "0" in val},
        xen_load=v.text("XEN_LOAD"),
        dom0_load=v.text("DOM0_LOAD"),
        dbg_fdt_print_chosen=v.text("DBG_FDT_PRINT_CHOSEN") is not None,
        lopper_cmd=v.text("LOPPER_CMD"),
    )


def load_config(path: Path, *, env: Mapping[str, str] | None = None) -> ImageBuilderConfig:
    """Read and validate the ImageBuilder config at ``path`` without executing anything.

    ``env`` is the environment ``$VAR`` falls back to (default: ``os.environ``).
    Raises :class:`ConfigError` (file, line, variable, value in the message).
    """
    sv = read_shell_vars(Path(path), env=os.environ if env is None else env,
                         associative=ASSOCIATIVE)
    return build_config(sv)

"""Stage 1 of ``disk_image``: gather and check everything the disk needs from a config.

:func:`collect_inputs` lists the boot files (with their paths inside the boot partition,
``-p`` prefix first), the rootfs archives in partition order, and one
:class:`~bootproof.builder.disk.xlcfg.XlDomain` per domU with dom0's device names; it checks that
every named file exists and has the type the reference demands. Nothing is written.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bootproof.builder.disk.archive import archive_format
from bootproof.builder.disk.xlcfg import XlDomain, passthrough_from_dtb
from bootproof.builder.errors import ConfigError, InputError
from bootproof.builder.formats import partitions as pt
from bootproof.builder.xen.config.files import check_files, check_script_path
from bootproof.builder.xen.config.model import ImageBuilderConfig
from bootproof.builder.xen.devices import partition_device

DEFAULT_XL_CMD = "console=hvc0"


@dataclass(frozen=True)
class BootFile:
    """One file for the boot partition: where it goes, where it comes from, who named it."""

    dest: str
    source: Path
    size: int
    var: str


@dataclass(frozen=True)
class RootfsSource:
    """A rootfs archive and the partition role it fills ("dom0" or "domU<i>")."""

    role: str
    var: str
    archive: Path


@dataclass(frozen=True)
class DiskInputs:
    """What :func:`collect_inputs` gathered from a config: everything the image needs."""

    boot_files: tuple[BootFile, ...]
    boot_bytes: int  # sum as the reference counts it (a file named twice counts twice)
    rootfs: tuple[RootfsSource, ...]
    xl: tuple[XlDomain, ...]
    xl_extra_files: tuple[tuple[str, Path], ...]  # (name under /etc/xen, source)
    scheme: pt.Scheme
    numbers: tuple[int, ...]  # partition numbers: boot, then each rootfs in order
    warnings: tuple[str, ...] = ()


def boot_dest(rel: str, prefix: str, *, var: str) -> str:
    """Path of a config-named file inside the boot partition (``-p`` prefix first).

    Raises :class:`ConfigError` for a path that climbs out with ``..``.
    """
    joined = posixpath.normpath(posixpath.join(prefix.strip("/") or ".", rel.lstrip("/")))
    if joined == ".." or joined.startswith("../") or joined == ".":
        raise ConfigError("file path leaves the boot partition", field=var, value=rel)
    return joined


def _file(root: Path, rel: str, var: str) -> Path:
    path = root / rel
    if not path.is_file():
        reason = "does not exist" if not path.exists() else "is not a regular file"
        raise InputError(f"file {reason} (under {root})", path=rel, field=var, value=rel)
    return path


def _rootfs(role: str, var: str, root: Path, rel: str) -> RootfsSource:
    """A rootfs archive that exists and whose content is a cpio or tar archive."""
    path = _file(root, rel, var)
    archive_format(path, field_name=var)
    return RootfsSource(role, var, path)


def _boot_names(cfg: ImageBuilderConfig) -> list[tuple[str, str | None]]:
    names: list[tuple[str, str | None]] = [
        ("DOM0_KERNEL", cfg.dom0_kernel), ("DEVICE_TREE", cfg.device_tree),
        ("UBOOT_SCRIPT", cfg.uboot_script), ("DOM0_RAMDISK", cfg.dom0_ramdisk)]
    names += [(f"DT_OVERLAY[{i}]", ov) for i, ov in enumerate(cfg.dt_overlays)]
    names += [("UBOOT_SOURCE", cfg.uboot_source), ("XEN", cfg.xen)]
    names += [(f"BOOT_AUX_FILE[{i}]", f) for i, f in enumerate(cfg.boot_aux_files)]
    names += [("BITSTREAM", cfg.bitstream), ("LINUX", cfg.linux),
              ("LINUX_RAMDISK", cfg.linux_ramdisk), ("FIT", cfg.fit)]
    for d in cfg.domus:
        names += [(f"DOMU_KERNEL[{d.index}]", d.kernel), (f"DOMU_RAMDISK[{d.index}]", d.ramdisk),
                  (f"DOMU_PASSTHROUGH_DTB[{d.index}]", d.passthrough_dtb)]
    return names


def collect_inputs(cfg: ImageBuilderConfig, root: Path, *, prefix: str = "",
                   load_cmd: str | None = None) -> DiskInputs:
    """Gather and check everything the disk needs from ``cfg`` (paths relative to ``root``).

    ``load_cmd`` (the ``-t`` value, aliases applied) overrides the config's ``LOAD_CMD``;
    it names dom0's devices in the xl configs. Raises :class:`InputError` for a missing or
    mistyped file, :class:`ConfigError` for an unusable setting.
    """
    if prefix:  # the boot script names these paths too (uboot-script-gen -p)
        check_script_path(prefix, field="-p", what="a path prefix")
    if cfg.uboot_script is None:
        raise ConfigError("UBOOT_SCRIPT is not set: run uboot-script-gen first and name "
                          "its output in the config", path=cfg.path, field="UBOOT_SCRIPT")
    check_files(cfg, root)  # the reference's type checks for everything booted
    warnings: list[str] = []
    boot_files: dict[str, BootFile] = {}
    total = 0
    for var, rel in _boot_names(cfg):
        if rel is None:
            continue
        src = _file(root, rel, var)
        size = src.stat().st_size
        total += size
        dest = boot_dest(rel, prefix, var=var)
        boot_files.setdefault(dest, BootFile(dest, src, size, var))
    if cfg.boot_cmd == "bootm" and cfg.xen is not None:
        wrapped = root / f"{cfg.xen}.ub"
        if wrapped.is_file():
            dest = boot_dest(f"{cfg.xen}.ub", prefix, var="XEN")
            size = wrapped.stat().st_size
            total += size
            boot_files.setdefault(dest, BootFile(dest, wrapped, size, "XEN"))
    rootfs: list[RootfsSource] = []
    if cfg.dom0_rootfs is not None:
        rootfs.append(_rootfs("dom0", "DOM0_ROOTFS", root, cfg.dom0_rootfs))
    elif not cfg.xen_mode and cfg.linux_rootfs is not None:
        # Linux mode: its rootfs takes partition 2, where its root= points
        rootfs.append(_rootfs("linux", "LINUX_ROOTFS", root, cfg.linux_rootfs))
    for d in cfg.domus:
        if d.rootfs is not None:
            rootfs.append(_rootfs(f"domU{d.index}", f"DOMU_ROOTFS[{d.index}]", root, d.rootfs))
    cmd = load_cmd if load_cmd is not None else cfg.load_cmd
    scheme = pt.Scheme.GPT if cfg.gpt else pt.Scheme.DOS
    xl, extra = _xl_domains(cfg, root, prefix, cmd, rootfs, scheme)
    if cfg.domus and cfg.dom0_rootfs is None:
        warnings.append("no DOM0_ROOTFS: the domUs' xl configs are not written anywhere")
    if cmd is not None and rootfs and not cmd.rstrip().endswith(":1"):
        warnings.append(f"load command {cmd!r} does not load from partition 1, "
                        "where the boot files are")
    return DiskInputs(tuple(sorted(boot_files.values(), key=lambda b: b.dest)), total,
                      tuple(rootfs), xl, extra, scheme,
                      tuple(pt.partition_numbers(scheme, 1 + len(rootfs))), tuple(warnings))


def _numbers(scheme: pt.Scheme, rootfs: Sequence[RootfsSource]) -> dict[str, int]:
    numbers = pt.partition_numbers(scheme, 1 + len(rootfs))
    return {r.role: n for r, n in zip(rootfs, numbers[1:], strict=True)}


def _xl_domains(cfg: ImageBuilderConfig, root: Path, prefix: str, load_cmd: str | None,
                rootfs: Sequence[RootfsSource], scheme: pt.Scheme
                ) -> tuple[tuple[XlDomain, ...], tuple[tuple[str, Path], ...]]:
    numbers = _numbers(scheme, rootfs)
    doms: list[XlDomain] = []
    extra: list[tuple[str, Path]] = []
    need_dev = bool(cfg.domus) and cfg.dom0_rootfs is not None
    if need_dev and load_cmd is None:
        raise ConfigError("LOAD_CMD is not set and no -t given: cannot name dom0's disk "
                          "devices in the xl configs", path=cfg.path, field="LOAD_CMD")
    for d in cfg.domus:
        name = d.name or f"domU{d.index}"
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or name.startswith("."):
            raise ConfigError("domain name unusable as an xl config file name", path=cfg.path,
                              field=f"DOMU_NAME[{d.index}]", value=name)
        if d.kernel is None:
            raise ConfigError("DOMU_KERNEL is not set", path=cfg.path,
                              field=f"DOMU_KERNEL[{d.index}]")
        set_cmd = cfg.variables.get("DOMU_CMD", {}).get(str(d.index))
        cmd = set_cmd if set_cmd is not None else DEFAULT_XL_CMD
        disk = None
        if d.rootfs is not None and load_cmd is not None:
            disk = partition_device(load_cmd, numbers[f"domU{d.index}"])
        if "root=" not in cmd:
            cmd += " root=/dev/xvda" if d.rootfs is not None else " root=/dev/ram0"
        passthrough = None
        if d.passthrough_dtb is not None:
            var = f"DOMU_PASSTHROUGH_DTB[{d.index}]"
            src = _file(root, d.passthrough_dtb, var)
            passthrough = passthrough_from_dtb(src.read_bytes(), path=d.passthrough_dtb,
                                               field=var)
            extra.append((passthrough.dtb_name, src))
        boot_dev = partition_device(load_cmd, 1) if load_cmd and need_dev else None
        doms.append(XlDomain(
            name=name, memory_mib=d.mem_mb, vcpus=d.vcpus,
            kernel="/boot/" + boot_dest(d.kernel, prefix, var=f"DOMU_KERNEL[{d.index}]"),
            ramdisk=("/boot/" + boot_dest(d.ramdisk, prefix, var=f"DOMU_RAMDISK[{d.index}]")
                     if d.ramdisk else None),
            extra=cmd, disk=disk, driver_domain=d.driver_domain, boot_device=boot_dev,
            passthrough=passthrough))
    names = [x for x, _ in extra]
    if len(set(names)) != len(names):
        raise ConfigError("two passthrough DTBs have the same file name; /etc/xen needs "
                          "distinct names", path=cfg.path, field="DOMU_PASSTHROUGH_DTB",
                          value=names)
    return tuple(doms), tuple(extra)

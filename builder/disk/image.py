"""Rootless disk images from an ImageBuilder config: the ``disk_image`` pipeline.

Pipeline (each step raises before anything is written to the output path):

1. **collect** (:func:`collect_inputs`): the boot files the script loads (kernels,
   ramdisks, DTBs, overlays, Xen, boot.scr/boot.source, aux files, bitstream, FIT) with
   their paths inside the boot partition (``-p`` prefix honoured), the rootfs archives,
   and one :class:`~builder.disk.xlcfg.XlDomain` per domU.
2. **stage**: extract each rootfs archive safely (:mod:`builder.disk.archive`); the xl
   configs (and passthrough DTBs) go into dom0's ``/etc/xen``.
3. **plan** (:func:`plan_partitions`, pure): sizes as the reference computes them (boot:
   file sizes + 16 MiB rounded up to 2 MiB; rootfs: extracted size rounded up to 2 MiB,
   doubled, plus the slack; disk: partitions + 16 MiB, optionally a power of two).
4. **build** each filesystem as its own file (:mod:`builder.disk.fs`).
5. **assemble**: a sparse output file, the partition table written in Python, and each
   filesystem file spliced in at its offset (``copy_file_range`` over its data extents),
   all through :func:`~builder.fileio.atomic_output`, so an error leaves no image behind.

Deviations from the reference, on purpose: no root, loop devices or mounts; the DOS label
really gets its partitions (the reference asked for "logical" ones without an extended
partition, so they never got created): primary up to 4, else 1-3 primary and the rest
logical (5, 6, ...) in an extended partition;
xl configs are written for every domU, name the real rootfs partition and work above
4 GiB; boot partitions under 64 MiB get the FAT width mkfs.vfat picks (FAT32 there would
have fewer than the 65525 clusters FAT32 needs).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import posixpath
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from builder.disk import fs
from builder.disk.archive import add_file, archive_kind, extract_archive
from builder.disk.xlcfg import XlDomain, partition_device, passthrough_from_dtb, render_xl
from builder.errors import ConfigError, InputError, LayoutError
from builder.fileio import atomic_output
from builder.formats import partitions as pt
from builder.report import size_text, table
from builder.xen.config import ImageBuilderConfig, check_files

MIB = 1 << 20
SECTOR = pt.SECTOR
FIRST_LBA = 2048
BOOT_HEADROOM = 16 * MIB
DISK_HEADROOM = 16 * MIB
ALIGN = 2 * MIB
DEFAULT_SLACK_MIB = 128
DEFAULT_XL_CMD = "console=hvc0"
DEFAULT_EPOCH = 315532800  # 1980-01-01T00:00:00Z, the first time FAT can store


_FAT_KINDS = {12: pt.PartKind.FAT12, 16: pt.PartKind.FAT16, 32: pt.PartKind.FAT32}


def _round_up(value: int, align: int) -> int:
    return (value + align - 1) // align * align


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


@dataclass(frozen=True)
class PartitionLayout:
    """One partition of the finished disk."""

    number: int
    role: str
    fs: str
    start_lba: int
    sectors: int
    label: str
    fs_id: str
    device: str | None
    content_bytes: int
    source: str | None = None
    files: tuple[tuple[str, int], ...] = ()

    @property
    def offset(self) -> int:
        return self.start_lba * SECTOR

    @property
    def size(self) -> int:
        return self.sectors * SECTOR


@dataclass(frozen=True)
class DiskLayout:
    """The finished disk: table scheme, size, partitions, xl configs written, warnings."""

    image: str
    scheme: str
    size_bytes: int
    disk_id: str
    partitions: tuple[PartitionLayout, ...]
    xl_configs: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (offsets and sizes in bytes, plus start/sectors in sectors)."""
        data = asdict(self)
        for part, src in zip(data["partitions"], self.partitions, strict=True):
            part["offset"] = src.offset
            part["size"] = src.size
            part["files"] = [{"path": p, "size": s} for p, s in src.files]
        return data

    def report(self) -> str:
        """The human layout report: partitions, then the boot files, then the xl configs."""
        rows = [[p.number, p.role, p.fs, p.label, p.start_lba, p.sectors, f"0x{p.offset:x}",
                 size_text(p.size), p.device or "-", p.source or "-"]
                for p in self.partitions]
        lines = [f"{self.image}: {self.scheme} label, {size_text(self.size_bytes)}, "
                 f"disk id {self.disk_id}",
                 table(["#", "role", "fs", "label", "start", "sectors", "offset", "size",
                        "device", "source"], rows)]
        for p in self.partitions:
            if p.files:
                lines.append(f"partition {p.number} files:")
                lines.append(table(["path", "bytes"], [[f, s] for f, s in p.files]))
        if self.xl_configs:
            lines.append("xl configs in dom0's /etc/xen: " + ", ".join(self.xl_configs))
        lines.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(lines) + "\n"


# -- 1. collect ----------------------------------------------------------------------------


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
        archive_kind(Path(cfg.dom0_rootfs))
        rootfs.append(RootfsSource("dom0", "DOM0_ROOTFS", _file(root, cfg.dom0_rootfs,
                                                               "DOM0_ROOTFS")))
    elif not cfg.xen_mode and cfg.linux_rootfs is not None:
        # Linux mode: its rootfs takes partition 2, where its root= points
        archive_kind(Path(cfg.linux_rootfs))
        rootfs.append(RootfsSource("linux", "LINUX_ROOTFS", _file(root, cfg.linux_rootfs,
                                                                 "LINUX_ROOTFS")))
    for d in cfg.domus:
        if d.rootfs is not None:
            var = f"DOMU_ROOTFS[{d.index}]"
            archive_kind(Path(d.rootfs))
            rootfs.append(RootfsSource(f"domU{d.index}", var, _file(root, d.rootfs, var)))
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


# -- 3. plan (pure) ------------------------------------------------------------------------


def boot_partition_bytes(file_bytes: int) -> int:
    """Boot partition size: the files plus 16 MiB, rounded up to 2 MiB."""
    return _round_up(file_bytes + BOOT_HEADROOM, ALIGN)


def rootfs_partition_bytes(content_bytes: int, slack_mib: int) -> int:
    """Rootfs partition size: content rounded up to 2 MiB, doubled, plus the slack."""
    return 2 * _round_up(content_bytes, ALIGN) + slack_mib * MIB


def plan_partitions(sizes: Sequence[int], *, pow2: bool,
                    gaps: Sequence[int] = ()) -> tuple[list[tuple[int, int]], int]:
    """Place partitions of ``sizes`` bytes back to back from sector 2048.

    ``gaps[i]`` bytes are left free before partition ``i`` (a DOS logical partition's
    extended boot record). Returns ``[(start_lba, sectors), ...]`` and the disk size in
    sectors (partitions and gaps plus 16 MiB, rounded up to a power of two MiB when
    ``pow2``). Raises :class:`LayoutError` for a size that is not a whole number of MiB.
    """
    placed: list[tuple[int, int]] = []
    lba = FIRST_LBA
    gap_list = list(gaps) + [0] * (len(sizes) - len(gaps))
    for n, (size, gap) in enumerate(zip(sizes, gap_list, strict=True), start=1):
        if size <= 0 or size % MIB or gap < 0 or gap % MIB:
            raise LayoutError("partition size is not a positive whole number of MiB",
                              field=f"partition{n}", value=size)
        lba += gap // SECTOR
        placed.append((lba, size // SECTOR))
        lba += size // SECTOR
    total_mib = (sum(sizes) + sum(gap_list) + DISK_HEADROOM) // MIB
    if pow2:
        total_mib = 1 << (total_mib - 1).bit_length()
    return placed, total_mib * MIB // SECTOR


# -- 5. assemble -----------------------------------------------------------------------------


def _extents(fd: int, size: int) -> Iterator[tuple[int, int]]:
    """Data extents ``(offset, length)`` of an open file (the whole file if holes are unknown)."""
    pos = 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                return
            yield pos, size - pos
            return
        end = os.lseek(fd, start, os.SEEK_HOLE)
        yield start, end - start
        pos = end


def splice(src: Path, dst_fd: int, offset: int) -> int:
    """Copy the data of ``src`` into ``dst_fd`` at ``offset``, skipping holes.

    Uses ``copy_file_range`` and falls back to chunked ``pread``/``pwrite``; never holds
    more than one chunk in memory. Returns the number of bytes copied.
    """
    copied = 0
    with open(src, "rb") as fh:
        fd = fh.fileno()
        size = os.fstat(fd).st_size
        for start, length in _extents(fd, size):
            done = 0
            while done < length:
                count = min(length - done, 64 * MIB)
                try:
                    n = os.copy_file_range(fd, dst_fd, count, start + done, offset + start + done)
                except OSError as exc:
                    if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL,
                                         errno.EOPNOTSUPP):
                        raise
                    n = 0
                if n <= 0:
                    chunk = os.pread(fd, min(count, 4 * MIB), start + done)
                    if not chunk:
                        break
                    n = os.pwrite(dst_fd, chunk, offset + start + done)
                done += n
            copied += done
    return copied


# -- the whole pipeline -------------------------------------------------------------------------


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


@dataclass(frozen=True)
class _BuiltFs:
    """A filesystem image file made for one partition, before placement."""

    image: Path
    size: int
    role: str
    fs: str
    kind: pt.PartKind
    label: str
    fs_id: str
    content_bytes: int
    source: str | None = None
    files: tuple[tuple[str, int], ...] = ()


def _build_boot(inputs: DiskInputs, work: Path, *, seed: str, epoch: int) -> _BuiltFs:
    size = boot_partition_bytes(inputs.boot_bytes)
    image = work / "part1.img"
    volume_id = pt.derive_disk_id(seed + ":vfat")
    bits = fs.make_fat(image, size, [(b.dest, b.source) for b in inputs.boot_files],
                       label="boot", volume_id=volume_id, epoch=epoch)
    return _BuiltFs(image, size, "boot", f"vfat{bits}", _FAT_KINDS[bits], "boot",
                    f"{volume_id >> 16:04X}-{volume_id & 0xFFFF:04X}", inputs.boot_bytes,
                    files=tuple((b.dest, b.size) for b in inputs.boot_files))


def _build_rootfs(n: int, rfs: RootfsSource, inputs: DiskInputs, work: Path, *, seed: str,
                  epoch: int, slack_mib: int) -> _BuiltFs:
    staging = work / f"root{n}"
    staging.mkdir()
    tree = extract_archive(rfs.archive, staging)
    if rfs.role == "dom0":
        for dom in inputs.xl:
            add_file(tree, f"etc/xen/{dom.file_name}", render_xl(dom).encode(), mtime=epoch)
        for name, src in inputs.xl_extra_files:
            add_file(tree, f"etc/xen/{name}", src.read_bytes(), mtime=epoch)
    size = rootfs_partition_bytes(tree.content_bytes, slack_mib)
    image = work / f"part{n}.img"
    fs_uuid = pt.derive_guid(f"{seed}:ext4:{n}")
    label = f"vos_{n}"
    fs.make_ext4(image, size, tree, label=label, fs_uuid=fs_uuid, epoch=epoch)
    shutil.rmtree(staging, ignore_errors=True)
    return _BuiltFs(image, size, rfs.role, "ext4", pt.PartKind.LINUX, label, str(fs_uuid),
                    tree.content_bytes, str(rfs.archive))


def _build_filesystems(inputs: DiskInputs, work: Path, *, seed: str, epoch: int,
                       slack_mib: int) -> list[_BuiltFs]:
    """Every partition's filesystem image, built side by side (they are independent)."""
    workers = max(1, min(2, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_build_boot, inputs, work, seed=seed, epoch=epoch)]
        futures += [pool.submit(_build_rootfs, n, rfs, inputs, work, seed=seed, epoch=epoch,
                                slack_mib=slack_mib)
                    for n, rfs in zip(inputs.numbers[1:], inputs.rootfs, strict=True)]
        try:
            return [f.result() for f in futures]
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


@contextlib.contextmanager
def _workdir(parent: Path | None) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=".disk_image.", dir=parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def build_disk(cfg: ImageBuilderConfig, root: Path, output: Path, *,
               slack_mib: int = DEFAULT_SLACK_MIB, pow2: bool = False, prefix: str = "",
               load_cmd: str | None = None, workdir: Path | None = None,
               epoch: int = DEFAULT_EPOCH) -> DiskLayout:
    """Build the disk image ``output`` from ``cfg`` (files under ``root``) and return its layout.

    ``slack_mib`` is ``-s``, ``pow2`` is ``-a``, ``prefix`` is ``-p``, ``load_cmd`` is
    ``-t`` (aliases already applied), ``workdir`` is ``-w`` (a private temporary directory
    is made inside it and removed afterwards), ``epoch`` is ``SOURCE_DATE_EPOCH``.
    The same inputs always give the same bytes. Raises :class:`InputError`/
    :class:`ConfigError`/:class:`~builder.errors.FormatError` for bad inputs,
    :class:`LayoutError` when the table cannot hold the partitions, and
    :class:`~builder.errors.ToolError` when a filesystem tool fails; on any error no file
    is left at ``output``.
    """
    if slack_mib <= 0:
        raise InputError("slack must be a positive number of MiB", field="-s", value=slack_mib)
    inputs = collect_inputs(cfg, root, prefix=prefix, load_cmd=load_cmd)
    scheme = inputs.scheme
    seed = f"{output.name}:{epoch}"
    cmd = load_cmd if load_cmd is not None else cfg.load_cmd
    output_dir = output.parent if str(output.parent) else Path(".")
    if not output_dir.is_dir():
        raise InputError("output directory does not exist", path=output_dir)
    if output.is_dir():
        raise InputError("output is a directory", field="-o", value=str(output))
    if workdir is not None and not workdir.is_dir():
        raise InputError("work directory does not exist", field="-w", value=str(workdir))
    sources = [b.source for b in inputs.boot_files] + [r.archive for r in inputs.rootfs]
    sources += [src for _, src in inputs.xl_extra_files] + [Path(cfg.path)]
    if output.exists() and any(_same_file(output, src) for src in sources):
        raise InputError("output would overwrite one of the inputs", field="-o",
                         value=str(output))
    with _workdir(workdir if workdir is not None else output_dir) as work:
        built = _build_filesystems(inputs, work, seed=seed, epoch=epoch, slack_mib=slack_mib)
        logical = scheme is pt.Scheme.DOS and len(built) > pt.MBR_MAX_PRIMARY
        gaps = [MIB if logical and i >= 3 else 0 for i in range(len(built))]
        placed, disk_sectors = plan_partitions([b.size for b in built], pow2=pow2, gaps=gaps)
        parts: list[PartitionLayout] = []
        for n, b, (start, sectors) in zip(inputs.numbers, built, placed, strict=True):
            dev = partition_device(cmd, n) if cmd is not None and inputs.rootfs else None
            parts.append(PartitionLayout(n, b.role, b.fs, start, sectors, b.label, b.fs_id, dev,
                                         b.content_bytes, b.source, b.files))
        table_ = pt.PartitionTable(
            scheme, disk_sectors,
            tuple(pt.Partition(p.start_lba, p.sectors, b.kind,
                               name="boot" if p.number == 1 else f"Linux{p.number}",
                               bootable=p.number == 1,
                               guid=pt.derive_guid(f"{seed}:part:{p.number}"))
                  for p, b in zip(parts, built, strict=True)),
            disk_id=pt.derive_disk_id(seed), disk_guid=pt.derive_guid(f"{seed}:disk"))
        writes = pt.table_writes(table_)
        with atomic_output(output) as out:
            fd = out.fileno()
            os.ftruncate(fd, disk_sectors * SECTOR)
            for offset, data in writes:
                os.pwrite(fd, data, offset)
            for part, b in zip(parts, built, strict=True):
                splice(b.image, fd, part.offset)
                b.image.unlink()
    disk_id = (str(table_.disk_guid) if scheme is pt.Scheme.GPT
               else f"0x{table_.disk_id:08x}")
    xl_names = tuple(d.file_name for d in inputs.xl) if cfg.dom0_rootfs is not None else ()
    return DiskLayout(str(output), scheme.value, disk_sectors * SECTOR, disk_id, tuple(parts),
                      xl_names, inputs.warnings)


def write_layout_json(layout: DiskLayout, path: Path) -> None:
    """Write the layout as JSON to ``path`` (atomically)."""
    from builder.fileio import atomic_write

    atomic_write(path, json.dumps(layout.to_json(), indent=2) + "\n")

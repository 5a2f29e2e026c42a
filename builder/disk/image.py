"""Rootless disk images from an ImageBuilder config: the ``disk_image`` pipeline.

Pipeline (each step raises before anything is written to the output path):

1. **collect** (:mod:`bootproof.builder.disk.inputs`): the boot files the script loads (kernels,
   ramdisks, DTBs, overlays, Xen, boot.scr/boot.source, aux files, bitstream, FIT) with
   their paths inside the boot partition (``-p`` prefix honoured), the rootfs archives,
   and one :class:`~bootproof.builder.disk.xlcfg.XlDomain` per domU.
2. **stage**: extract each rootfs archive safely (:mod:`bootproof.builder.disk.archive`); the xl
   configs (and passthrough DTBs) go into dom0's ``/etc/xen``.
3. **plan** (:mod:`bootproof.builder.disk.plan`, pure): sizes as the reference computes them (boot:
   file sizes + 16 MiB rounded up to 2 MiB; rootfs: extracted size rounded up to 2 MiB,
   doubled, plus the slack; disk: partitions + 16 MiB, optionally a power of two).
4. **build** each filesystem as its own file (:mod:`bootproof.builder.disk.fs`).
5. **assemble**: a sparse output file, the partition table written in Python, and each
   filesystem file spliced in at its offset (``copy_file_range`` over its data extents),
   all through :func:`~bootproof.builder.fileio.atomic_output`, so an error leaves no image behind.

Deviations from the reference, on purpose: no root, loop devices or mounts; the DOS label
really gets its partitions (the reference asked for "logical" ones without an extended
partition, so they never got created): primary up to 4, else 1-3 primary and the rest
logical (5, 6, ...) in an extended partition; xl configs are written for every domU, name
the real rootfs partition and work above 4 GiB; boot partitions under 64 MiB get the FAT
width mkfs.vfat picks (FAT32 there would have fewer than the 65525 clusters it needs).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bootproof.builder.disk import fs
from bootproof.builder.disk.archive import DEFAULT_MAX_BYTES, add_file, extract_archive
from bootproof.builder.disk.inputs import DiskInputs, RootfsSource, collect_inputs
from bootproof.builder.disk.layout_model import disk_model
from bootproof.builder.disk.plan import (
    DEFAULT_SLACK_MIB,
    MIB,
    boot_partition_bytes,
    plan_partitions,
    rootfs_partition_bytes,
)
from bootproof.builder.disk.xlcfg import render_xl
from bootproof.builder.errors import InputError, OverflowError_
from bootproof.builder.fileio import OutputSet, atomic_output, check_outputs
from bootproof.builder.formats import partitions as pt
from bootproof.builder.layout.model import Layout
from bootproof.builder.layout.svg import render
from bootproof.builder.report import size_text, table
from bootproof.builder.xen.config.model import ImageBuilderConfig
from bootproof.builder.xen.devices import partition_device

SECTOR = pt.SECTOR
DEFAULT_EPOCH = fs.FAT_EPOCH_FLOOR  # without SOURCE_DATE_EPOCH: the first time FAT stores


_FAT_KINDS = {12: pt.PartKind.FAT12, 16: pt.PartKind.FAT16, 32: pt.PartKind.FAT32}


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

    def to_model(self, sha256: Mapping[str, str] | None = None) -> Layout:
        """This disk in the one layout model (spaces ``disk`` and ``partitionN``; see
        :mod:`bootproof.builder.disk.layout_model`); ``sha256``: boot files' digests."""
        return disk_model(self, sha256=sha256)

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
                  epoch: int, slack_mib: int, max_rootfs_bytes: int) -> _BuiltFs:
    staging = work / f"root{n}"
    staging.mkdir()
    tree = extract_archive(rfs.archive, staging, max_bytes=max_rootfs_bytes)
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
                       slack_mib: int, max_rootfs_bytes: int) -> list[_BuiltFs]:
    """Every partition's filesystem image, built side by side (they are independent)."""
    workers = max(1, min(2, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_build_boot, inputs, work, seed=seed, epoch=epoch)]
        futures += [pool.submit(_build_rootfs, n, rfs, inputs, work, seed=seed, epoch=epoch,
                                slack_mib=slack_mib, max_rootfs_bytes=max_rootfs_bytes)
                    for n, rfs in zip(inputs.numbers[1:], inputs.rootfs, strict=True)]
        try:
            return [f.result() for f in futures]
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _check_dos_capacity(inputs: DiskInputs, *, slack_mib: int, pow2: bool) -> None:
    """Refuse, before any filesystem is built, a DOS disk whose smallest possible size
    (empty rootfs archives, so only the slack) is already past what the label can describe.
    """
    if inputs.scheme is not pt.Scheme.DOS:
        return
    sizes = [boot_partition_bytes(inputs.boot_bytes)]
    sizes += [rootfs_partition_bytes(0, slack_mib)] * len(inputs.rootfs)
    _, sectors = plan_partitions(sizes, pow2=pow2)
    if sectors > 0xFFFFFFFF:  # 32-bit sector counts in the MBR: 2 TiB
        raise OverflowError_(
            f"every rootfs partition gets this slack: the disk would be over the 2 TiB a DOS "
            f"label can describe ({len(inputs.rootfs)} rootfs); use a smaller -s or GPT=y",
            field="-s", value=slack_mib)


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
               epoch: int = DEFAULT_EPOCH, json_path: Path | None = None,
               max_rootfs_bytes: int = DEFAULT_MAX_BYTES,
               svg_path: Path | None = None) -> DiskLayout:
    """Build the disk image ``output`` from ``cfg`` (files under ``root``) and return its layout.

    ``slack_mib`` is ``-s``, ``pow2`` is ``-a``, ``prefix`` is ``-p``, ``load_cmd`` is
    ``-t`` (aliases already applied), ``workdir`` is ``-w`` (a private temporary directory
    is made inside it and removed afterwards), ``epoch`` is ``SOURCE_DATE_EPOCH``,
    ``json_path`` (``--json``) receives the layout, ``svg_path`` (``--svg``) its picture,
    committed together with the image.
    ``max_rootfs_bytes`` (``--max-rootfs-size``) bounds each archive's extracted size.
    The same inputs always give the same bytes. Raises :class:`InputError`/
    :class:`ConfigError`/:class:`~bootproof.builder.errors.FormatError` for bad inputs,
    :class:`LayoutError` when the table cannot hold the partitions, and
    :class:`~bootproof.builder.errors.ToolError` when a filesystem tool fails; on any error no file
    is left at ``output``, ``json_path`` or ``svg_path``. Relative paths are made absolute
    here, once, so every tool run gets paths valid wherever it runs; the report names
    ``output`` as given.
    """
    shown = str(output)
    root = Path(root).absolute()
    if slack_mib <= 0:
        raise InputError("slack must be a positive number of MiB", field="-s", value=slack_mib)
    if max_rootfs_bytes <= 0:
        raise InputError("the rootfs size limit must be positive",
                         field="--max-rootfs-size", value=max_rootfs_bytes)
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
    if json_path is not None:
        if json_path.resolve() == output.resolve():
            raise InputError("the layout JSON and the image (-o) are the same file",
                             field="--json", value=str(json_path))
        if json_path.exists() and any(_same_file(json_path, src) for src in sources):
            raise InputError("output would overwrite one of the inputs", field="--json",
                             value=str(json_path))
    if svg_path is not None:
        check_outputs([("-o", output), *([("--json", json_path)] if json_path else []),
                       ("--svg", svg_path)], sources)
    _check_dos_capacity(inputs, slack_mib=slack_mib, pow2=pow2)
    output, output_dir = output.absolute(), output_dir.absolute()
    workdir = workdir.absolute() if workdir is not None else None
    json_path = json_path.absolute() if json_path is not None else None
    with _workdir(workdir if workdir is not None else output_dir) as work:
        built = _build_filesystems(inputs, work, seed=seed, epoch=epoch, slack_mib=slack_mib,
                                   max_rootfs_bytes=max_rootfs_bytes)
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
        disk_id = (str(table_.disk_guid) if scheme is pt.Scheme.GPT
                   else f"0x{table_.disk_id:08x}")
        xl_names = tuple(d.file_name for d in inputs.xl) if cfg.dom0_rootfs is not None else ()
        layout = DiskLayout(shown, scheme.value, disk_sectors * SECTOR, disk_id,
                            tuple(parts), xl_names, inputs.warnings)
        # The JSON waits as a temporary file and is renamed only after the image was.
        with OutputSet() as extra:
            if json_path is not None:
                extra.write(json_path, json.dumps(layout.to_model().to_json(), indent=2) + "\n")
            if svg_path is not None:
                extra.write(svg_path, render(layout.to_model(),
                                             title=f"{shown}: disk image layout"))
            with atomic_output(output) as out:
                fd = out.fileno()
                os.ftruncate(fd, disk_sectors * SECTOR)
                for offset, data in writes:
                    os.pwrite(fd, data, offset)
                for part, b in zip(parts, built, strict=True):
                    splice(b.image, fd, part.offset)
                    b.image.unlink()
    return layout

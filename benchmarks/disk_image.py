"""Benchmark: ``disk_image`` building a 64 MiB boot + 2 x 128 MiB rootfs disk, next to ``cp``.

Makes incompressible inputs in a temporary directory (boot files of 47 MiB as the reference
counts them, two rootfs
archives of 59 MiB each, slack 8 MiB, so the partitions come out at 64, 128 and 128 MiB),
runs the ``disk_image`` console script several times, and copies the finished image with
``cp`` (default, sparse-aware) and ``cp --sparse=never`` (every byte). Prints wall times,
the peak resident memory of the largest process in each run, and the ratio to ``cp``.

    python benchmarks/disk_image.py [--runs N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

MIB = 1 << 20


def _random_file(path: Path, size: int) -> None:
    with open(path, "wb") as fh:
        left = size
        while left:
            n = min(left, 4 * MIB)
            fh.write(os.urandom(n))
            left -= n


def _rootfs(path: Path, files: int) -> None:
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for i in range(files):
            info = tarfile.TarInfo(f"usr/lib/blob{i:03d}")
            info.size = MIB
            info.mtime = 1_600_000_000
            tar.addfile(info, io.BytesIO(os.urandom(MIB)))


def make_inputs(d: Path) -> Path:
    """Write the inputs and the ImageBuilder config into ``d``; return the config path."""
    _random_file(d / "Image", 20 * MIB)  # named twice (dom0 and domU): counted twice
    _random_file(d / "xen", 1 * MIB)
    _random_file(d / "virt.dtb", 64 * 1024)
    (d / "initrd").write_bytes(gzip.compress(b"070701" + os.urandom(6 * MIB - 6),
                                             compresslevel=1))
    (d / "boot.source").write_text("echo boot\n")
    (d / "boot.scr").write_bytes(b"\x27\x05\x19\x56" + bytes(76))
    _rootfs(d / "dom0.tar.gz", 59)
    _rootfs(d / "domu.tar.gz", 59)
    with open(d / "virt.dtb", "r+b") as fh:
        fh.write(b"\xd0\x0d\xfe\xed")
    cfg = d / "config"
    cfg.write_text(
        "MEMORY_START=0x40000000\nMEMORY_END=0xC0000000\nLOAD_CMD=\"load virtio 0:1\"\n"
        "DEVICE_TREE=virt.dtb\nXEN=xen\nDOM0_KERNEL=Image\nDOM0_RAMDISK=initrd\n"
        "DOM0_ROOTFS=dom0.tar.gz\nNUM_DOMUS=1\nDOMU_KERNEL[0]=Image\n"
        "DOMU_ROOTFS[0]=domu.tar.gz\nDOMU_NOBOOT[0]=1\n"
        "UBOOT_SOURCE=boot.source\nUBOOT_SCRIPT=boot.scr\n")
    return cfg


GNU_TIME = Path("/usr/bin/time")


def timed(argv: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS in KiB (largest process of the tree) of running ``argv``.

    The RSS comes from GNU time when it is installed: a process forked from this Python
    would report Python's own resident size as its peak. Without it the figure is an
    upper bound (wait4 on a direct child).
    """
    start = time.perf_counter()
    if GNU_TIME.is_file():
        proc = subprocess.run([str(GNU_TIME), "-f", "%M", *argv], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, check=False)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"failed: {' '.join(argv)}: {proc.stderr}")
        return elapsed, int(proc.stderr.strip().splitlines()[-1])
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(argv)}")
    return elapsed, usage.ru_maxrss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="work in DIR and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-disk-"))
    work.mkdir(parents=True, exist_ok=True)
    tool = Path(sys.executable).parent / "disk_image"
    try:
        inputs = work / "in"
        inputs.mkdir(exist_ok=True)
        cfg = make_inputs(inputs)
        image = work / "disk.img"
        builds = []
        for _ in range(args.runs):
            builds.append(timed([str(tool), "-c", str(cfg), "-d", str(inputs), "-o", str(image),
                                 "-s", "8", "--json", str(work / "disk.json")]))
        layout = json.loads((work / "disk.json").read_text())["detail"]
        sizes = [p["size"] // MIB for p in layout["partitions"]]
        copies = [timed(["cp", str(image), str(work / "copy.img")]) for _ in range(args.runs)]
        full = [timed(["cp", "--sparse=never", str(image), str(work / "copy.img")])
                for _ in range(args.runs)]
        build_t = statistics.median(t for t, _ in builds)
        cp_t = statistics.median(t for t, _ in copies)
        full_t = statistics.median(t for t, _ in full)
        data = sum(p["content_bytes"] for p in layout["partitions"])
        print(f"disk: {layout['size_bytes'] // MIB} MiB, partitions {sizes} MiB, "
              f"{data / MIB:.0f} MiB of file data")
        print(f"disk_image:          {build_t:7.3f} s (median of {args.runs}), "
              f"peak RSS {max(m for _, m in builds) / 1024:6.1f} MiB")
        print(f"cp (sparse-aware):   {cp_t:7.3f} s, peak RSS "
              f"{max(m for _, m in copies) / 1024:6.1f} MiB")
        print(f"cp --sparse=never:   {full_t:7.3f} s, peak RSS "
              f"{max(m for _, m in full) / 1024:6.1f} MiB")
        print(f"ratio disk_image / cp: {build_t / cp_t:5.2f}x; "
              f"/ cp --sparse=never: {build_t / full_t:5.2f}x (target: within 4x)")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: ``uboot-script-gen`` generation time for 1, 8 and 64 domUs, with the number
of subprocesses each run spawns.

Builds inputs in a temporary directory (a fake arm64 Image with a header, a gzip cpio, and
a DTB with /memory, /cpus and /chosen compiled with ``dtc``), then
times ``load_config`` + ``generate`` in-process (the work the console script does after
Python has started), counting every ``subprocess.Popen`` made during the run. Target: 64
domUs under 0.3 s with no subprocess on the default path. With ``--fit`` also times FIT
mode (one mkimage run expected; mkimage dominates, at most 2 runs) and with ``--cli``
the whole console script as a process. ``--processes`` times the 8- and 64-domU configs
as whole ``uboot-script-gen`` processes, plain and with ``-s`` (run-time addresses),
next to the floor of a bare ``python -c pass`` start-up; the reference ImageBuilder (a
bash script) is not installed here, so it is not timed.

    python benchmarks/xen_script.py [--runs N] [--fit] [--cli] [--processes]
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bootproof.builder.xen.config import load_config
from bootproof.builder.xen.config.overrides import with_overrides
from bootproof.builder.xen.generator import generate
from bootproof.builder.xen.steps import GenerateOptions

DTS = """/dts-v1/;
/ {
    #address-cells = <2>;
    #size-cells = <2>;
    compatible = "linux,dummy-virt";
    memory@40000000 { device_type = "memory"; reg = <0x0 0x40000000 0x2 0x0>; };
    cpus {
        #address-cells = <1>;
        #size-cells = <0>;
        cpu@0 { device_type = "cpu"; reg = <0x0>; phandle = <0x8001>; };
        cpu@1 { device_type = "cpu"; reg = <0x1>; phandle = <0x8002>; };
    };
    chosen { stdout-path = "/pl011@9000000"; };
};
"""


def make_inputs(root: Path) -> None:
    head = bytearray(64)
    struct.pack_into("<Q", head, 16, 0x1000000)
    head[56:60] = b"ARM\x64"
    (root / "Image").write_bytes(bytes(head) + bytes(0x800000 - 64))
    (root / "xen").write_bytes(bytes(head) + bytes(0xF0000 - 64))
    cpio = b"070701" + b"0" * 104 + b"TRAILER!!!\0"
    (root / "initrd.cpio.gz").write_bytes(gzip.compress(cpio + bytes(0x100000)))
    subprocess.run(["dtc", "-I", "dts", "-O", "dtb", "-o", str(root / "virt.dtb")],
                   input=DTS.encode(), check=True, capture_output=True)


def config_text(n: int) -> str:
    lines = [
        "MEMORY_START=0x40000000", "MEMORY_END=0x240000000", "DEVICE_TREE=virt.dtb",
        "XEN=xen", "DOM0_KERNEL=Image", "DOM0_RAMDISK=initrd.cpio.gz",
        'XEN_CMD="console=dtuart dom0_mem=512M bootscrub=0"', f"NUM_DOMUS={n}",
        "LOAD_CMD=tftpb", "UBOOT_SOURCE=boot.source", "UBOOT_SCRIPT=boot.scr",
    ]
    for i in range(n):
        lines += [f"DOMU_KERNEL[{i}]=Image", f"DOMU_RAMDISK[{i}]=initrd.cpio.gz",
                  f"DOMU_MEM[{i}]=128", f'DOMU_CMD[{i}]="console=ttyAMA0 marker=DOMU{i}"']
    return "\n".join(lines) + "\n"


class PopenCounter:
    """Counts subprocess.Popen constructions while installed."""

    def __init__(self) -> None:
        self.count = 0
        self._orig = subprocess.Popen

    def __enter__(self) -> PopenCounter:
        orig = self._orig
        counter = self

        class Counting(orig):  # type: ignore[valid-type, misc]
            def __init__(self, *a: Any, **k: Any) -> None:
                counter.count += 1
                super().__init__(*a, **k)

        subprocess.Popen = Counting  # type: ignore[misc]
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.Popen = self._orig  # type: ignore[misc]


def bench(root: Path, n: int, runs: int, fit: bool) -> tuple[list[float], int, int]:
    cfg_path = root / f"config-{n}"
    cfg_path.write_text(config_text(n))
    times = []
    spawned = 0
    size = 0
    for _ in range(runs):
        with PopenCounter() as counter:
            t0 = time.perf_counter()
            cfg = load_config(cfg_path, env={})
            if fit:
                cfg = with_overrides(cfg, output=f"fit{n}", fit=True)
            res = generate(cfg, root, GenerateOptions(env={"SOURCE_DATE_EPOCH": "0"}))
            times.append(time.perf_counter() - t0)
        spawned = counter.count
        size = len(res.source)
    return times, spawned, size


def _process_times(argv: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return times


def processes(root: Path, runs: int) -> None:
    """8 and 64 domUs, plain and ``-s``, as whole processes; the Python start-up floor."""
    exe = Path(sys.executable).parent / "uboot-script-gen"
    floor = statistics.median(_process_times([sys.executable, "-c", "pass"], runs))
    print(f"\nwhole processes (median of {runs}); floor: python -c pass {floor:.3f} s; the "
          "reference ImageBuilder is not installed here: not timed")
    print(f"{'domUs':>6}{'plain s':>10}{'-s s':>10}{'-s script lines':>17}")
    for n in (8, 64):
        cfg = root / f"config-{n}"
        cfg.write_text(config_text(n))
        base = [str(exe), "-c", str(cfg), "-d", str(root), "-o", f"proc{n}"]
        plain = statistics.median(_process_times(base, runs))
        calc = statistics.median(_process_times([*base, "-s"], runs))
        lines = len((root / f"proc{n}.source").read_text().splitlines())
        print(f"{n:>6}{plain:>10.3f}{calc:>10.3f}{lines:>17}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--fit", action="store_true", help="also time FIT mode (needs mkimage)")
    ap.add_argument("--cli", action="store_true", help="also time the console script process")
    ap.add_argument("--processes", action="store_true",
                    help="time 8 and 64 domUs as whole processes, plain and with -s")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bootproof-bench-") as tmp:
        root = Path(tmp)
        make_inputs(root)
        print(f"{'mode':<8}{'domUs':>6}{'median s':>11}{'min s':>9}{'max s':>9}"
              f"{'subprocesses':>14}{'script bytes':>14}")
        modes = ["script"] + (["fit"] if args.fit and shutil.which("mkimage") else [])
        worst64 = 0.0
        for mode in modes:
            for n in (1, 8, 64):
                runs = args.runs if mode == "script" else min(args.runs, 2)
                times, spawned, size = bench(root, n, runs, mode == "fit")
                med = statistics.median(times)
                if mode == "script" and n == 64:
                    worst64 = med
                print(f"{mode:<8}{n:>6}{med:>11.4f}{min(times):>9.4f}{max(times):>9.4f}"
                      f"{spawned:>14}{size:>14}")
        if args.cli:
            exe = Path(sys.executable).parent / "uboot-script-gen"
            t0 = time.perf_counter()
            subprocess.run([str(exe), "-c", str(root / "config-64"), "-d", str(root)],
                           check=True, capture_output=True)
            print(f"console script process, 64 domUs (incl. Python start-up): "
                  f"{time.perf_counter() - t0:.3f} s")
        verdict = "meets" if worst64 < 0.3 else "MISSES"
        print(f"64 domUs: {worst64:.4f} s median, {verdict} the 0.3 s target")
        if args.processes:
            processes(root, args.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: build an args.bin from a kernel plus 32 init programs totalling 64 MiB.

Not a test: it prints figures. It writes synthetic ELF32 RISC-V executables (large .text
and .data sections of pseudo-random bytes) into a temporary directory, then compares:

* ``cat`` of the same ELF files into one file (the floor: the bytes must be copied once);
* ``create-image`` run as a separate process (wall time and peak RSS from wait4);
* the same build in this process under tracemalloc (peak Python allocations).

Targets: build time within 3x of ``cat``; peak memory under 2x the output size.

Usage: python benchmarks/xous_build.py [--programs 32] [--total-mib 64] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import random
import struct
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

PAGE = 4096


def write_elf32(path: Path, sections: list[tuple[str, int, int, bytes | int]], entry: int) -> None:
    """Minimal little-endian ELF32 RISC-V executable: (name, addr, flags, data|nobits size)."""
    names = b"\0" + b"".join(n.encode() + b"\0" for n, *_ in sections) + b".shstrtab\0"
    with path.open("wb") as fh:
        fh.write(bytes(52))
        pos = 52
        placed = []
        for name, addr, flags, data in sections:
            pad = -pos % 16
            fh.write(bytes(pad))
            pos += pad
            if isinstance(data, bytes):
                fh.write(data)
                placed.append((name, addr, flags, pos, len(data), 1))
                pos += len(data)
            else:
                placed.append((name, addr, flags, pos, data, 8))
        shstr = pos
        fh.write(names)
        pos += len(names)
        pad = -pos % 4
        fh.write(bytes(pad))
        shoff = pos + pad
        fh.write(bytes(40))
        npos = 1
        for name, addr, flags, off, size, sh_type in placed:
            fh.write(struct.pack("<10I", npos, sh_type, flags, addr, off, size, 0, 0, 16, 0))
            npos += len(name) + 1
        fh.write(struct.pack("<10I", npos, 3, 0, 0, shstr, len(names), 0, 0, 1, 0))
        count = len(placed) + 2
        fh.seek(0)
        fh.write(b"\x7fELF" + bytes([1, 1, 1]) + bytes(9))
        fh.write(struct.pack("<HHIIIIIHHHHHH", 2, 243, 1, entry, 0, shoff, 0, 52, 0, 0, 40,
                             count, count - 1))


def make_inputs(directory: Path, programs: int, total: int) -> tuple[Path, list[Path]]:
    rng = random.Random(1234)
    per = total // programs  # the init programs carry the 64 MiB; the kernel is extra
    text_len = (per * 3 // 4) & ~15
    data_len = (per - text_len) & ~15
    kernel = directory / "kernel.elf"
    write_elf32(kernel, [
        (".text", 0xFFD00000, 0x6, rng.randbytes(min(text_len, 0x70000))),
        (".data", 0xFFD80000, 0x3, rng.randbytes(min(data_len, 0x10000))),
        (".bss", 0xFFD90000, 0x3, 0x1000),
    ], entry=0xFFD00000)
    inits = []
    for i in range(programs):
        p = directory / f"prog{i:02d}.elf"
        write_elf32(p, [
            (".text", 0x10000, 0x6, rng.randbytes(text_len)),
            (".data", 0x10000 + text_len + 0x1000, 0x3, rng.randbytes(data_len)),
            (".bss", 0x10000 + text_len + 0x1000 + data_len, 0x3, 0x4000),
        ], entry=0x10000)
        inits.append(p)
    return kernel, inits


def timed_child(argv: list[str], stdout: int | None = None) -> tuple[float, int]:
    """Run argv, return (seconds, peak RSS bytes) from wait4."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=stdout if stdout is not None else subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed with status {proc.returncode}")
    return elapsed, usage.ru_maxrss * 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--programs", type=int, default=32)
    ap.add_argument("--total-mib", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bootproof.builder.layout import AddressRange, NamedRange
    from bootproof.builder.xous.build import build_image
    from bootproof.builder.xous.regions import MemoryMap

    script = Path(sys.executable).parent / "create-image"
    with tempfile.TemporaryDirectory(prefix="xous-bench-") as tmp:
        d = Path(tmp)
        kernel, inits = make_inputs(d, args.programs, args.total_mib << 20)
        inputs = [kernel, *inits]
        in_bytes = sum(p.stat().st_size for p in inputs)
        out = d / "args.bin"
        argv = [str(script), str(out), "-k", str(kernel), "-r", "0x40000000:0x8000000", "-q"]
        for p in inits:
            argv += ["-i", str(p)]

        cat_times, build_times, rss = [], [], []
        for _ in range(args.repeat):
            with (d / "cat.bin").open("wb") as fh:
                t, _ = timed_child(["cat", *map(str, inputs)], stdout=fh.fileno())
            cat_times.append(t)
            out.unlink(missing_ok=True)  # time the build, not freeing the previous output
            t, peak = timed_child(argv)
            build_times.append(t)
            rss.append(peak)
        out_size = out.stat().st_size
        _, true_rss = timed_child([sys.executable, "-c", "import bootproof.builder.xous.cli"])

        mem = MemoryMap(NamedRange("SrIn", AddressRange(0x40000000, 0x8000000)), (), 0x8000)
        todo = [("IniE", p) for p in inits]
        inproc_times = []
        for _ in range(args.repeat):
            (d / "inproc.bin").unlink(missing_ok=True)
            t0 = time.perf_counter()
            build_image(d / "inproc.bin", kernel, todo, mem)
            inproc_times.append(time.perf_counter() - t0)
        inproc = min(inproc_times)
        tracemalloc.start()
        build_image(d / "inproc.bin", kernel, todo, mem)
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert (d / "inproc.bin").read_bytes() == out.read_bytes()
        startup = min(timed_child([sys.executable, "-c", "import bootproof.builder.xous.cli"])[0]
                      for _ in range(args.repeat))

    cat_t, build_t = min(cat_times), min(build_times)
    mib = 1 << 20
    print(f"inputs: kernel + {args.programs} init programs, {in_bytes / mib:.1f} MiB of ELF")
    print(f"output: {out_size / mib:.1f} MiB args.bin")
    print(f"cat of the inputs:          {cat_t:.3f} s (best of {args.repeat})")
    print(f"create-image (process):     {build_t:.3f} s (best of {args.repeat}) "
          f"= {build_t / cat_t:.2f}x cat")
    print(f"  of which interpreter start + imports: {startup:.3f} s")
    print(f"build_image (in process):   {inproc:.3f} s (best of {args.repeat}) "
          f"= {inproc / cat_t:.2f}x cat")
    print(f"peak RSS create-image:      {max(rss) / mib:.1f} MiB "
          f"({max(rss) / out_size:.2f}x output; bare interpreter + imports: "
          f"{true_rss / mib:.1f} MiB)")
    print(f"peak traced Python memory:  {traced_peak / mib:.2f} MiB "
          f"({traced_peak / out_size:.3f}x output)")
    ok_time = inproc <= 3 * cat_t
    ok_mem = max(rss) < 2 * out_size
    print(f"targets: in-process build within 3x cat: {'yes' if ok_time else 'NO'}; "
          f"peak memory under 2x output: {'yes' if ok_mem else 'NO'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

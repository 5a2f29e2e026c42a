"""What the harness costs per boot, compared with running QEMU by hand.

Boots a tiny RV32 test guest (tests/unit/harness/guests/pass.S prints four lines and stops
QEMU through the virt test finisher; chatty.S prints 256 KB first, to weigh the console's
reading and matching) N times through QemuMachine + Console, and N times
with a plain subprocess running the same board argv with ``-nographic``, reading its stdout
until the last marker line, then waiting for QEMU to exit. Runs alternate between the two
ways, and which goes first, so host noise hits both alike. Prints the mean and median wall
times and the overhead.

Usage: python benchmarks/harness_overhead.py [--runs N] [--guest pass|chatty] [--no-qmp]
Needs qemu-system-riscv32 and riscv64-unknown-elf-gcc.
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bootproof.harness.core.boards import load_board  # noqa: E402
from bootproof.harness.core.deadline import Deadline  # noqa: E402
from bootproof.harness.core.machine import QemuMachine  # noqa: E402
from bootproof.harness.core.toolchain import run_tool  # noqa: E402

GUESTS = ROOT / "tests" / "unit" / "harness" / "guests"
BOARD = ROOT / "tests" / "unit" / "harness" / "boards" / "rv32-virt-test.toml"
MARKER = b"GUEST DONE"


def build_guest(out: Path, name: str) -> Path:
    elf = out / f"{name}.elf"
    run_tool(["riscv64-unknown-elf-gcc", "-march=rv32imac", "-mabi=ilp32", "-nostdlib",
              "-nostartfiles", "-Wl,--no-warn-rwx-segments", "-T", GUESTS / "guest.ld",
              "-o", elf, GUESTS / "start.S", GUESTS / f"{name}.S"])
    return elf


def boot_harness(argv: Sequence[str], log_dir: Path, qmp: bool) -> float:
    t0 = time.perf_counter()
    with QemuMachine(argv, log_dir=log_dir, qmp=qmp) as machine:
        machine.console.expect("GUEST DONE", Deadline(30))
        status = machine.wait(30)
    elapsed = time.perf_counter() - t0
    if status != 0:
        raise SystemExit(f"harness boot: QEMU exit status {status}")
    return elapsed


def boot_plain(argv: Sequence[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.Popen([*argv, "-nographic"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert isinstance(proc.stdout, io.BufferedReader)
    seen = b""
    while True:
        chunk = proc.stdout.read1(65536)
        if not chunk:
            break
        seen = seen[-64:] + chunk  # enough to find a marker split across reads
        if MARKER in seen:
            break
    proc.communicate(timeout=30)
    elapsed = time.perf_counter() - t0
    if MARKER not in seen or proc.returncode != 0:
        raise SystemExit(f"plain boot failed: status {proc.returncode}, output {seen!r}")
    return elapsed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="boots per way (default 20)")
    parser.add_argument("--guest", choices=("pass", "chatty"), default="pass",
                        help="which guest to boot (default pass)")
    parser.add_argument("--no-qmp", action="store_true", help="harness boots without QMP")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bp-bench-") as tmp:
        out = Path(tmp)
        elf = build_guest(out, args.guest)
        qemu_argv = load_board(BOARD).argv(extra=["-kernel", str(elf)])
        boot_plain(qemu_argv)  # warm the page cache for both ways
        harness_t: list[float] = []
        plain_t: list[float] = []
        for i in range(args.runs):
            # alternate which way goes first, so neither always runs on a warmer machine
            if i % 2 == 0:
                harness_t.append(boot_harness(qemu_argv, out / f"run{i}", not args.no_qmp))
                plain_t.append(boot_plain(qemu_argv))
            else:
                plain_t.append(boot_plain(qemu_argv))
                harness_t.append(boot_harness(qemu_argv, out / f"run{i}", not args.no_qmp))

    def show(name: str, xs: list[float]) -> None:
        print(f"{name:<28} mean {statistics.mean(xs) * 1000:8.1f} ms   "
              f"median {statistics.median(xs) * 1000:8.1f} ms   "
              f"min {min(xs) * 1000:8.1f} ms")

    print(f"guest: tiny RV32 {args.guest!r} program, {args.runs} boots per way"
          f"{' (harness without QMP)' if args.no_qmp else ''}")
    show("plain subprocess", plain_t)
    show("QemuMachine + Console", harness_t)
    mean_over = (statistics.mean(harness_t) / statistics.mean(plain_t) - 1) * 100
    median_over = (statistics.median(harness_t) / statistics.median(plain_t) - 1) * 100
    print(f"overhead: {mean_over:+.1f} % (mean), {median_over:+.1f} % (median); "
          "target < 10 %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark: the bundled examples booted over and over while every core is kept busy.

Boot tests that pass on an idle machine and fail on a busy one (a console read that gives
up, a deadline that does not scale, a key typed after U-Boot's autoboot countdown ran out)
are the flaky tests of a CI farm. This script boots the Xous example (the loader model, the
test kernel and 3 init programs; every stage, the layout and the checksums checked) and the
Xen example (``examples/xen``: dom0 + 2 domUs through U-Boot and Xen) N times each, while a
busy loop per core (plain Python processes spinning at the same priority as the boots,
bounded in time and stopped by their PIDs) saturates the machine. Deadlines are the flows'
defaults scaled by ``BOOTPROOF_TIMEOUT_MULTIPLIER``, as for any boot.

Before the load starts it boots each kind ``--reference`` times on the unloaded machine:
the reference the loaded wall times are compared with. Prints, per kind: boots, passes,
failures by error class (with the first message of each class), wall time per boot (min,
median, max) loaded and unloaded, and the load actually applied (busy processes, the CPU
they got, the load average). Exit status 1 when any boot failed.

Usage: python benchmarks/boots_under_load.py [--kind xous|xen|both] [--xous N] [--xen N]
       [--load-procs P] [--reference R]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bootproof.harness.core.deadline import MULTIPLIER_ENV, timeout_multiplier
from bootproof.harness.core.processes import die_with_parent
from bootproof.harness.guests.build import build_loader
from bootproof.harness.xen.demo import prepare_demo
from bootproof.harness.xen.flow import run_boot
from bootproof.harness.xous.example import build_example, check_checksums
from bootproof.harness.xous.flow import boot_args

#: A busy loop that ends by itself after its bound, or as soon as its parent is gone.
_SPIN = """
import os, sys, time
end = time.monotonic() + float(sys.argv[1])
parent = os.getppid()
while time.monotonic() < end:
    for _ in range(200000):
        pass
    if os.getppid() != parent:
        break
"""


@dataclass
class Tally:
    """The outcome of one kind's boots."""

    kind: str
    walls: list[float] = field(default_factory=list)
    failures: dict[str, list[str]] = field(default_factory=dict)

    @property
    def passes(self) -> int:
        return len(self.walls) - sum(len(v) for v in self.failures.values())


@dataclass
class Load:
    """The busy processes, and what they got."""

    procs: list[subprocess.Popen[bytes]]
    started: float
    cpu_seconds: float = 0.0
    wall: float = 0.0
    loadavg: tuple[float, float, float] = (0.0, 0.0, 0.0)


def _cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def busy(procs: int, bound: float) -> Iterator[Load]:
    """``procs`` busy loops for at most ``bound`` seconds, stopped by PID on leaving."""
    load = Load([], time.monotonic())
    try:
        for _ in range(procs):
            load.procs.append(subprocess.Popen(
                [sys.executable, "-c", _SPIN, str(bound)], preexec_fn=die_with_parent))
        time.sleep(1.0)  # let them reach the scheduler's steady state
        yield load
    finally:
        load.wall = time.monotonic() - load.started
        load.loadavg = os.getloadavg()
        for proc in load.procs:
            if proc.poll() is None:
                with contextlib.suppress(OSError, IndexError, ValueError):
                    load.cpu_seconds += _cpu_seconds(proc.pid)
                proc.kill()
            proc.wait()


def run_boots(kind: str, count: int, boot: Callable[[Path], None], work: Path,
              tally: Tally) -> None:
    for i in range(count):
        start = time.monotonic()
        try:
            boot(work / f"{kind}-{len(tally.walls)}")
        except Exception as exc:  # anything a boot raises is a failure of its class
            tally.failures.setdefault(type(exc).__name__, []).append(str(exc).splitlines()[0])
        tally.walls.append(time.monotonic() - start)
        status = "ok" if len(tally.walls) - tally.passes == 0 else "FAILURES"
        print(f"  {kind} boot {i + 1}/{count}: {tally.walls[-1]:6.2f} s ({status})",
              file=sys.stderr, flush=True)


def _walls(values: list[float]) -> str:
    if not values:
        return "-"
    return (f"min {min(values):6.2f} s  median {statistics.median(values):6.2f} s  "
            f"max {max(values):6.2f} s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kind", choices=("xous", "xen", "both"), default="both")
    ap.add_argument("--xous", type=int, default=30, help="Xous boots under load (30)")
    ap.add_argument("--xen", type=int, default=10, help="Xen boots under load (10)")
    ap.add_argument("--load-procs", type=int, default=os.cpu_count() or 1,
                    help="busy processes (default: one per core)")
    ap.add_argument("--reference", type=int, default=1,
                    help="unloaded boots of each kind first (1)")
    ap.add_argument("--load-bound", type=float, default=1800.0,
                    help="the busy loops end by themselves after this many seconds (1800)")
    args = ap.parse_args()
    kinds = ("xous", "xen") if args.kind == "both" else (args.kind,)
    counts = {"xous": args.xous, "xen": args.xen}
    with tempfile.TemporaryDirectory(prefix="bootproof-load-") as tmp:
        work = Path(tmp)
        boots: dict[str, Callable[[Path], None]] = {}
        if "xous" in kinds:
            example = build_example(work / "xous-example", count=3, memory="csv")
            build_loader()  # cross-built once here, not inside the first timed boot
            expected = example.expected_layout()

            def xous(log_dir: Path) -> None:
                check_checksums(boot_args(example.args_bin, log_dir=log_dir,
                                          expected_layout=expected), example)
            boots["xous"] = xous
        if "xen" in kinds:
            demo = prepare_demo(work)

            def xen(log_dir: Path) -> None:
                run_boot(demo.generated, log_dir=log_dir)
            boots["xen"] = xen
        reference = {k: Tally(k) for k in kinds}
        loaded = {k: Tally(k) for k in kinds}
        for kind in kinds:
            run_boots(kind, args.reference, boots[kind], work / "ref", reference[kind])
        with busy(args.load_procs, args.load_bound) as load:
            for kind in kinds:
                run_boots(kind, counts[kind], boots[kind], work / "load", loaded[kind])
        print(f"Boots under load: {args.load_procs} busy-loop process(es) on "
              f"{os.cpu_count()} core(s) for {load.wall:.0f} s, which got "
              f"{load.cpu_seconds / max(load.wall, 1e-9):.2f} core(s) of CPU; load average "
              f"at the end {load.loadavg[0]:.2f}; {MULTIPLIER_ENV}="
              f"{timeout_multiplier():g}")
        for kind in kinds:
            ref, got = reference[kind], loaded[kind]
            print(f"  {kind}: {len(got.walls)} boots under load, {got.passes} passed, "
                  f"{len(got.walls) - got.passes} failed"
                  + (f" ({len(ref.walls) - ref.passes} of {len(ref.walls)} unloaded "
                     "reference boots failed)" if ref.passes != len(ref.walls) else ""))
            print(f"    wall per boot, loaded     {_walls(got.walls)}")
            print(f"    wall per boot, unloaded   {_walls(ref.walls)}")
            for tally, when in ((got, "loaded"), (ref, "unloaded")):
                for cls, messages in sorted(tally.failures.items()):
                    print(f"    {when} failure {cls} x{len(messages)}: {messages[0]}")
        failed = any(t.passes != len(t.walls) for t in (*loaded.values(), *reference.values()))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

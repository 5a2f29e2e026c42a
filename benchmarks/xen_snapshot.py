"""Benchmark: N tests from one snapshot against N cold boots (the bundled Xen example).

A "test" runs a command in dom0 and one in domU0 (the file check of
tests/e2e/test_xen_snapshot.py: ``ls`` of a file, then writing it). Measured in the same
run, one after the other:

* cold: N times a verified boot of examples/xen/config (every stage, the layout check),
  then the test on the live system;
* snapshot: one such boot that saves the machine (``--snapshot``), then N resumes of it,
  each running the test. The one boot and the save are counted in.

Prints each run, both totals, the state file's size and the speed-up (target: >= 5x).
Guest files come from the asset cache. Boots QEMU: run it under the QEMU lock.

The snapshot is made first; then cold boots and resumes alternate, so that both meet the
same load on a shared machine.

Usage: python benchmarks/xen_snapshot.py [--count N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bootproof.harness.core.deadline import Deadline
from bootproof.harness.core.machine import QemuMachine
from bootproof.harness.xen.flow import run_boot
from bootproof.harness.xen.generated import Generated, generate
from bootproof.harness.xen.guests import prepare_guest_set
from bootproof.harness.xen.scenarios import example_config
from bootproof.harness.xen.shells import DomainShells
from bootproof.harness.xen.snapshot import XenSnapshot, domain_ids, snapshot_steps

FILE = "/tmp/written-by-a-test"
TARGET = 5.0


def the_test(shells: DomainShells, deadline: Deadline) -> None:
    """The test: the file is absent in dom0 and domU0, then written in both."""
    for domain in ("dom0", "domU0"):
        res = shells.run(domain, f"ls {FILE}", deadline)
        if res.status == 0:
            raise SystemExit(f"{domain}: {FILE} is there: not a fresh state")
        shells.check(domain, f"echo x > {FILE}", deadline)


def cold(gen: Generated, log_dir: Path) -> float:
    """Seconds for a verified boot plus the test on the live system."""

    def test_step(machine: QemuMachine, deadline: Deadline) -> str:
        domids = domain_ids(gen, machine.console.log_text())
        the_test(DomainShells(machine.console, domids), deadline)
        return "test passed"

    start = time.perf_counter()
    run_boot(gen, log_dir=log_dir, at_end=[("test", test_step)])
    return time.perf_counter() - start


def from_snapshot(snap: XenSnapshot, log_dir: Path) -> float:
    """Seconds for a resume plus the test."""
    start = time.perf_counter()
    with snap.resume(log_dir) as xen:
        the_test(xen.shells, Deadline(120))
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=10, help="tests of each kind (default 10)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bootproof-snapshot-bench-") as tmp:
        work = Path(tmp)
        guests = prepare_guest_set(work / "guests", progress=sys.stderr)
        gen = generate(example_config(guests), guests.directory)
        start = time.perf_counter()
        run_boot(gen, log_dir=work / "boot", at_end=snapshot_steps(gen, work / "snap"))
        boot_and_save = time.perf_counter() - start
        snap = XenSnapshot.read(work / "snap")
        print(f"  boot + snapshot: {boot_and_save:6.2f} s (state {snap.state_bytes / 2**20:.0f}"
              f" MiB, saved in {snap.save_seconds:.2f} s)", flush=True)
        colds: list[float] = []
        resumes: list[float] = []
        for i in range(args.count):
            # interleaved, so that both kinds meet the same load on a shared machine
            colds.append(cold(gen, work / f"cold{i}"))
            resumes.append(from_snapshot(snap, work / f"resume{i}"))
            print(f"  test {i + 1}: cold boot + test {colds[-1]:6.2f} s, resume + test "
                  f"{resumes[-1]:5.2f} s", flush=True)
    total_cold = sum(colds)
    total_snap = boot_and_save + sum(resumes)
    print(f"\n{args.count} tests (a command in dom0 and in domU0 each), bundled Xen example")
    print(f"  cold boots:     total {total_cold:7.1f} s, median {statistics.median(colds):6.2f}"
          " s per test")
    print(f"  from snapshot:  total {total_snap:7.1f} s (boot + save {boot_and_save:.1f} s, "
          f"median {statistics.median(resumes):.2f} s per test)")
    ratio = total_cold / total_snap
    print(f"  speed-up, the one boot + save counted: {ratio:.1f}x  (target >= {TARGET:g}x: "
          f"{'met' if ratio >= TARGET else 'NOT met'})")
    print(f"  speed-up per test (boot + save left out): {total_cold / sum(resumes):.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

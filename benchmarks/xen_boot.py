"""Benchmark: Xen dom0less boot (scenario 1: dom0 + 2 domUs) under QEMU aarch64 + U-Boot.

Prints, over N interleaved runs (best-of-N and median):

* the wall time at which each verified stage passed (from the call that starts QEMU);
* the harness against the same QEMU command line driven by hand: a bare pexpect script that
  sends the same keys and waits for the same three marker lines, with no bad-pattern table,
  no echo checks, no QMP and no layout check. Compared: time to the last marker, and the
  harness's whole call (including the layout check and stopping QEMU). Target: under 10 %.
* with ``--suite``: the wall time of the whole Xen e2e suite
  (tests/e2e/test_xenboot_*.py) run with ``pytest -n 2`` and without.

Guest files come from the asset cache (fetched on the first run).

Usage: python benchmarks/xen_boot.py [--runs N] [--suite]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pexpect

from bootproof.harness.core.boards import load_board
from bootproof.harness.core.stages import Stage
from bootproof.harness.xen.flow import BOARD, boot_argv, run_boot, typed_line
from bootproof.harness.xen.generated import Generated, generate
from bootproof.harness.xen.guests import prepare_guest_set
from bootproof.harness.xen.initramfs import marker_pattern
from bootproof.harness.xen.scenarios import DomUSpec, scenario_config, write_scenario

MARKERS = ("DOM0", "DOMU1", "DOMU2")
ROOT = Path(__file__).resolve().parent.parent


def by_hand(gen: Generated) -> float:
    """Seconds from starting QEMU to the last marker, driven by a bare pexpect script."""
    argv = [*boot_argv(load_board(BOARD), gen.directory), "-nographic"]
    start = time.perf_counter()
    # as lean as pexpect goes: big reads, and each search only over the newest text
    child = pexpect.spawn(argv[0], argv[1:], encoding="utf-8", codec_errors="replace",
                          timeout=180, maxread=65536, searchwindowsize=4096)
    try:
        child.expect("Hit any key to stop autoboot")
        child.send(" ")
        child.expect("=> ")
        child.sendline(typed_line(gen))
        pending = [re.compile(marker_pattern(m)) for m in MARKERS]
        while pending:
            i = child.expect(pending)
            del pending[i]
        return time.perf_counter() - start
    finally:
        child.terminate(force=True)  # by its PID


def harness(gen: Generated, log_dir: Path) -> tuple[float, float, list[Stage]]:
    """(seconds to the last marker, seconds for the whole call, stages)."""
    last = 0.0
    start = time.perf_counter()

    def seen(stage: Stage) -> None:
        nonlocal last
        if stage.name.startswith("marker "):
            last = time.perf_counter() - start

    report = run_boot(gen, log_dir=log_dir, on_stage=seen)
    return last, time.perf_counter() - start, list(report.stages)


def suite(parallel: bool) -> float:
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "e2e").glob(
        "test_xenboot_*.py"))
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files]
    if parallel:
        argv += ["-n", "2"]
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    tail = proc.stdout.strip().splitlines()[-1:] or ["?"]
    print(f"    pytest {'-n 2' if parallel else '    '}: {elapsed:6.1f} s  ({tail[0]})")
    return elapsed


def _fmt(values: list[float]) -> str:
    return f"best {min(values):6.2f} s  median {statistics.median(values):6.2f} s"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--suite", action="store_true", help="also time the e2e suite")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bootproof-xen-bench-") as tmp:
        work = Path(tmp)
        guests = prepare_guest_set(work / "guests", progress=sys.stderr)
        cfg = write_scenario(guests, "bench", scenario_config(
            guests, domus=[DomUSpec("DOMU1", 256, 1), DomUSpec("DOMU2", 128, 2)]))
        gen = generate(cfg, guests.directory)
        hand: list[float] = []
        to_marker: list[float] = []
        total: list[float] = []
        stages: dict[str, list[float]] = {}
        for i in range(args.runs):
            # alternate which goes first, so neither always meets a cold or a warm machine
            if i % 2 == 0:
                hand.append(by_hand(gen))
            last, whole, st = harness(gen, work / f"logs{i}")
            if i % 2 == 1:
                hand.append(by_hand(gen))
            to_marker.append(last)
            total.append(whole)
            for s in st:
                key = "marker (each)" if s.name.startswith("marker ") else s.name
                key = "LOADING DOMU (each)" if key.startswith("LOADING DOMU") else key
                stages.setdefault(key, []).append(s.seconds)
            print(f"  run {i + 1}: by hand {hand[-1]:.2f} s, harness to last marker "
                  f"{last:.2f} s, harness total {whole:.2f} s", flush=True)
    print(f"\nXen dom0less scenario 1 (dom0 + 2 domUs), {args.runs} runs, Xen "
          f"{guests.xen_version}, Linux {guests.kernel_version}")
    print("  stage passed at (seconds since QEMU started):")
    for name, values in stages.items():
        print(f"    {name:26s} {_fmt(values)}")
    print("  harness vs by hand:")
    print(f"    by hand, last marker       {_fmt(hand)}")
    print(f"    harness, last marker       {_fmt(to_marker)}")
    print(f"    harness, whole call        {_fmt(total)}")
    for label, mine in (("last marker", to_marker), ("whole call", total)):
        best = 100.0 * (min(mine) - min(hand)) / min(hand)
        med = 100.0 * (statistics.median(mine) - statistics.median(hand)) / statistics.median(
            hand)
        print(f"    overhead ({label:11s})   best {best:+5.1f} %  median {med:+5.1f} %"
              "  (target < 10 %)")
    if args.suite:
        print("  Xen e2e suite wall time:")
        serial = suite(parallel=False)
        par = suite(parallel=True)
        print(f"    speed-up with -n 2: {serial / par:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

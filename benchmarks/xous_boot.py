"""Benchmark: Xous boot under the loader model, harness against QEMU run by hand.

For 1 and 8 init programs it builds the example args.bin, then measures (median of N runs):
* boot to last marker: from starting QEMU (through the harness) to the last init program's
  marker on the console;
* harness total: the whole ``boot_args`` call (launch, every stage, exit);
* by hand (pipe): the same QEMU command line with the serial port on stdout, run to its exit
  with ``subprocess.run`` and its output captured through a pipe;
* by hand (terminal): the same command with ``-nographic`` in a terminal, i.e. with its
  stdout on a pseudo-terminal read to the end (what a person typing it sees);
and prints the harness's overhead against both (target: under 10 %). Runs are interleaved;
each figure is shown as best-of-N (the intrinsic cost, robust on a busy machine) and as the
median. The harness reads the console through a pipe (harness/core/machine.py), so "by hand
(pipe)" is the like-for-like comparison; QEMU writes the guest's UART one character at a
time, which costs more on a terminal than on a pipe: compare the two hand-run columns.

Usage: python benchmarks/xous_boot.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bootproof.harness.core.boards import load_board
from bootproof.harness.guests.build import build_loader
from bootproof.harness.xous.example import build_example
from bootproof.harness.xous.flow import DEFAULT_BOARD, boot_args, flash_argv


def by_hand(argv: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run([*argv, "-display", "none", "-serial", "stdio", "-monitor", "none"],
                          capture_output=True, check=False, timeout=120)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0 or b"init programs reported" not in proc.stdout:
        raise SystemExit(f"hand-run QEMU failed (status {proc.returncode})")
    return elapsed


def by_hand_terminal(argv: list[str]) -> float:
    master, slave = os.openpty()
    start = time.perf_counter()
    proc = subprocess.Popen([*argv, "-nographic"], stdin=slave, stdout=slave,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    os.close(slave)
    out = b""
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side closed
                break
            if not chunk:
                break
            out += chunk
        status = proc.wait(timeout=120)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    elapsed = time.perf_counter() - start
    if status != 0 or b"init programs reported" not in out:
        raise SystemExit(f"hand-run QEMU (terminal) failed (status {status})")
    return elapsed


def harnessed(args_bin: Path, log_dir: Path) -> tuple[float, float]:
    marks: list[float] = []
    start = time.perf_counter()
    boot_args(args_bin, log_dir=log_dir,
              on_stage=lambda stage: marks.append(time.perf_counter()) if stage.name == "init"
              else None)
    total = time.perf_counter() - start
    return marks[-1] - start, total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    opts = parser.parse_args()
    board = load_board(DEFAULT_BOARD)
    loader = build_loader()
    print(f"{'programs':>8}  {'stat':>6}  {'to last marker':>14}  {'harness total':>13}  "
          f"{'by hand (pipe)':>14}  {'overhead':>8}  {'by hand (terminal)':>18}  "
          f"{'overhead':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for count in (1, 8):
            example = build_example(Path(tmp) / f"img{count}", count=count)
            argv = flash_argv(board, loader, example.args_bin)
            by_hand(argv)  # warm the page cache once
            harnessed(example.args_bin, Path(tmp) / "warm")
            hand, term, marker, total = [], [], [], []
            for i in range(opts.runs):
                hand.append(by_hand(argv))
                term.append(by_hand_terminal(argv))
                m, t = harnessed(example.args_bin, Path(tmp) / f"log{count}-{i}")
                marker.append(m)
                total.append(t)
            for stat, fn in (("best", min), ("median", statistics.median)):
                h, y, m, t = (fn(x) for x in (hand, term, marker, total))
                print(f"{count:>8}  {stat:>6}  {m * 1000:>11.1f} ms  {t * 1000:>10.1f} ms  "
                      f"{h * 1000:>11.1f} ms  {(t - h) / h * 100:>7.1f}%  "
                      f"{y * 1000:>15.1f} ms  {(t - y) / y * 100:>7.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Durations-based shards (pytest-split) of the e2e tests: for N = 1..4 the N selections
partition the e2e test IDs exactly, and every e2e test has a measured duration in the
committed durations file (``.test_durations``), so the shards are balanced by real figures."""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DURATIONS = ROOT / ".test_durations"


def collect(*args: str) -> list[str]:
    """The e2e test IDs pytest selects with ``args`` (collection only, nothing runs)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-m", "e2e", *args, "tests"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return [line for line in proc.stdout.splitlines() if "::" in line]


def test_shard_selections_partition_the_e2e_tests() -> None:
    runs = [()] + [("--splits", str(n), "--group", str(i), "--splitting-algorithm",
                    "least_duration")
                   for n in range(1, 5) for i in range(1, n + 1)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda a: collect(*a), runs))
    everything, shards = results[0], results[1:]
    assert len(everything) > 8
    assert len(set(everything)) == len(everything)
    pos = 0
    for n in range(1, 5):
        groups, pos = shards[pos:pos + n], pos + n
        union = [test for group in groups for test in group]
        assert all(groups), f"an empty shard among {n}"
        assert len(union) == len(set(union)), f"a test in two of {n} shards"
        assert sorted(union) == sorted(everything), f"{n} shards miss or add tests"


def test_every_e2e_test_has_a_measured_duration() -> None:
    durations = json.loads(DURATIONS.read_text())
    missing = [t for t in collect() if t not in durations]
    assert not missing
    assert all(isinstance(v, float) and v > 0 for v in durations.values())

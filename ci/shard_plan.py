"""Print the e2e tests' measured durations and the projected wall time of N shards.

Reads the durations file pytest-split writes (``pytest -m e2e --store-durations``,
``.test_durations`` by default), splits the tests as ``--splitting-algorithm
least_duration`` does, and prints two Markdown tables: every test's duration, and for 1, 2,
4 and 8 shards the slowest shard's sum (the matrix's wall time, before each job's set-up).
docs/ci.md shows this output; a test checks that it still matches the durations file.

Usage: python ci/shard_plan.py [DURATIONS_FILE]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pytest_split.algorithms import Algorithms

SHARD_COUNTS = (1, 2, 4, 8)


class _Item:
    """The one thing the algorithm reads from a pytest item: its node ID."""

    def __init__(self, nodeid: str) -> None:
        self.nodeid = nodeid

    def __str__(self) -> str:
        return self.nodeid


def shard_sums(durations: dict[str, float], shards: int) -> list[float]:
    """Each shard's summed duration, as least_duration splits ``durations``'s tests."""
    items = [_Item(nodeid) for nodeid in sorted(durations)]
    groups = Algorithms["least_duration"].value(shards, items, durations)
    return [group.duration for group in groups]


def tables(durations: dict[str, float]) -> str:
    """The two Markdown tables (see the module docstring)."""
    lines = ["| e2e test | seconds |", "|---|---:|"]
    for nodeid, seconds in sorted(durations.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"| `{nodeid}` | {seconds:.1f} |")
    lines += ["", "| shards | slowest shard (s) | fastest shard (s) |", "|---:|---:|---:|"]
    for n in SHARD_COUNTS:
        sums = shard_sums(durations, n)
        lines.append(f"| {n} | {max(sums):.0f} | {min(sums):.0f} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    path = Path(argv[0] if argv else ".test_durations")
    durations = json.loads(path.read_text())
    print(tables(durations))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

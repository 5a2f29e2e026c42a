"""Benchmark: the console scripts as whole processes (interpreter start, imports, job, exit).

Not a test: it prints figures, each measured against its reference or floor in the same run.
The project's ``.pyc`` files are compiled first (and the children may write missing ones), so
what is timed is a warm start as users have it after installing.

* ``uboot-script-gen`` on an 8-domU config (inputs from ``xen_script.py``) next to
  ImageBuilder's own ``uboot-script-gen`` (a bash script; it needs ``mkimage``, ``file`` and
  ``fdtput``). The reference is not part of bootproof: give its path with ``--imagebuilder``
  or ``$IMAGEBUILDER`` (``scripts/uboot-script-gen`` in an ImageBuilder checkout). Without it
  the ratio is not reported. Target: at least 15x faster than ImageBuilder (the issue
  measured ImageBuilder at 1.05 s, hence also: at most 70 ms).
* ``create-image`` with a kernel and 32 init programs, 64 MiB of ELF (inputs from
  ``xous_build.py``) next to ``cat`` of the same files. Target: at most 3x ``cat``.
* ``bootproof --help``. Target: at most 60 ms.
* The floor: ``python -c pass`` with the same interpreter and site (an editable install
  adds its import finder to every start; an installed wheel does not).

Times are the best of ``--runs`` wall times, with the median and the best CPU time (user +
system; less disturbed than wall time when the machine is shared) next to them.
``--importtime`` adds, for each command, the imports that cost most
(``python -X importtime``): self time and the cumulative time of top-level imports.

    python benchmarks/startup.py [--runs N] [--imagebuilder PATH] [--importtime]
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import xen_script  # the input generators of the sibling benchmarks
import xous_build

BIN = Path(sys.executable).parent
TARGET_SCRIPT_RATIO = 15.0
TARGET_SCRIPT_SECONDS = 0.070
TARGET_CAT_RATIO = 3.0
TARGET_HELP_SECONDS = 0.060


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def compile_project() -> None:
    """Write the .pyc of every bootproof module (they may be missing in a source tree)."""
    for name in ("bootproof.builder", "bootproof.harness"):
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.submodule_search_locations is not None
        for location in spec.submodule_search_locations:
            compileall.compile_dir(location, quiet=1)


class Timing:
    """Best and median wall time of a command's runs, and its best CPU time (user + system
    of the process and its children: less sensitive than wall time to a shared machine)."""

    def __init__(self, wall: Sequence[float], cpu: Sequence[float]) -> None:
        self.best = min(wall)
        self.median = statistics.median(wall)
        self.cpu = min(cpu)

    def __str__(self) -> str:
        return (f"{self.best * 1000:7.1f} ms  (median {self.median * 1000:.1f}, "
                f"CPU {self.cpu * 1000:.1f})")


def best_of(runs: int, argv: Sequence[str], *, cwd: Path | None = None,
            stdout: Path | None = None, before: Path | None = None) -> Timing:
    """Run ``argv`` once to warm up, then ``runs`` times.

    ``stdout`` receives the output (else it is discarded); ``before`` is deleted before
    each run (a command's output file, so that replacing it is not timed).
    """
    wall, cpu = [], []
    for i in range(runs + 1):
        if before is not None:
            before.unlink(missing_ok=True)
        with (stdout.open("wb") if stdout is not None else open(os.devnull, "wb")) as out:
            usage = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(list(argv), cwd=cwd, stdout=out, stderr=subprocess.PIPE,
                           env=child_env(), check=True)
            elapsed = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if i:
            wall.append(elapsed)
            cpu.append(after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime)
    return Timing(wall, cpu)


_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)")


def import_offenders(argv: Sequence[str], *, cwd: Path | None = None, top: int = 8) -> str:
    """The costliest imports of ``python -X importtime ARGV`` (self and top-level cumulative)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", *argv], cwd=cwd,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env=child_env(), check=True)
    rows = []
    for line in proc.stderr.splitlines():
        m = _IMPORT_LINE.match(line)
        if m:
            rows.append((int(m.group(1)), int(m.group(2)), len(m.group(3)) // 2, m.group(4)))
    total = sum(r[0] for r in rows) / 1000
    by_self = sorted(rows, reverse=True)[:top]
    outer = sorted((r for r in rows if r[2] <= 1), key=lambda r: -r[1])[:top]
    lines = [f"    {len(rows)} modules imported, {total:.1f} ms in all (importtime's own figures)",
             "    most self time:   " + ", ".join(f"{n} {s / 1000:.1f}" for s, _, _, n in by_self),
             "    most cumulative:  " + ", ".join(f"{n} {c / 1000:.1f}" for _, c, _, n in outer)]
    return "\n".join(lines)


def find_imagebuilder(given: str | None) -> tuple[Path | None, str]:
    """The reference script and why it cannot run, when it cannot."""
    path = given or os.environ.get("IMAGEBUILDER")
    if not path:
        return None, "no reference given (--imagebuilder PATH or $IMAGEBUILDER)"
    script = Path(path)
    if script.is_dir():
        script = script / "scripts" / "uboot-script-gen"
    if not script.is_file():
        return None, f"{script} does not exist"
    missing = [t for t in ("bash", "mkimage", "file", "fdtput") if shutil.which(t) is None]
    if missing:
        return None, f"it needs {', '.join(missing)}"
    return script, ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--imagebuilder", metavar="PATH",
                    help="ImageBuilder's scripts/uboot-script-gen (or its checkout)")
    ap.add_argument("--importtime", action="store_true",
                    help="also show each command's costliest imports")
    args = ap.parse_args()
    compile_project()
    reference, why_not = find_imagebuilder(args.imagebuilder)
    verdicts = []
    with tempfile.TemporaryDirectory(prefix="bootproof-startup-") as tmp:
        root = Path(tmp)

        floor = best_of(args.runs, [sys.executable, "-c", "pass"])
        print(f"python -c pass (floor):          {floor}")

        ours_dir, ref_dir = root / "ours", root / "imagebuilder"
        for d in (ours_dir, ref_dir):
            d.mkdir()
            xen_script.make_inputs(d)
            (d / "config").write_text(xen_script.config_text(8))
        usg = [str(BIN / "uboot-script-gen"), "-c", "config", "-d", "."]
        ours = best_of(args.runs, usg, cwd=ours_dir)
        print(f"uboot-script-gen, 8 domUs:       {ours}")
        if reference is not None:
            ref = best_of(args.runs, ["bash", str(reference), "-c", "config", "-d", "."],
                          cwd=ref_dir)
            print(f"ImageBuilder's uboot-script-gen: {ref} -> bootproof "
                  f"{ref.best / ours.best:.1f}x faster (CPU {ref.cpu / ours.cpu:.1f}x)")
            verdicts.append(("uboot-script-gen >= 15x faster than ImageBuilder",
                             ref.best / ours.best >= TARGET_SCRIPT_RATIO))
        else:
            print(f"ImageBuilder's uboot-script-gen: not run: {why_not}")
        verdicts.append(("uboot-script-gen <= 70 ms (15x the issue's 1.05 s ImageBuilder)",
                         ours.best <= TARGET_SCRIPT_SECONDS))

        xous_dir = root / "xous"
        xous_dir.mkdir()
        kernel, inits = xous_build.make_inputs(xous_dir, 32, 64 << 20)
        out = xous_dir / "args.bin"
        create = [str(BIN / "create-image"), str(out), "-k", str(kernel),
                  "-r", "0x40000000:0x8000000", "-q"]
        for p in inits:
            create += ["-i", str(p)]
        cat = best_of(args.runs, ["cat", str(kernel), *map(str, inits)],
                      stdout=xous_dir / "cat.bin", before=xous_dir / "cat.bin")
        build = best_of(args.runs, create, before=out)
        print(f"cat of kernel + 32 programs:     {cat}")
        print(f"create-image, same inputs:       {build} = {build.best / cat.best:.2f}x cat")
        verdicts.append(("create-image <= 3x cat", build.best / cat.best <= TARGET_CAT_RATIO))

        helptime = best_of(args.runs, [str(BIN / "bootproof"), "--help"])
        print(f"bootproof --help:                {helptime}")
        verdicts.append(("bootproof --help <= 60 ms", helptime.best <= TARGET_HELP_SECONDS))

        if args.importtime:
            for title, argv, cwd in (("uboot-script-gen", usg, ours_dir),
                                     ("create-image", create, None),
                                     ("bootproof --help", [str(BIN / "bootproof"), "--help"],
                                      None)):
                print(f"imports of {title}:")
                print(import_offenders(argv, cwd=cwd))
    for name, ok in verdicts:
        print(f"target {name}: {'met' if ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

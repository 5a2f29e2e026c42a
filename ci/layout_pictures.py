"""Draw the README's memory-map pictures: the layouts of the two bundled examples, built
as ``bootproof demo`` builds them (nothing is booted), rendered by
``bootproof.builder.layout.svg``.

* ``docs/images/xous-example.svg``: the Xous example's args.bin (our test kernel and three
  init programs, packed with the riscv32 virt board's csr.csv);
* ``docs/images/xen-example.svg``: the Xen example (``examples/xen/config``: Xen, dom0 and
  two dom0less domUs) as ``uboot-script-gen`` places it in RAM.

Building them needs what the demo needs: the riscv64 cross compiler and the Xen guest
assets (``ci/setup.sh`` installs and caches both). A test checks that the committed
pictures are this script's output.

Usage: python ci/layout_pictures.py [--check]
  (--check: write nothing; exit 1 naming each picture that differs from the committed one)
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from bootproof.builder.fileio import OutputSet
from bootproof.builder.layout.svg import render
from bootproof.harness.xen.generated import generate
from bootproof.harness.xen.guests import prepare_guest_set
from bootproof.harness.xen.scenarios import example_config
from bootproof.harness.xous.example import build_example

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
XOUS = "xous-example.svg"
XEN = "xen-example.svg"


def pictures(workdir: Path) -> dict[str, str]:
    """Each picture's SVG text by file name, the examples built under ``workdir``."""
    xous = build_example(workdir / "xous")
    xous_layout = xous.expected_layout().to_model(data=xous.args_bin.read_bytes())
    guests = prepare_guest_set(workdir / "xen", progress=None)
    xen_layout = generate(example_config(guests), guests.directory).layout.to_model()
    return {
        XOUS: render(xous_layout, title="Xous example: args.bin and the memory it describes"),
        XEN: render(xen_layout, title="Xen example: dom0 and two dom0less domUs in RAM"),
    }


def main(argv: list[str]) -> int:
    check = argv == ["--check"]
    if argv and not check:
        print(__doc__, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="layout-pictures-") as tmp:
        drawn = pictures(Path(tmp))
    if check:
        stale = [name for name, svg in drawn.items()
                 if not (IMAGES / name).exists()
                 or (IMAGES / name).read_text(encoding="utf-8") != svg]
        for name in stale:
            print(f"docs/images/{name} differs from ci/layout_pictures.py's output",
                  file=sys.stderr)
        return 1 if stale else 0
    IMAGES.mkdir(parents=True, exist_ok=True)
    with OutputSet() as out:
        for name, svg in drawn.items():
            out.write(IMAGES / name, svg)
            print(f"wrote docs/images/{name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

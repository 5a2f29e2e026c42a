"""The Xen demo's set-up: the bundled example (dom0 + 2 domUs) generated in a guest directory.

``bootproof demo`` (:mod:`bootproof.harness.demo`) prepares it here, boots it with
:func:`bootproof.harness.xen.flow.run_boot` and prints each stage; nothing here prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bootproof.harness.xen.generated import Generated, generate
from bootproof.harness.xen.guests import GuestSet, prepare_guest_set
from bootproof.harness.xen.scenarios import example_config


@dataclass(frozen=True)
class XenDemo:
    """A generated demo set: its guest files, the generated boot and where logs go."""

    guests: GuestSet
    generated: Generated
    log_dir: Path


def prepare_demo(workdir: Path, *, offline: bool = False) -> XenDemo:
    """Fill ``workdir/xen-demo`` with the guest files (from the asset cache: a second run
    needs no network) and generate the bundled example there with our uboot-script-gen.

    Raises what :func:`~bootproof.harness.xen.guests.prepare_guest_set` and
    :func:`~bootproof.harness.xen.generated.generate` raise (missing tools, assets that
    cannot be fetched, a config that does not generate).
    """
    guests = prepare_guest_set(workdir / "xen-demo", offline=offline)
    gen = generate(example_config(guests), guests.directory)
    return XenDemo(guests=guests, generated=gen, log_dir=workdir / "xen-demo" / "logs")

"""Boot stages: what a flow reports as each step of a boot is verified.

Both boot flows (:mod:`bootproof.harness.xous.flow`, :mod:`bootproof.harness.xen.flow`)
call an optional ``on_stage(Stage)`` callback as each stage passes and return the stages in
their result; flows never print, the command lines and the demo do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Stage:
    """A verified stage and when it passed (seconds since QEMU started)."""

    name: str
    seconds: float
    detail: str = ""


StageCallback = Callable[[Stage], None]

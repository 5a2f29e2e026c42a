"""Address arithmetic every layout shares: plain data, no I/O.

The home of the layout model the builders produce and the harness compares with a booted
guest. It holds only values and pure functions, so byte formats (``builder.formats``) may
use it as freely as the planners do.
"""

from __future__ import annotations


def align_up(value: int, align: int, phase: int = 0) -> int:
    """The smallest ``n >= value`` with ``n % align == phase``.

    ``phase`` 0 is the plain round-up to a multiple of ``align``; another phase places a
    payload at the same offset within a page as the address it runs at (Xous XIP programs).
    ``align`` need not be a power of two. Raises :class:`ValueError` for an ``align`` below 1
    or a ``phase`` outside ``0 .. align - 1``.
    """
    if align < 1 or not 0 <= phase < align:
        raise ValueError(f"align_up: align {align} must be positive and phase {phase} "
                         "below it")
    return value + (phase - value) % align

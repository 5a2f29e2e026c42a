"""Deadlines handed through multi-stage waits.

A :class:`Deadline` is a point in time (on the monotonic clock), not a duration, so a boot that
waits for several things in a row shares one budget: each wait asks ``remaining()`` instead of
restarting its own timer. Every budget is multiplied by the timeout multiplier (slow CI
machines set ``BOOTPROOF_TIMEOUT_MULTIPLIER=3``, or pytest ``--timeout-multiplier 3``).
"""

from __future__ import annotations

import math
import os
import time

from bootproof.builder.errors import ConfigError

MULTIPLIER_ENV = "BOOTPROOF_TIMEOUT_MULTIPLIER"


def parse_multiplier(text: str, *, field: str = MULTIPLIER_ENV) -> float:
    """Parse a timeout multiplier: a finite number greater than zero.

    Raises :class:`~bootproof.builder.errors.ConfigError` naming ``field`` and the value otherwise.
    """
    try:
        value = float(text)
    except ValueError:
        raise ConfigError("timeout multiplier must be a number", field=field,
                          value=text) from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError("timeout multiplier must be a finite number > 0", field=field,
                          value=text)
    return value


def timeout_multiplier() -> float:
    """The multiplier from ``BOOTPROOF_TIMEOUT_MULTIPLIER``, or 1.0 when it is unset or empty.

    Raises :class:`~bootproof.builder.errors.ConfigError` when the variable is set to a bad value.
    """
    text = os.environ.get(MULTIPLIER_ENV, "").strip()
    return parse_multiplier(text) if text else 1.0


class Deadline:
    """A moment ``seconds * multiplier`` from now.

    ``multiplier`` defaults to :func:`timeout_multiplier`. ``seconds`` must be >= 0
    (``math.inf`` means never).
    """

    __slots__ = ("_end", "multiplier", "seconds")

    def __init__(self, seconds: float, multiplier: float | None = None) -> None:
        if seconds < 0 or math.isnan(seconds):
            raise ValueError(f"deadline seconds must be >= 0, got {seconds!r}")
        self.multiplier = timeout_multiplier() if multiplier is None else multiplier
        if self.multiplier <= 0:
            raise ValueError(f"timeout multiplier must be > 0, got {self.multiplier!r}")
        #: The scaled budget in seconds, as given when the deadline was made.
        self.seconds = seconds * self.multiplier
        self._end = time.monotonic() + self.seconds

    def remaining(self) -> float:
        """Seconds left (never negative; ``math.inf`` for an unbounded deadline)."""
        return max(0.0, self._end - time.monotonic())

    @property
    def expired(self) -> bool:
        """True once the moment has passed."""
        return time.monotonic() >= self._end

    def child(self, seconds: float) -> Deadline:
        """A deadline ``seconds`` (scaled by the same multiplier) from now, but never later
        than this one: the smaller of the two."""
        sub = Deadline(seconds, self.multiplier)
        if self._end < sub._end:
            sub._end = self._end
            sub.seconds = max(0.0, self._end - time.monotonic())
        return sub

    def __repr__(self) -> str:
        return (
            f"Deadline({self.seconds:.3f}s scaled x{self.multiplier:g}, "
            f"{self.remaining():.3f}s left)"
        )

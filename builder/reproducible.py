"""``SOURCE_DATE_EPOCH``: the one rule for build timestamps.

Read the way the reproducible-builds specification defines the variable: a decimal count of
seconds since 1970 (no sign, no ``0x``). Every output that records a time (uImage and FIT
headers, FAT and ext4 file systems, GUIDs derived from it) takes it from here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping

from bootproof.builder.errors import InputError

VARIABLE = "SOURCE_DATE_EPOCH"


def source_date_epoch(env: Mapping[str, str] | None = None, *, default: int | None = None) -> int:
    """The value of ``SOURCE_DATE_EPOCH`` in ``env`` (default: the process environment).

    When it is unset or empty: ``default`` if given, else the current time. Raises
    :class:`InputError` naming the variable when it is not a decimal integer.
    """
    environ = os.environ if env is None else env
    text = environ.get(VARIABLE, "").strip()
    if not text:
        return int(time.time()) if default is None else default
    try:
        if not (text.isascii() and text.isdigit()):  # str.isdigit() also takes "²", "١"
            raise ValueError(text)
        return int(text)  # ValueError past 4300 digits
    except ValueError:
        raise InputError("must be a non-negative decimal integer (seconds since 1970)",
                         field=VARIABLE, value=text) from None

"""bootproof's version, read from the installed distribution's metadata.

``pyproject.toml`` is the one place the version is written; the build puts it into the
metadata, and this module reads it back at run time.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as distribution_version

DISTRIBUTION = "bootproof"


def version() -> str:
    """The installed ``bootproof`` distribution's version (``0+unknown`` when the code runs
    from a tree that was never installed, which has no metadata to read)."""
    try:
        return distribution_version(DISTRIBUTION)
    except PackageNotFoundError:
        return "0+unknown"

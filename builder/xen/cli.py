"""Placeholder: subcommands not written yet."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:  # argparse._SubParsersAction
    """Add this area's subcommands (none yet)."""
    del subparsers


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser().parse_args(argv)
    return 0

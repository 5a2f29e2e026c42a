"""Deadline arithmetic and the timeout multiplier."""

from __future__ import annotations

import math
import time

import pytest

from bootproof.builder.errors import ConfigError
from bootproof.harness.core.deadline import (
    MULTIPLIER_ENV,
    Deadline,
    parse_multiplier,
    timeout_multiplier,
)


def test_multiplier_defaults_to_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MULTIPLIER_ENV, raising=False)
    assert timeout_multiplier() == 1.0
    assert Deadline(10).seconds == 10


def test_multiplier_from_environment_scales_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MULTIPLIER_ENV, "2.5")
    d = Deadline(4)
    assert d.multiplier == 2.5
    assert d.seconds == 10.0
    assert 9.0 < d.remaining() <= 10.0


def test_explicit_multiplier_wins_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(MULTIPLIER_ENV, "5")
    assert Deadline(2, multiplier=1.0).seconds == 2


@pytest.mark.parametrize("text", ["0", "-1", "abc", "nan", "inf"])
def test_bad_multiplier_names_the_variable(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv(MULTIPLIER_ENV, text)
    with pytest.raises(ConfigError) as info:
        timeout_multiplier()
    assert MULTIPLIER_ENV in str(info.value) and text in str(info.value)


def test_parse_multiplier_field_name() -> None:
    with pytest.raises(ConfigError, match="--timeout-multiplier"):
        parse_multiplier("x", field="--timeout-multiplier")
    assert parse_multiplier("0.5") == 0.5


def test_expiry_and_remaining_never_negative() -> None:
    d = Deadline(0.5, multiplier=1.0)  # wide enough that a busy machine cannot expire it here
    assert not d.expired
    time.sleep(0.55)
    assert d.expired
    assert d.remaining() == 0.0


def test_child_is_the_smaller_of_the_two() -> None:
    parent = Deadline(1.0, multiplier=1.0)
    assert parent.child(100).remaining() <= 1.0
    short = parent.child(0.2)
    assert short.remaining() <= 0.2
    assert short.remaining() < parent.remaining()


def test_child_uses_parent_multiplier() -> None:
    parent = Deadline(100, multiplier=3.0)
    assert parent.child(2).seconds == 6.0


def test_unbounded_deadline() -> None:
    d = Deadline(math.inf, multiplier=1.0)
    assert d.remaining() == math.inf
    assert not d.expired


def test_negative_seconds_rejected() -> None:
    with pytest.raises(ValueError):
        Deadline(-1, multiplier=1.0)

"""The co-teaching schedule R(t) = 1 - τ·min(t/T_k, 1) (no torch needed)."""

from __future__ import annotations

import pytest

from mislabel.exceptions import InvalidParameterError
from mislabel.train import keep_rate
from mislabel.train._schedule import check_schedule, n_keep


def test_keep_rate_ramps_to_one_minus_tau() -> None:
    rates = [keep_rate(t, 0.4, 4) for t in range(7)]
    assert rates == pytest.approx([1.0, 0.9, 0.8, 0.7, 0.6, 0.6, 0.6])


def test_warmup_delays_the_ramp() -> None:
    assert [keep_rate(t, 0.5, 1, warmup_epochs=2) for t in range(4)] == [1.0, 1.0, 1.0, 0.5]


def test_t_k_zero_drops_right_away_and_zero_rate_keeps_all() -> None:
    assert keep_rate(1, 0.3, 0) == pytest.approx(0.7)
    assert keep_rate(10, 0.0, 3) == 1.0


def test_n_keep_rounds_and_keeps_at_least_one() -> None:
    assert n_keep(0.6, 10) == 6
    assert n_keep(0.01, 10) == 1
    assert n_keep(1.0, 7) == 7


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"forget_rate": 1.0, "t_k": 10, "warmup_epochs": 0}, "forget_rate"),
        ({"forget_rate": -0.1, "t_k": 10, "warmup_epochs": 0}, "forget_rate"),
        ({"forget_rate": 0.2, "t_k": -1, "warmup_epochs": 0}, "t_k"),
        ({"forget_rate": 0.2, "t_k": 2, "warmup_epochs": 1.5}, "warmup_epochs"),
    ],
)
def test_bad_schedule_settings_raise(kwargs, match) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        check_schedule(**kwargs)

"""The market-entry check in R (core/rules/entry.py); every expected value worked by hand."""

from __future__ import annotations

import pytest

from core.models import Side, SignalLevels
from core.rules.entry import DRIFTED, PAST_STOP, PAST_TARGET, drift_r, entry_refusal, limit_refusal

# Long: entry 100, stop 96 -> R = 4; a quarter of R is 1.0.
LONG = SignalLevels(Side.LONG, 100.0, 96.0, 108.0, 116.0)
# Short: entry 50, stop 52.5 -> R = 2.5; a quarter of R is 0.625.
SHORT = SignalLevels(Side.SHORT, 50.0, 52.5, 45.0, 40.0)


@pytest.mark.parametrize(
    ("levels", "price", "expected"),
    [
        (LONG, 100.0, None),
        (LONG, 100.8, None),  # 0.8 % up, 0.2 R: taken (the old 1 % rule took it too)
        (LONG, 101.0, None),  # exactly 0.25 R: the limit is inclusive
        (LONG, 101.01, DRIFTED),  # 0.2525 R
        (LONG, 99.0, None),  # 0.25 R toward the stop
        (LONG, 98.9, DRIFTED),  # 0.275 R toward the stop
        (LONG, 96.0, PAST_STOP),  # at the stop
        (LONG, 108.0, PAST_TARGET),  # at TP1
        (SHORT, 49.4, None),  # 0.24 R down (1.2 %: the old rule refused it)
        (SHORT, 50.625, None),  # 0.25 R up
        (SHORT, 50.7, DRIFTED),  # 0.28 R
        (SHORT, 52.5, PAST_STOP),
        (SHORT, 44.0, PAST_TARGET),
    ],
)
def test_a_market_entry_is_allowed_within_a_quarter_of_r(levels: SignalLevels, price: float, expected: str) -> None:
    assert entry_refusal(levels, price, 0.25) == expected


def test_the_allowance_scales_with_the_setting_and_the_drift_is_measured_in_r() -> None:
    assert drift_r(LONG, 102.0) == pytest.approx(0.5)  # 2 / 4
    assert drift_r(SHORT, 49.0) == pytest.approx(0.4)  # 1 / 2.5
    assert entry_refusal(LONG, 102.0, 0.25) == DRIFTED
    assert entry_refusal(LONG, 102.0, 0.5) is None
    assert entry_refusal(LONG, 102.0, 0.49) == DRIFTED


def test_a_wide_stop_allows_a_move_the_old_one_percent_rule_refused() -> None:
    # Entry 100, stop 88 (R = 12, a 12 % stop): 0.25 R is 3.0, so 0.8 % and 2.9 % both pass.
    wide = SignalLevels(Side.LONG, 100.0, 88.0, 118.0, 130.0)
    assert entry_refusal(wide, 100.8, 0.25) is None
    assert entry_refusal(wide, 102.9, 0.25) is None
    assert entry_refusal(wide, 103.1, 0.25) == DRIFTED


def test_a_limit_at_the_entry_is_refused_only_past_the_stop() -> None:
    assert limit_refusal(LONG, 110.0) is None  # beyond TP1: waits for the price to come back
    assert limit_refusal(LONG, 97.0) is None  # below the entry: fills at once, better
    assert limit_refusal(LONG, 96.0) == PAST_STOP
    assert limit_refusal(SHORT, 52.0) is None
    assert limit_refusal(SHORT, 52.6) == PAST_STOP

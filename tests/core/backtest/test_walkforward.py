"""The walk-forward cannot fool itself: test windows never overlap their train windows,
choices see train-window trades only, the plateau beats a lone peak, and the bootstrap
interval matches hand-worked cases."""

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from core.backtest.research.stats import bootstrap_mean_interval, daily_sharpe
from core.backtest.research.walkforward import (
    Grid,
    choose_per_window,
    plateau_choice,
    rolling_windows,
    trade_score,
    trades_within,
)
from core.risk.portfolio import ClosedTrade

START = pd.Timestamp("2017-10-01", tz="UTC")
END = pd.Timestamp("2019-04-01", tz="UTC")


def test_rolling_windows_train_six_months_test_the_next_two():
    windows = rolling_windows(START + pd.Timedelta(hours=5), END, 6, 2, 2)
    assert len(windows) == 6
    first, last = windows[0], windows[-1]
    assert (first.train_start, first.train_end) == (START, pd.Timestamp("2018-04-01", tz="UTC"))
    april, june = pd.Timestamp("2018-04-01", tz="UTC"), pd.Timestamp("2018-06-01", tz="UTC")
    assert (first.test_start, first.test_end) == (april, june)
    assert (last.test_start, last.test_end) == (pd.Timestamp("2019-02-01", tz="UTC"), END)
    for before, after in zip(windows, windows[1:], strict=False):
        assert before.train_end <= before.test_start  # no test window overlaps its train window
        assert after.test_start == before.test_end  # the test windows tile the period: stitched, not overlapping
    assert rolling_windows(START, START + pd.DateOffset(months=7), 6, 2, 2) == []


def trade(entry: str, exit: str, pnl_pct: float = 1.0) -> ClosedTrade:
    def at(text: str) -> datetime:
        return pd.Timestamp(text, tz="UTC").to_pydatetime()

    return ClosedTrade("X/USD", "long", at(entry), 100.0, at(exit), 101.0, 1.0, pnl_pct, pnl_pct, "tp1", 0.2)


def test_trades_within_keeps_only_trades_entered_and_exited_inside():
    trades = [
        trade("2018-03-31 20:00", "2018-04-01 03:00"),  # exits in the next window: its outcome is the future
        trade("2018-03-01", "2018-03-02"),
        trade("2017-09-30 23:00", "2017-10-01 02:00"),  # entered before the window
        trade("2018-03-31 22:00", "2018-03-31 23:00"),
    ]
    kept = trades_within(trades, START, pd.Timestamp("2018-04-01", tz="UTC"))
    assert kept == [trades[1], trades[3]]


def test_choices_see_the_train_window_and_nothing_after_it():
    """A chooser that records every date it is shown: across all folds it never sees a
    trade that is not inside the train window it chooses for."""
    windows = rolling_windows(START, END)
    days = pd.date_range(START, END, freq="D", inclusive="left")
    history = {
        (("k", 1),): [trade(str(d), str(d + pd.Timedelta(hours=30))) for d in days],
        (("k", 2),): [trade(str(d), str(d + pd.Timedelta(hours=3))) for d in days[::3]],
    }
    seen_per_call = []

    def recording_chooser(seen):
        times = [(pd.Timestamp(t.entry_time), pd.Timestamp(t.exit_time)) for ts in seen.values() for t in ts]
        seen_per_call.append(times)
        return (("k", 1),)

    chosen = choose_per_window(windows, history, recording_chooser)
    assert chosen == [(("k", 1),)] * len(windows)
    for window, seen in zip(windows, seen_per_call, strict=True):
        assert seen, "every fold is given its train trades"
        assert all(window.train_start <= entry and exit_ < window.train_end for entry, exit_ in seen)
        assert max(exit_ for _, exit_ in seen) < window.test_start


def test_trade_score_is_a_t_statistic_and_needs_enough_trades():
    returns = [1.0, -0.5, 2.0, 0.5]  # mean 0.75, sd (ddof 1) = sqrt(1.0833..) = 1.0408
    trades = [trade("2018-01-01", "2018-01-02", r) for r in returns]
    assert trade_score(trades, min_trades=4) == pytest.approx(0.75 / np.sqrt(13 / 12) * 2.0)
    assert trade_score(trades, min_trades=5) == -np.inf


def test_the_plateau_beats_a_lone_peak():
    grid = Grid({"n": (1, 2, 3, 4, 5)}, frozenset({"n"}))
    scores = {(("n", 1),): 0.1, (("n", 2),): 3.0, (("n", 3),): -2.0, (("n", 4),): 1.6, (("n", 5),): 1.4}
    # means with neighbours: n1 1.55, n2 0.37, n3 0.87, n4 0.33, n5 1.5: not the lone peak n2
    assert plateau_choice(grid, scores, (("n", 3),)) == (("n", 1),)
    scores[(("n", 1),)] = -np.inf  # too few trades: not eligible, counts as 0 for its neighbour
    # n2: (3.0 + 0 - 2.0) / 3 = 0.33; n3 0.87; n5: (1.4 + 1.6) / 2 = 1.5
    assert plateau_choice(grid, scores, (("n", 3),)) == (("n", 5),)
    nothing = dict.fromkeys(scores, -np.inf)
    assert plateau_choice(grid, nothing, (("n", 3),)) == (("n", 3),)


def test_switch_axes_are_not_neighbours():
    grid = Grid({"n": (1, 2), "mtf": (True, False)}, frozenset({"n"}))
    assert grid.neighbours((("n", 1), ("mtf", True))) == [(("n", 2), ("mtf", True))]
    assert grid.restricted("mtf", False).configs() == [(("n", 1), ("mtf", False)), (("n", 2), ("mtf", False))]


def test_bootstrap_interval_of_two_values_is_their_range():
    # the mean of two draws from {0, 1} is 0 (1/4), 0.5 (1/2) or 1 (1/4): the 2.5 % and
    # 97.5 % quantiles are 0 and 1
    assert bootstrap_mean_interval([0.0, 1.0]) == (0.0, 1.0)


def test_bootstrap_interval_worked_by_hand_from_the_binomial():
    # four draws from {0, 0, 0, 1}: the mean is k/4 with k ~ Binomial(4, 1/4);
    # P(k = 0) = 0.316 > 2.5 % -> low 0; P(k <= 2) = 0.949 < 97.5 % <= P(k <= 3) = 0.996 -> high 3/4
    assert bootstrap_mean_interval([0.0, 0.0, 0.0, 1.0]) == (0.0, 0.75)


def test_bootstrap_interval_matches_the_normal_reference_for_many_values():
    values = np.random.default_rng(3).normal(0.2, 2.0, 400)
    low, high = bootstrap_mean_interval(values, resamples=20_000)
    half = 1.959964 * values.std(ddof=1) / np.sqrt(len(values))  # the t-interval's half-width (n large)
    assert low == pytest.approx(values.mean() - half, abs=0.02)
    assert high == pytest.approx(values.mean() + half, abs=0.02)
    assert np.isnan(bootstrap_mean_interval([1.0])).all()  # one value: no interval


def test_daily_sharpe_from_daily_closes():
    index = pd.date_range("2024-01-01", periods=4 * 24, freq="h", tz="UTC")
    # the last equity of each day: 100, 110, 99, 108.9 -> returns +10 %, -10 %, +10 %
    daily = np.repeat([100.0, 110.0, 99.0, 108.9], 24)
    returns = np.array([0.1, -0.1, 0.1])
    expected = returns.mean() / returns.std(ddof=1) * np.sqrt(365)
    assert daily_sharpe(pd.Series(daily, index=index)) == pytest.approx(expected)
    assert np.isnan(daily_sharpe(pd.Series(100.0, index=index)))

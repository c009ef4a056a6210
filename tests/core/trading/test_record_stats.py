"""The track record's figures: hand-worked summaries, and the bootstrap interval of the
expectancy against a numpy reference written here and against scipy's bootstrap."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from scipy import stats as scipy_stats

from core.records import ShadowOutcome, ShadowStatus, playbook_of
from core.trading.record_stats import BOOTSTRAP_SEED, bootstrap_mean_interval, summarize
from tests.conftest import T0

DAY = timedelta(days=1)


def reference_interval(values: np.ndarray, seed: int, resamples: int = 2000) -> tuple[float, float]:
    """Percentile bootstrap of the mean, by the book: resample rows of indices, take the means,
    read the 2.5 % and 97.5 % quantiles."""
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def test_interval_matches_the_numpy_reference_and_is_deterministic() -> None:
    values = np.random.default_rng(7).normal(0.2, 1.5, size=40)
    assert bootstrap_mean_interval(values) == pytest.approx(reference_interval(values, BOOTSTRAP_SEED), abs=1e-12)
    assert bootstrap_mean_interval(values) == bootstrap_mean_interval(
        list(values)
    )  # the same record, the same interval


def test_interval_drawn_in_chunks_is_the_one_drawn_at_once() -> None:
    values = np.random.default_rng(3).normal(-0.1, 2.0, size=3000)  # 2,000 x 3,000 draws: several chunks
    assert bootstrap_mean_interval(values, seed=11) == pytest.approx(reference_interval(values, 11), abs=1e-12)


def test_interval_agrees_with_scipy_and_the_normal_approximation() -> None:
    values = np.random.default_rng(5).exponential(1.0, size=200) - 0.8
    low, high = bootstrap_mean_interval(values)  # type: ignore[misc]
    theirs = scipy_stats.bootstrap(
        (values,), np.mean, n_resamples=4000, method="percentile", confidence_level=0.95, rng=np.random.default_rng(1)
    ).confidence_interval
    width = high - low
    assert abs(low - theirs.low) < 0.1 * width and abs(high - theirs.high) < 0.1 * width
    half = 1.96 * values.std(ddof=1) / np.sqrt(len(values))
    assert width == pytest.approx(2 * half, rel=0.1)
    assert low < values.mean() < high


def test_no_interval_below_two_trades() -> None:
    assert bootstrap_mean_interval([]) is None and bootstrap_mean_interval([0.5]) is None
    assert bootstrap_mean_interval([1.0, 1.0]) == (1.0, 1.0)


def outcome(days_ago: float, r: float | None, ret: float | None = None, status: str = "closed") -> ShadowOutcome:
    return ShadowOutcome("hybrid", T0 - days_ago * DAY, ShadowStatus(status), r, ret)


def test_summary_over_a_window_and_all_time() -> None:
    outcomes = [
        outcome(40, 3.0, 6.0),  # outside the 30 days
        outcome(20, -1.0, -2.0),
        outcome(10, 2.0, 4.0),
        outcome(5, 0.5, 1.0),
        outcome(2, -1.0, -2.0),
        outcome(1, None, status="open"),
    ]
    recent = summarize(outcomes, T0 - 30 * DAY)
    # 5 signals, 4 closed: R -1, 2, 0.5, -1 -> 2 wins of 4, mean 0.125; returns -2, 4, 1, -2 -> mean 0.25 %
    assert (recent.signals, recent.closed, recent.open_now) == (5, 4, 1)
    assert recent.win_pct == 50.0 and recent.avg_r == pytest.approx(0.125)
    assert recent.expectancy_pct == pytest.approx(0.25) and (recent.best_r, recent.worst_r) == (2.0, -1.0)
    low, high = recent.expectancy_interval  # type: ignore[misc]
    assert -2.0 <= low < 0.25 < high <= 4.0
    everything = summarize(outcomes)
    assert (everything.signals, everything.closed) == (6, 5) and everything.avg_r == pytest.approx(0.7)  # 3.5 / 5
    assert everything.best_r == 3.0 and everything.win_pct == 60.0


def test_summary_with_nothing_closed() -> None:
    empty = summarize([outcome(1, None, status="open")])
    assert (empty.signals, empty.closed, empty.open_now) == (1, 0, 1)
    assert empty.avg_r is None and empty.win_pct is None and empty.expectancy_interval is None


def test_a_signal_belongs_to_its_engine_playbook_or_to_the_admins() -> None:
    meta = {"strategy": "donchian", "playbook": {"name": "donchian", "params": {"exit": "trail"}, "long_only": True}}
    assert playbook_of("engine", meta) == "donchian"
    assert playbook_of("engine", {"playbook": {"name": "tsmom"}}) == "tsmom"
    assert playbook_of("engine", {}) == "engine"
    assert playbook_of("manual", meta) == "admin"

"""The figures of the track record: per playbook and window, from the shadow positions.

Pure functions over `ShadowOutcome`s. The expectancy's 95 % interval is a percentile
bootstrap of the mean with a fixed seed, so the same record always shows the same interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from core.records import ShadowOutcome, ShadowStatus

BOOTSTRAP_SEED = 20240901
BOOTSTRAP_RESAMPLES = 2000
_CHUNK_VALUES = 2_000_000  # index draws held in memory at once


def bootstrap_mean_interval(
    values: Sequence[float],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    level: float = 0.95,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean: `resamples` resamples with replacement
    (drawn with numpy's default generator seeded `seed`, row after row), the
    (1-level)/2 and (1+level)/2 quantiles of their means (numpy's linear interpolation).
    None with fewer than two values."""
    x = np.asarray(values, dtype=np.float64)
    n = len(x)
    if n < 2:
        return None
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    rows = max(1, _CHUNK_VALUES // n)
    for start in range(0, resamples, rows):
        count = min(rows, resamples - start)
        means[start : start + count] = x[rng.integers(0, n, size=(count, n))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


@dataclass(frozen=True, slots=True)
class RecordStats:
    """One playbook over one window (signals published since `since`, or all of them)."""

    signals: int
    closed: int
    open_now: int
    win_pct: float | None
    avg_r: float | None
    expectancy_pct: float | None  # mean net return per trade, % of the entry notional
    expectancy_interval: tuple[float, float] | None
    best_r: float | None
    worst_r: float | None


def summarize(
    outcomes: Sequence[ShadowOutcome], since: datetime | None = None, *, interval: bool = True
) -> RecordStats:
    """The record of `outcomes` published at or after `since` (all of them without it)."""
    chosen = [o for o in outcomes if since is None or o.published_at >= since]
    closed = [o for o in chosen if o.status is ShadowStatus.CLOSED and o.r_multiple is not None]
    r = np.array([o.r_multiple for o in closed], dtype=np.float64)
    returns = [float(o.return_pct) for o in closed if o.return_pct is not None]
    has = len(closed) > 0
    return RecordStats(
        signals=len(chosen),
        closed=len(closed),
        open_now=sum(o.status is ShadowStatus.OPEN for o in chosen),
        win_pct=float((r > 0).mean() * 100) if has else None,
        avg_r=float(r.mean()) if has else None,
        expectancy_pct=float(np.mean(returns)) if returns else None,
        expectancy_interval=bootstrap_mean_interval(returns) if interval else None,
        best_r=float(r.max()) if has else None,
        worst_r=float(r.min()) if has else None,
    )

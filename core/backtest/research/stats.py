"""The figures of a research row: trades, win %, expectancy per trade after fees with a
bootstrap 95 % interval, profit factor, return, max drawdown, Sharpe, exposure.

Sharpe is computed from daily returns of the equity curve (the last equity of each UTC
day), annualised with 365 days, so rows on different timeframes compare.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.risk.portfolio import max_drawdown_pct


def bootstrap_mean_interval(
    values: Sequence[float] | np.ndarray, level: float = 0.95, resamples: int = 10_000, seed: int = 7
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean: resample the values with replacement
    `resamples` times, take the (1 - level)/2 and (1 + level)/2 quantiles of the means.
    (NaN, NaN) for fewer than two values."""
    data = np.asarray(values, dtype=np.float64)
    if len(data) < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    chunk = max(1, 2_000_000 // len(data))  # bounded memory for long trade lists
    for start in range(0, resamples, chunk):
        stop = min(resamples, start + chunk)
        means[start:stop] = data[rng.integers(0, len(data), size=(stop - start, len(data)))].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def daily_sharpe(equity: pd.Series) -> float:
    """Mean over standard deviation of daily returns, times sqrt(365); NaN if flat."""
    daily = equity.resample("1D").last().dropna()
    returns = daily.pct_change().dropna().to_numpy()
    if len(returns) < 2 or returns.std(ddof=1) == 0:
        return math.nan
    return float(returns.mean() / returns.std(ddof=1) * math.sqrt(365.0))


@dataclass(frozen=True, slots=True)
class Summary:
    trades: int
    win_pct: float
    expectancy_pct: float  # mean return per trade after fees, % of its entry notional
    expectancy_low: float  # bootstrap 95 % interval of that mean
    expectancy_high: float
    profit_factor: float
    return_pct: float
    max_drawdown_pct: float
    sharpe: float
    exposure_pct: float

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


def summarize(
    returns_pct: Sequence[float], pnls: Sequence[float], equity: pd.Series, exposure_pct: float
) -> Summary:
    """Figures of trades (their % returns and their P&L in money) and an equity curve."""
    returns = np.asarray(returns_pct, dtype=np.float64)
    money = np.asarray(pnls, dtype=np.float64)
    gains, losses = money[money > 0].sum(), -money[money <= 0].sum()
    factor = math.nan if len(money) == 0 else (gains / losses if losses > 0 else math.inf)
    low, high = bootstrap_mean_interval(returns)
    values = equity.to_numpy(dtype=np.float64)
    return Summary(
        trades=len(returns),
        win_pct=float((returns > 0).mean() * 100.0) if len(returns) else math.nan,
        expectancy_pct=float(returns.mean()) if len(returns) else math.nan,
        expectancy_low=low,
        expectancy_high=high,
        profit_factor=float(factor),
        return_pct=float((values[-1] / values[0] - 1.0) * 100.0) if len(values) else math.nan,
        max_drawdown_pct=max_drawdown_pct(equity),
        sharpe=daily_sharpe(equity),
        exposure_pct=exposure_pct,
    )

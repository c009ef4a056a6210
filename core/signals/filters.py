"""Filters: each says, for every row of a prepared frame, whether a candidate there
passes, or why not. Vectorised over the whole frame, so the live scan (last row) and
the backtester (every row) run the same code.

A filter returns an object array of rejection reasons, '' where the row passes. Only
rows holding a candidate (side +1 or -1) matter; the others may say anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from core.models import Side
from core.signals.regime import AdaptiveStrategy, Regime

PASS = ""


class CandidateFilter(Protocol):
    @property
    def name(self) -> str: ...

    def check(self, frame: pd.DataFrame, side: np.ndarray, strength: np.ndarray) -> np.ndarray:
        """Rejection reason per row ('' = pass)."""


def _reasons(failed: np.ndarray, reason: str) -> np.ndarray:
    return np.where(failed, reason, PASS).astype(object)


@dataclass(frozen=True, slots=True)
class HigherTimeframeFilter:
    """The higher timeframe's trend (column `htf_trend`, +1/-1/0) must agree with the side."""

    name: str = "mtf"

    def check(self, frame: pd.DataFrame, side: np.ndarray, strength: np.ndarray) -> np.ndarray:
        trend = frame["htf_trend"].to_numpy(dtype=np.float64)
        out = _reasons(trend * side <= 0, "mtf_disagrees")
        out[~np.isfinite(trend)] = "mtf_unavailable"
        return out


@dataclass(frozen=True, slots=True)
class AdxFilter:
    """ADX(14) must be at least `min_adx`: a trend strong enough to follow."""

    min_adx: float = 20.0
    name: str = "adx"

    def check(self, frame: pd.DataFrame, side: np.ndarray, strength: np.ndarray) -> np.ndarray:
        adx = frame["adx_14"].to_numpy(dtype=np.float64)
        return _reasons(~(adx >= self.min_adx), "adx_weak")


@dataclass(frozen=True, slots=True)
class VolumeFilter:
    """Volume must be at least `min_ratio` times its 20-candle mean."""

    min_ratio: float = 1.0
    name: str = "volume"

    def check(self, frame: pd.DataFrame, side: np.ndarray, strength: np.ndarray) -> np.ndarray:
        ratio = frame["volume_ratio"].to_numpy(dtype=np.float64)
        return _reasons(~(ratio >= self.min_ratio), "volume_low")


@dataclass(frozen=True, slots=True)
class TimeOfDayFilter:
    """No entries decided on candles opening in `blocked_hours` (UTC hours 0..23)."""

    blocked_hours: frozenset[int] = field(default_factory=frozenset)
    name: str = "time_of_day"

    def __post_init__(self) -> None:
        if not all(0 <= h <= 23 for h in self.blocked_hours):
            raise ValueError("blocked hours must be in 0..23")

    def check(self, frame: pd.DataFrame, side: np.ndarray, strength: np.ndarray) -> np.ndarray:
        hours = pd.DatetimeIndex(frame.index).hour.to_numpy()
        return _reasons(np.isin(hours, sorted(self.blocked_hours)), "time_blocked")


@dataclass(frozen=True, slots=True)
class RegimeFilter:
    """The adaptive strategy's `should_take_trade` for the candle's regime (column
    `regime`), evaluated on candidate rows only."""

    adaptive: AdaptiveStrategy = field(default_factory=AdaptiveStrategy)
    name: str = "regime"

    def check(self, frame: pd.DataFrame, side: np.ndarray, strength: np.ndarray) -> np.ndarray:
        regimes = frame["regime"].to_numpy(dtype=object)
        out = np.full(len(frame), PASS, dtype=object)
        for i in np.flatnonzero(side != 0):
            policy = self.adaptive.for_regime(Regime(regimes[i]))
            verdict = policy.should_take_trade(float(strength[i]), Side.LONG if side[i] > 0 else Side.SHORT)
            out[i] = verdict.reason or PASS
        return out


def apply_filters(
    frame: pd.DataFrame,
    side: np.ndarray,
    strength: np.ndarray,
    reasons: np.ndarray,
    filters: Sequence[CandidateFilter],
) -> np.ndarray:
    """Run `filters` in order on the candidate rows still passing; the first rejection
    of a row is its reason. Returns the updated reasons ('' = accepted candidate)."""
    out = reasons.copy()
    for candidate_filter in filters:
        open_rows = (side != 0) & (out == PASS)
        if not open_rows.any():
            break
        verdict = candidate_filter.check(frame, side, strength)
        out = np.where(open_rows & (verdict != PASS), verdict, out)
    return out

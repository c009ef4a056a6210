"""Features the models see, computed from candles up to and including the decision candle.

Every value in row t of `market_features` is a function of rows <= t only: returns over
past candles, rolling statistics over trailing windows (each window computed on its own,
so the value does not depend on how much history precedes it), the candle's own shape
and the time of its open. Indicator columns come from the engine (computed there, also
without look-ahead) and are passed through by name: scale-free ones (RSI, ADX) as they
are, price-level ones (moving averages, bands) as a percent distance from the close.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from core.models import Side
from core.ports import Candidate

TRAILING = 24  # candles in rolling windows
LOOKBACK = TRAILING + 1  # candles needed for every market feature to be defined
MARKET_FEATURES = (
    "ret_1",
    "ret_4",
    "ret_24",
    "volatility_24",
    "range_pct",
    "body_pct",
    "volume_ratio_24",
    "hour_sin",
    "hour_cos",
    "weekday_sin",
    "weekday_cos",
)
CANDIDATE_FEATURES = ("side_long", "stop_pct", "tp1_r", "tp2_r", "strength")


def indicator_feature_names(
    indicator_columns: Sequence[str], price_level_columns: Sequence[str]
) -> tuple[str, ...]:
    """Names of the indicator-derived features, in order."""
    return (*indicator_columns, *(f"{column}_rel" for column in price_level_columns))


def indicator_matrix(
    frame: pd.DataFrame, indicator_columns: Sequence[str], price_level_columns: Sequence[str]
) -> np.ndarray:
    """(len(frame), k) scale-free indicator values: as given, or percent distance from the
    close; columns in the order of `indicator_feature_names`."""
    close = frame["close"].to_numpy(dtype=float)
    columns = [frame[name].to_numpy(dtype=float) for name in indicator_columns]
    columns += [(frame[name].to_numpy(dtype=float) / close - 1.0) * 100.0 for name in price_level_columns]
    return np.column_stack(columns) if columns else np.empty((len(frame), 0))


def market_feature_names(
    indicator_columns: Sequence[str], price_level_columns: Sequence[str]
) -> tuple[str, ...]:
    """Column names of `market_matrix`."""
    return (*MARKET_FEATURES, *indicator_feature_names(indicator_columns, price_level_columns))


def market_matrix(
    frame: pd.DataFrame, indicator_columns: Sequence[str] = (), price_level_columns: Sequence[str] = ()
) -> np.ndarray:
    """(len(frame), k) features per candle of `frame` (DatetimeIndex of open times, UTC if
    naive; columns open, high, low, close, volume and the named indicators)."""
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise TypeError("frame must have a DatetimeIndex of candle open times")
    open_ = frame["open"].to_numpy(dtype=float)
    high = frame["high"].to_numpy(dtype=float)
    low = frame["low"].to_numpy(dtype=float)
    close = frame["close"].to_numpy(dtype=float)
    volume = frame["volume"].to_numpy(dtype=float)
    log_close = np.log(close)
    ret_1 = _lagged_difference(log_close, 1) * 100.0
    mean_volume = _trailing(volume, TRAILING, np.mean)
    with np.errstate(divide="ignore", invalid="ignore"):
        volume_ratio = np.where(mean_volume > 0, volume / mean_volume, np.nan)
    seconds = _epoch_seconds(frame.index)
    hour = (seconds % 86_400) / 3_600.0
    weekday = ((seconds // 86_400 + 3) % 7).astype(float)  # 1970-01-01 was a Thursday (3)
    market = np.column_stack(
        [
            ret_1,
            _lagged_difference(log_close, 4) * 100.0,
            _lagged_difference(log_close, TRAILING) * 100.0,
            _trailing(ret_1, TRAILING, lambda w, axis: np.std(w, axis=axis, ddof=1)),
            (high - low) / close * 100.0,
            (close - open_) / open_ * 100.0,
            volume_ratio,
            np.sin(2 * np.pi * hour / 24.0),
            np.cos(2 * np.pi * hour / 24.0),
            np.sin(2 * np.pi * weekday / 7.0),
            np.cos(2 * np.pi * weekday / 7.0),
        ]
    )
    return np.hstack([market, indicator_matrix(frame, indicator_columns, price_level_columns)])


def market_features(
    frame: pd.DataFrame, indicator_columns: Sequence[str] = (), price_level_columns: Sequence[str] = ()
) -> pd.DataFrame:
    """`market_matrix` as a DataFrame indexed like `frame`."""
    return pd.DataFrame(
        market_matrix(frame, indicator_columns, price_level_columns),
        index=frame.index,
        columns=list(market_feature_names(indicator_columns, price_level_columns)),
    )


class CandidateFeatures:
    """The success model's feature vector for one candidate: market features at the
    decision candle, the trade's geometry and strength, and its regime one-hot."""

    def __init__(
        self,
        indicator_columns: Sequence[str] = (),
        price_level_columns: Sequence[str] = (),
        regimes: Sequence[str] = (),
    ) -> None:
        self._indicators = tuple(indicator_columns)
        self._price_levels = tuple(price_level_columns)
        self._regimes = tuple(regimes)
        self._market_names = market_feature_names(self._indicators, self._price_levels)
        self.names: tuple[str, ...] = (
            *self._market_names,
            *CANDIDATE_FEATURES,
            *(f"regime_{regime}" for regime in self._regimes),
        )

    def __call__(self, candidate: Candidate) -> dict[str, float]:
        """Features of `candidate` from its frame's last LOOKBACK candles."""
        tail = candidate.frame.iloc[-LOOKBACK:]
        row = market_matrix(tail, self._indicators, self._price_levels)[-1]
        features = dict(zip(self._market_names, row.tolist(), strict=True))
        features |= self.trade_features(
            candidate.levels.side,
            candidate.levels.entry,
            candidate.levels.stop,
            candidate.levels.tp1,
            candidate.levels.tp2,
            candidate.strength,
        )
        features |= self.regime_features(candidate.regime)
        return features

    def trade_features(
        self, side: Side, entry: float, stop: float, tp1: float, tp2: float, strength: float
    ) -> dict[str, float]:
        """Geometry of the trade: side, stop distance in percent, targets in R."""
        risk = abs(entry - stop)
        if risk == 0:
            raise ValueError("stop equals entry: the trade has no risk distance")
        return {
            "side_long": 1.0 if side is Side.LONG else 0.0,
            "stop_pct": risk / entry * 100.0,
            "tp1_r": abs(tp1 - entry) / risk,
            "tp2_r": abs(tp2 - entry) / risk,
            "strength": float(strength),
        }

    def regime_features(self, regime: str | None) -> dict[str, float]:
        """One-hot of the regime; all zeros when the engine gave none."""
        if regime is not None and regime not in self._regimes:
            raise ValueError(f"regime {regime!r} is not one of {self._regimes}")
        return {f"regime_{name}": 1.0 if name == regime else 0.0 for name in self._regimes}


def _epoch_seconds(index: pd.DatetimeIndex) -> np.ndarray:
    """Seconds since 1970-01-01 UTC of each timestamp (a naive index is taken as UTC)."""
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index.as_unit("s").asi8


def _lagged_difference(values: np.ndarray, lag: int) -> np.ndarray:
    out = np.full(len(values), np.nan)
    out[lag:] = values[lag:] - values[:-lag]
    return out


def _trailing(values: np.ndarray, window: int, reduce: object) -> np.ndarray:
    """`reduce` over each trailing window ending at a row; NaN where it is incomplete."""
    out = np.full(len(values), np.nan)
    if len(values) >= window:
        out[window - 1 :] = reduce(sliding_window_view(values, window), axis=-1)  # type: ignore[operator]
    return out

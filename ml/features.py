"""Features the models see, computed from candles up to and including the decision candle.

Every value in row t of `market_features` is a function of rows <= t only: returns over
past candles, rolling statistics over trailing windows (each window computed on its own,
so the value does not depend on how much history precedes it), the candle's own shape
and the time of its open. Indicator columns come from the engine (computed there, also
without look-ahead) and are passed through by name: scale-free ones (RSI, ADX) as they
are, price-level ones (moving averages, bands) as a percent distance from the close.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from core.models import Side
from core.ports import Candidate
from core.timeframes import timeframe_seconds

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
HIGHER_FEATURES = ("htf_ret_1", "htf_ret_6", "htf_range_6", "htf_position_6")
HIGHER_CANDLES = 7  # closed higher-timeframe candles the context reads (6 changes need 7 closes)


def indicator_feature_names(
    indicator_columns: Sequence[str],
    price_level_columns: Sequence[str],
    price_delta_columns: Sequence[str] = (),
) -> tuple[str, ...]:
    """Names of the indicator-derived features, in order."""
    return (
        *indicator_columns,
        *(f"{column}_rel" for column in price_level_columns),
        *(f"{column}_pct" for column in price_delta_columns),
    )


def indicator_matrix(
    frame: pd.DataFrame,
    indicator_columns: Sequence[str],
    price_level_columns: Sequence[str],
    price_delta_columns: Sequence[str] = (),
) -> np.ndarray:
    """(len(frame), k) scale-free indicator values: as given (`indicator_columns`), as a
    percent distance from the close (price levels such as moving averages) or as a percent
    of the close (price differences such as the MACD histogram); columns in the order of
    `indicator_feature_names`."""
    close = frame["close"].to_numpy(dtype=float)
    columns = [frame[name].to_numpy(dtype=float) for name in indicator_columns]
    columns += [(frame[name].to_numpy(dtype=float) / close - 1.0) * 100.0 for name in price_level_columns]
    columns += [frame[name].to_numpy(dtype=float) / close * 100.0 for name in price_delta_columns]
    return np.column_stack(columns) if columns else np.empty((len(frame), 0))


def market_feature_names(
    indicator_columns: Sequence[str],
    price_level_columns: Sequence[str],
    price_delta_columns: Sequence[str] = (),
) -> tuple[str, ...]:
    """Column names of `market_matrix`."""
    return (
        *MARKET_FEATURES,
        *indicator_feature_names(indicator_columns, price_level_columns, price_delta_columns),
    )


def market_matrix(
    frame: pd.DataFrame,
    indicator_columns: Sequence[str] = (),
    price_level_columns: Sequence[str] = (),
    price_delta_columns: Sequence[str] = (),
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
    indicators = indicator_matrix(frame, indicator_columns, price_level_columns, price_delta_columns)
    return np.hstack([market, indicators])


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
    decision candle, the trade's geometry and strength, its regime one-hot and, when
    `higher_timeframe` says how, the context of the higher timeframe's closed candles.

    `higher_timeframe` maps the candidate's timeframe to the context timeframe (e.g.
    core.engine.default_higher_timeframe: 1h -> 4h); None leaves the context out."""

    def __init__(
        self,
        indicator_columns: Sequence[str] = (),
        price_level_columns: Sequence[str] = (),
        regimes: Sequence[str] = (),
        price_delta_columns: Sequence[str] = (),
        higher_timeframe: Callable[[str], str] | None = None,
    ) -> None:
        self._indicators = tuple(indicator_columns)
        self._price_levels = tuple(price_level_columns)
        self._price_deltas = tuple(price_delta_columns)
        self._regimes = tuple(regimes)
        self._higher_timeframe = higher_timeframe
        self._market_names = market_feature_names(self._indicators, self._price_levels, self._price_deltas)
        self.names: tuple[str, ...] = (
            *self._market_names,
            *CANDIDATE_FEATURES,
            *(f"regime_{regime}" for regime in self._regimes),
            *(HIGHER_FEATURES if higher_timeframe is not None else ()),
        )

    def __call__(self, candidate: Candidate) -> dict[str, float]:
        """Features of `candidate` from its frame's last candles (LOOKBACK of them, and
        the few days the higher-timeframe context needs)."""
        frame = candidate.frame
        row = market_matrix(frame.iloc[-LOOKBACK:], self._indicators, self._price_levels, self._price_deltas)[-1]
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
        if self._higher_timeframe is not None:
            higher = self._higher_timeframe(candidate.timeframe)
            features |= higher_context(frame, candidate.timeframe, higher)
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


def higher_context(frame: pd.DataFrame, timeframe: str, higher_timeframe: str) -> dict[str, float]:
    """Context of the higher timeframe at the last candle of `frame`, from its own candles:
    the last `HIGHER_CANDLES` higher candles that had closed by the last candle's close
    (epoch-aligned buckets, as core.marketdata.resample builds them; a bucket still forming
    is left out). Log change of the last closed higher candle and of the last six, their
    mean high-low range, and where the close sits in their high-low span (0 low .. 1 high),
    all in percent but the position. NaN where fewer candles are known."""
    base, step = timeframe_seconds(timeframe), timeframe_seconds(higher_timeframe)
    if step <= base or step % base:
        raise ValueError(f"{higher_timeframe} is not a multiple of {timeframe}")
    tail = frame.iloc[-(step // base) * (HIGHER_CANDLES + 2) :]
    seconds = _epoch_seconds(pd.DatetimeIndex(tail.index))
    if len(seconds) == 0:
        return dict.fromkeys(HIGHER_FEATURES, math.nan)
    bucket = seconds // step
    closed = (bucket + 1) * step <= seconds[-1] + base
    if len(tail) < len(frame):  # the tail may have cut the first bucket: leave it out
        closed &= bucket > bucket[0]
    bucket = bucket[closed]
    starts = np.flatnonzero(np.diff(bucket, prepend=-1) != 0)[-HIGHER_CANDLES:]
    nan = dict.fromkeys(HIGHER_FEATURES, math.nan)
    if len(starts) < 2:
        return nan
    ends = np.append(starts[1:], len(bucket))
    high = tail["high"].to_numpy(dtype=float)[closed]
    low = tail["low"].to_numpy(dtype=float)[closed]
    close = tail["close"].to_numpy(dtype=float)[closed]
    highs = np.maximum.reduceat(high, starts)
    lows = np.minimum.reduceat(low, starts)
    closes = close[ends - 1]
    out = nan | {"htf_ret_1": float(np.log(closes[-1] / closes[-2]) * 100.0)}
    if len(starts) == HIGHER_CANDLES:
        span_high, span_low = highs[1:].max(), lows[1:].min()
        out["htf_ret_6"] = float(np.log(closes[-1] / closes[0]) * 100.0)
        out["htf_range_6"] = float(np.mean((highs[1:] - lows[1:]) / closes[1:]) * 100.0)
        out["htf_position_6"] = float((closes[-1] - span_low) / (span_high - span_low)) if span_high > span_low else 0.5
    return out


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

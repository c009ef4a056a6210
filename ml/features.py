"""Features the models see, computed from candles up to and including the decision candle.

Every value in row t of `market_features` is a function of rows <= t only: returns over
past candles, rolling statistics over trailing windows (each window computed on its own,
so the value does not depend on how much history precedes it), the candle's own shape
and the time of its open. Indicator columns come from the engine (computed there, also
without look-ahead) and are passed through by name: scale-free ones (RSI, ADX) as they
are, price-level ones (moving averages, bands) as a percent distance from the close,
price differences (MACD) as a percent of the close.

`CandidateFeatures` adds the trade's geometry, the regime and the higher timeframe's
context (`higher_context`: its last closed candles, built from the candidate's own frame),
and computes a whole scan's candidates at once (`table`); the one-candle functions above
are the reference it is tested against.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from core.models import Side
from core.ports import Candidate
from core.timeframes import timeframe_seconds
from ml.higher_context import (
    HIGHER_CANDLES,
    HIGHER_FEATURES,
    Tails,
    epoch_seconds,
    higher_context_batch,
)

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
    frame: pd.DataFrame | Mapping[str, np.ndarray],
    indicator_columns: Sequence[str],
    price_level_columns: Sequence[str],
    price_delta_columns: Sequence[str] = (),
) -> np.ndarray:
    """(len(frame), k) scale-free indicator values: as given (`indicator_columns`), as a
    percent distance from the close (price levels such as moving averages) or as a percent
    of the close (price differences such as the MACD histogram); columns in the order of
    `indicator_feature_names`."""
    close = np.asarray(frame["close"], dtype=float)
    columns = [np.asarray(frame[name], dtype=float) for name in indicator_columns]
    columns += [(np.asarray(frame[name], dtype=float) / close - 1.0) * 100.0 for name in price_level_columns]
    columns += [np.asarray(frame[name], dtype=float) / close * 100.0 for name in price_delta_columns]
    return np.column_stack(columns) if columns else np.empty((len(close), 0))


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
    seconds = epoch_seconds(frame.index)
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
    core.signals.engine.default_higher_timeframe: 1h -> 4h); None leaves the context out."""

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
        """Features of one candidate (see `table`)."""
        row = self.table([candidate]).iloc[0]
        return {name: float(value) for name, value in row.items()}

    def table(self, candidates: Sequence[Candidate]) -> pd.DataFrame:
        """One row of features per candidate, columns `names`, from each frame's last
        candles only (LOOKBACK of them, and the few days the higher-timeframe context
        needs). Computed for all candidates at once: a scan's worth of candidates costs a
        few pandas calls each and one pass of array arithmetic (see ml/README.md, Threads),
        with the same values as `market_matrix` and `higher_context` give one by one."""
        if not candidates:
            return pd.DataFrame(np.empty((0, len(self.names))), columns=list(self.names))
        tails = Tails.of(candidates, self._value_columns, self._span)
        parts = [
            self._market(tails),
            self._trades(candidates),
            self._regime_one_hot(candidates),
        ]
        if self._higher_timeframe is not None:
            parts.append(higher_context_batch(tails, [self._steps(c.timeframe) for c in candidates]))
        return pd.DataFrame(np.hstack(parts), columns=list(self.names))

    @property
    def _value_columns(self) -> tuple[str, ...]:
        return ("open", "high", "low", "close", "volume", *self._indicators, *self._price_levels, *self._price_deltas)

    def _steps(self, timeframe: str) -> tuple[int, int]:
        """(base, higher) timeframe in seconds."""
        assert self._higher_timeframe is not None
        higher = self._higher_timeframe(timeframe)
        base, step = timeframe_seconds(timeframe), timeframe_seconds(higher)
        if step <= base or step % base:
            raise ValueError(f"{higher} is not a multiple of {timeframe}")
        return base, step

    def _span(self, timeframe: str) -> int:
        """Candles a candidate's features read."""
        if self._higher_timeframe is None:
            return LOOKBACK
        base, step = self._steps(timeframe)
        return max(LOOKBACK, step // base * (HIGHER_CANDLES + 2))

    def _market(self, tails: Tails) -> np.ndarray:
        """`market_matrix`'s last row for every candidate, (n, len(market names))."""
        values = tails.values[:, -LOOKBACK:, :]
        open_, high, low, close, volume = (values[:, :, j] for j in range(5))
        last_close = close[:, -1]
        with np.errstate(divide="ignore", invalid="ignore"):
            log_close = np.log(close)
            ret_1 = np.diff(log_close, axis=1) * 100.0  # (n, LOOKBACK - 1)
            mean_volume = np.mean(volume[:, -TRAILING:], axis=1)
            volume_ratio = np.where(mean_volume > 0, volume[:, -1] / mean_volume, np.nan)
            seconds = tails.seconds[:, -1]
            hour = (seconds % 86_400) / 3_600.0
            weekday = ((seconds // 86_400 + 3) % 7).astype(float)
            columns = [
                ret_1[:, -1],
                (log_close[:, -1] - log_close[:, -5]) * 100.0,
                (log_close[:, -1] - log_close[:, -1 - TRAILING]) * 100.0,
                np.std(ret_1[:, -TRAILING:], axis=1, ddof=1),
                (high[:, -1] - low[:, -1]) / last_close * 100.0,
                (close[:, -1] - open_[:, -1]) / open_[:, -1] * 100.0,
                volume_ratio,
                np.sin(2 * np.pi * hour / 24.0),
                np.cos(2 * np.pi * hour / 24.0),
                np.sin(2 * np.pi * weekday / 7.0),
                np.cos(2 * np.pi * weekday / 7.0),
            ]
            last = values[:, -1, 5:]
            k_ind, k_lvl = len(self._indicators), len(self._price_levels)
            columns += [last[:, j] for j in range(k_ind)]
            columns += [(last[:, k_ind + j] / last_close - 1.0) * 100.0 for j in range(k_lvl)]
            columns += [last[:, k_ind + k_lvl + j] / last_close * 100.0 for j in range(len(self._price_deltas))]
        return np.column_stack(columns)

    def _trades(self, candidates: Sequence[Candidate]) -> np.ndarray:
        rows = [
            self.trade_features(c.levels.side, c.levels.entry, c.levels.stop, c.levels.tp1, c.levels.tp2, c.strength)
            for c in candidates
        ]
        return np.array([[row[name] for name in CANDIDATE_FEATURES] for row in rows], dtype=float)

    def _regime_one_hot(self, candidates: Sequence[Candidate]) -> np.ndarray:
        rows = [self.regime_features(c.regime) for c in candidates]
        return np.array([list(row.values()) for row in rows], dtype=float).reshape(len(candidates), -1)

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

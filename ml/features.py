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

import math
from collections.abc import Callable, Mapping, Sequence

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
        tails = _Tails.of(candidates, self._value_columns, self._span)
        parts = [
            self._market(tails),
            self._trades(candidates),
            self._regime_one_hot(candidates),
        ]
        if self._higher_timeframe is not None:
            parts.append(_higher_context_batch(tails, [self._steps(c.timeframe) for c in candidates]))
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

    def _market(self, tails: _Tails) -> np.ndarray:
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


def higher_context(frame: pd.DataFrame, timeframe: str, higher_timeframe: str) -> dict[str, float]:
    """Context of the higher timeframe at the last candle of `frame`, from its own candles:
    the last `HIGHER_CANDLES` higher candles that had closed by the last candle's close
    (epoch-aligned buckets, as core.exchange.replay.resample builds them; a bucket still forming
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


class _Tails:
    """The last candles of every candidate's frame, right-aligned and NaN-padded:
    values (n, L, k) of the requested columns, open times in epoch seconds (n, L), which
    cells hold a candle, and whether a frame was longer than its tail."""

    def __init__(self, values: np.ndarray, seconds: np.ndarray, present: np.ndarray, cut: np.ndarray) -> None:
        self.values, self.seconds, self.present, self.cut = values, seconds, present, cut

    @classmethod
    def of(cls, candidates: Sequence[Candidate], columns: Sequence[str], span: Callable[[str], int]) -> _Tails:
        spans = [span(c.timeframe) for c in candidates]
        n, width = len(candidates), max(spans)
        values = np.full((n, width, len(columns)), np.nan)
        seconds = np.zeros((n, width), dtype=np.int64)
        present = np.zeros((n, width), dtype=bool)
        cut = np.zeros(n, dtype=bool)
        for i, (candidate, rows) in enumerate(zip(candidates, spans, strict=True)):
            frame = candidate.frame
            m = min(rows, len(frame))
            if m == 0:
                raise ValueError(f"{candidate.symbol}: empty frame")
            missing = [name for name in columns if name not in frame.columns]
            if missing:
                raise KeyError(f"{candidate.symbol}: the frame lacks columns {missing}")
            # Column by column from NumPy views: no pandas take or conversion per
            # candidate (those release and retake the GIL so often that the event loop's
            # thread starves while this runs in a worker; see ml/README.md, Threads).
            for j, name in enumerate(columns):
                values[i, width - m :, j] = frame[name].to_numpy(dtype=float)[-m:]
            seconds[i, width - m :] = _tail_epoch_seconds(pd.DatetimeIndex(frame.index), m)
            present[i, width - m :] = True
            cut[i] = len(frame) > m
        return cls(values, seconds, present, cut)


def _higher_context_batch(tails: _Tails, steps: Sequence[tuple[int, int]]) -> np.ndarray:
    """`higher_context` for every candidate at once, columns HIGHER_FEATURES."""
    n, width = tails.seconds.shape
    base = np.array([b for b, _ in steps], dtype=np.int64)[:, None]
    step = np.array([s for _, s in steps], dtype=np.int64)[:, None]
    high, low, close = tails.values[:, :, 1], tails.values[:, :, 2], tails.values[:, :, 3]
    bucket = tails.seconds // step
    closed = tails.present & ((bucket + 1) * step <= tails.seconds[:, -1:] + base)
    first = np.argmax(tails.present, axis=1)
    first_bucket = bucket[np.arange(n), first][:, None]
    closed &= ~(tails.cut[:, None] & (bucket == first_bucket))  # a cut-off first bucket is left out
    after_closed = np.concatenate([closed[:, 1:], np.zeros((n, 1), dtype=bool)], axis=1)
    after_bucket = np.concatenate([bucket[:, 1:], np.full((n, 1), -1)], axis=1)
    last_of_bucket = closed & (~after_closed | (after_bucket != bucket))
    newer = np.cumsum(last_of_bucket[:, ::-1], axis=1)[:, ::-1] - 1  # 0: the newest closed bucket
    counts = np.minimum(last_of_bucket.sum(axis=1), HIGHER_CANDLES)
    chosen = closed & (newer < HIGHER_CANDLES)
    rows, cols = np.nonzero(chosen)
    slot = HIGHER_CANDLES - 1 - newer[rows, cols]  # oldest first, as higher_context orders them
    highs = np.full((n, HIGHER_CANDLES), -np.inf)
    lows = np.full((n, HIGHER_CANDLES), np.inf)
    closes = np.full((n, HIGHER_CANDLES), np.nan)
    np.maximum.at(highs, (rows, slot), high[rows, cols])
    np.minimum.at(lows, (rows, slot), low[rows, cols])
    ends = last_of_bucket[rows, cols]
    closes[rows[ends], slot[ends]] = close[rows[ends], cols[ends]]
    out = np.full((n, len(HIGHER_FEATURES)), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        two = counts >= 2
        out[two, 0] = np.log(closes[two, -1] / closes[two, -2]) * 100.0
        full = counts == HIGHER_CANDLES
        recent_high, recent_low, recent_close = highs[full, 1:], lows[full, 1:], closes[full, 1:]
        span_high, span_low = recent_high.max(axis=1), recent_low.min(axis=1)
        out[full, 1] = np.log(closes[full, -1] / closes[full, 0]) * 100.0
        out[full, 2] = np.mean((recent_high - recent_low) / recent_close, axis=1) * 100.0
        out[full, 3] = np.where(span_high > span_low, (closes[full, -1] - span_low) / (span_high - span_low), 0.5)
    return out


_PER_SECOND = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}


def _tail_epoch_seconds(index: pd.DatetimeIndex, m: int) -> np.ndarray:
    """Epoch seconds of the last `m` timestamps (UTC; a naive index is taken as UTC)."""
    return index.asi8[-m:] // _PER_SECOND[index.unit]


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

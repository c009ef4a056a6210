"""The higher timeframe's context of a candidate, from its own candles, and the batch
machinery `CandidateFeatures.table` uses: every candidate's last candles right-aligned in
one array (`Tails`), and the context of all of them at once (`higher_context_batch`),
tested against the one-candidate reference `higher_context`."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from core.ports import Candidate
from core.timeframes import timeframe_seconds

HIGHER_FEATURES = ("htf_ret_1", "htf_ret_6", "htf_range_6", "htf_position_6")
HIGHER_CANDLES = 7  # closed higher-timeframe candles the context reads (6 changes need 7 closes)


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
    seconds = epoch_seconds(pd.DatetimeIndex(tail.index))
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


class Tails:
    """The last candles of every candidate's frame, right-aligned and NaN-padded:
    values (n, L, k) of the requested columns, open times in epoch seconds (n, L), which
    cells hold a candle, and whether a frame was longer than its tail."""

    def __init__(self, values: np.ndarray, seconds: np.ndarray, present: np.ndarray, cut: np.ndarray) -> None:
        self.values, self.seconds, self.present, self.cut = values, seconds, present, cut

    @classmethod
    def of(cls, candidates: Sequence[Candidate], columns: Sequence[str], span: Callable[[str], int]) -> Tails:
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
            seconds[i, width - m :] = tailepoch_seconds(pd.DatetimeIndex(frame.index), m)
            present[i, width - m :] = True
            cut[i] = len(frame) > m
        return cls(values, seconds, present, cut)


def higher_context_batch(tails: Tails, steps: Sequence[tuple[int, int]]) -> np.ndarray:
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


def tailepoch_seconds(index: pd.DatetimeIndex, m: int) -> np.ndarray:
    """Epoch seconds of the last `m` timestamps (UTC; a naive index is taken as UTC)."""
    return index.asi8[-m:] // _PER_SECOND[index.unit]


def epoch_seconds(index: pd.DatetimeIndex) -> np.ndarray:
    """Seconds since 1970-01-01 UTC of each timestamp (a naive index is taken as UTC)."""
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index.as_unit("s").asi8

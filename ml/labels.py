"""Triple-barrier labels for would-be trades, with the engine's own stop and target.

Fill convention: a decision made on candle d fills at the OPEN of candle d + 1, the first
price that exists after the decision candle closed. Candles d + 1 ... d + horizon are then
watched, the fill candle included (its whole range lies after the fill):

* the stop is touched when the low (long) or high (short) reaches it;
* the take-profit is touched when the high (long) or low (short) reaches it;
* when both are touched in the same candle the stop counts first (we cannot know the order
  inside a candle, so assume the worse);
* a stop fills at the stop price, or at the candle's open if the candle opened beyond it
  (a gap through the stop); a take-profit fills at its price, or at the open if the candle
  opened beyond it;
* with no barrier touched, the trade is closed at the close of candle d + horizon.

success = the take-profit was touched first. The realised return is signed by the side,
in percent of the fill price. The label end is the candle the outcome was decided on; a
sample's label window for purging is [d, label_end]. When the data end before the outcome
is decided, the sample is incomplete (`complete` False, return NaN) and should be dropped
from training; its label end is then d + horizon, past the data.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.models import Side


class ExitReason(enum.IntEnum):
    """How a labelled trade ended."""

    HORIZON = 0
    TAKE_PROFIT = 1
    STOP_LOSS = 2
    INCOMPLETE = 3


@dataclass(frozen=True, slots=True)
class BarrierOutcomes:
    """Per-candidate outcomes, arrays aligned with the candidates passed in."""

    entry_index: np.ndarray  # int: decision index + 1
    entry_price: np.ndarray  # open of the entry candle; NaN if the data end first
    label_end: np.ndarray  # int: candle on which the outcome was decided
    exit_price: np.ndarray  # NaN when incomplete
    exit_reason: np.ndarray  # int8 codes of ExitReason
    success: np.ndarray  # bool: take-profit touched before the stop
    return_pct: np.ndarray  # realised return in percent, signed by side; NaN when incomplete
    complete: np.ndarray  # bool: the outcome is known from the data

    def __len__(self) -> int:
        return len(self.success)


def triple_barrier(
    candles: pd.DataFrame,
    decision_index: Sequence[int] | np.ndarray,
    sides: Sequence[Side],
    stop: Sequence[float] | np.ndarray,
    take_profit: Sequence[float] | np.ndarray,
    horizon: int,
) -> BarrierOutcomes:
    """Label candidates decided on candles `decision_index` (positions in `candles`,
    which has columns open, high, low, close in time order)."""
    decisions = np.asarray(decision_index, dtype=np.int64)
    sign = np.array([side.sign for side in sides], dtype=np.int64)
    stops = np.asarray(stop, dtype=float)
    targets = np.asarray(take_profit, dtype=float)
    n = len(candles)
    _validate(n, decisions, sign, stops, targets, horizon)

    opens = candles["open"].to_numpy(dtype=float)
    highs = candles["high"].to_numpy(dtype=float)
    lows = candles["low"].to_numpy(dtype=float)
    closes = candles["close"].to_numpy(dtype=float)

    watched = decisions[:, None] + np.arange(1, horizon + 1)[None, :]  # (m, horizon)
    in_data = watched < n
    watched = np.minimum(watched, n - 1)
    is_long = (sign > 0)[:, None]
    high_w, low_w, open_w = highs[watched], lows[watched], opens[watched]
    stop_hit = np.where(is_long, low_w <= stops[:, None], high_w >= stops[:, None]) & in_data
    target_hit = np.where(is_long, high_w >= targets[:, None], low_w <= targets[:, None]) & in_data

    first_stop = _first_true(stop_hit, horizon)
    first_target = _first_true(target_hit, horizon)
    by_stop = (first_stop < horizon) & (first_stop <= first_target)  # a tie goes to the stop
    by_target = first_target < first_stop
    horizon_end = decisions + horizon
    by_horizon = ~by_stop & ~by_target & (horizon_end < n)

    rows = np.arange(len(decisions))
    stop_open = open_w[rows, np.minimum(first_stop, horizon - 1)]
    target_open = open_w[rows, np.minimum(first_target, horizon - 1)]
    long_1d = sign > 0
    stop_fill = np.where(long_1d, np.minimum(stops, stop_open), np.maximum(stops, stop_open))
    target_fill = np.where(long_1d, np.maximum(targets, target_open), np.minimum(targets, target_open))

    exit_price = np.full(len(decisions), np.nan)
    exit_price[by_stop] = stop_fill[by_stop]
    exit_price[by_target] = target_fill[by_target]
    exit_price[by_horizon] = closes[horizon_end[by_horizon]]

    reason = np.full(len(decisions), ExitReason.INCOMPLETE, dtype=np.int8)
    reason[by_horizon] = ExitReason.HORIZON
    reason[by_target] = ExitReason.TAKE_PROFIT
    reason[by_stop] = ExitReason.STOP_LOSS

    label_end = horizon_end.copy()
    label_end[by_stop] = decisions[by_stop] + 1 + first_stop[by_stop]
    label_end[by_target] = decisions[by_target] + 1 + first_target[by_target]

    entry_index = decisions + 1
    entry_price = np.where(entry_index < n, opens[np.minimum(entry_index, n - 1)], np.nan)
    return_pct = sign * (exit_price - entry_price) / entry_price * 100.0
    return BarrierOutcomes(
        entry_index=entry_index,
        entry_price=entry_price,
        label_end=label_end,
        exit_price=exit_price,
        exit_reason=reason,
        success=by_target,
        return_pct=return_pct,
        complete=reason != ExitReason.INCOMPLETE,
    )


def _first_true(hits: np.ndarray, horizon: int) -> np.ndarray:
    """Column of the first True per row; `horizon` where there is none."""
    return np.where(hits.any(axis=1), hits.argmax(axis=1), horizon)


def _validate(
    n: int, decisions: np.ndarray, sign: np.ndarray, stops: np.ndarray, targets: np.ndarray, horizon: int
) -> None:
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1 candle, got {horizon}")
    m = len(decisions)
    if not (len(sign) == len(stops) == len(targets) == m):
        raise ValueError("decision_index, sides, stop and take_profit must have the same length")
    if m and (decisions.min() < 0 or decisions.max() >= n):
        raise ValueError(f"decision_index must lie in [0, {n - 1}]")
    wrong = np.where(sign > 0, stops >= targets, stops <= targets)
    if np.any(wrong):
        bad = int(np.flatnonzero(wrong)[0])
        raise ValueError(f"candidate {bad}: a long needs stop < take_profit, a short stop > take_profit")

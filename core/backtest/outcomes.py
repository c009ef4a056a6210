"""What one signal would have made on its own, under the bot's rules: the label the ML
success model learns and the research's per-candidate outcome.

The signal decided on row d is confirmed at the open of row d + 1 with the bot's entry
check (`core.rules.entry.entry_refusal`), fills through the fill model, then every
following candle goes through `core.rules.exits.apply_candle` (the monitor's own rules:
stop first, TP1 partial, break-even, trail) until the position is closed. The result is
in R: the net P&L after every fee over the money at risk at entry (quantity x the
distance from the fill to the stop). No sizing, no portfolio: one unit of the signal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.models import Position, PositionStatus, SignalLevels
from core.rules.entry import DEFAULT_MAX_DRIFT_R, entry_refusal
from core.rules.exits import Candle, ManagementRules, apply_candle
from core.rules.fills import FillModel


@dataclass(frozen=True, slots=True)
class Outcome:
    r: float  # net P&L over the initial risk; NaN when not entered or not finished
    return_pct: float  # net P&L over the entry notional, percent
    exit_row: int  # row of the candle that closed it (the last row when unfinished)
    entered: bool
    complete: bool  # closed within the data


def trade_outcome(
    candles: pd.DataFrame,
    row: int,
    levels: SignalLevels,
    atr: float,
    rules: ManagementRules,
    fills: FillModel,
    max_drift_r: float = DEFAULT_MAX_DRIFT_R,
) -> Outcome:
    """The outcome of the signal decided on position `row` of `candles` (open, high,
    low, close in time order)."""
    opens, highs = candles["open"].to_numpy(np.float64), candles["high"].to_numpy(np.float64)
    lows, closes = candles["low"].to_numpy(np.float64), candles["close"].to_numpy(np.float64)
    last = len(candles) - 1
    if row >= last or entry_refusal(levels, float(opens[row + 1]), max_drift_r) is not None:
        return Outcome(math.nan, math.nan, min(row + 1, last), entered=False, complete=row < last)
    side = levels.side
    price = fills.market_price(side.entry_order_side, float(opens[row + 1]))
    position = Position(
        id=0, user_id=0, user_signal_id=None, symbol="", side=side, entry_price=price, initial_quantity=1.0,
        quantity=1.0, stop_price=levels.stop, initial_stop=levels.stop, tp1=levels.tp1, tp2=levels.tp2,
        tp1_done=False, highest=price, lowest=price, atr=atr, realized_pnl=0.0, fees=fills.fee(1.0, price),
        status=PositionStatus.OPEN, opened_at=candles.index[row + 1].to_pydatetime(),
    )  # fmt: skip
    risk = abs(price - levels.stop)
    for i in range(row + 1, last + 1):
        outcome = apply_candle(position, Candle(opens[i], highs[i], lows[i], closes[i]), rules)
        for trigger in outcome.triggers:
            exit_price = fills.exit_price(side, trigger.reason, trigger.price)
            position.realized_pnl += side.sign * (exit_price - price) * trigger.quantity
            position.fees += fills.fee(trigger.quantity, exit_price)
        if outcome.closed:
            net = position.realized_pnl - position.fees
            return Outcome(net / risk, net / price * 100.0, i, entered=True, complete=True)
    return Outcome(math.nan, math.nan, last, entered=True, complete=False)

"""How an open position reacts to one closed candle: stop, TP1 (partial, stop to
break-even), TP2, and the ATR trailing stop (after TP1, or from the entry on).

Two exit styles are expressed by `ManagementRules`:
- fixed targets (the seeds'): TP1 closes half and moves the stop to break-even, the
  stop trails 2 x ATR after TP1, TP2 closes the rest;
- a trailing exit (trend following): the stop trails k x ATR behind the best price from
  the entry on (`trail_from_entry`), TP1 takes a part (`tp1_fraction`), and the rest
  trails until the stop or the far TP2 closes it.

Pure and shared: the bot's monitor job and the backtester both call `apply_candle`, so
the rules exist once. It returns triggers at their trigger prices; slippage and fees are
the executing side's business (the paper exchange, or the backtester's fill model).

Intrabar order is unknown from OHLC, so the rules take the cautious reading:
- the stop is checked before the targets on the same candle;
- a candle that opens through a level fills at the open (a gap), not at the level;
- a stop moved on this candle (break-even, trailing) is first tested on the next one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from core.models import ExitReason, Position, Side
from core.rules.stops import update_stop


@dataclass(frozen=True, slots=True)
class ManagementRules:
    """How an open position is managed after entry."""

    tp1_fraction: float = 0.5  # share of the position closed at TP1; 1.0: TP1 is the only target
    breakeven_after_tp1: bool = True
    trail_atr_multiplier: float = 2.0  # 0 disables trailing
    trail_from_entry: bool = False  # trail from the entry on, not only after TP1

    def __post_init__(self) -> None:
        if not 0.0 < self.tp1_fraction <= 1.0:
            raise ValueError("tp1_fraction must be in (0, 1]")
        if self.trail_atr_multiplier < 0:
            raise ValueError("trail_atr_multiplier must not be negative")


@dataclass(frozen=True, slots=True)
class Trigger:
    reason: ExitReason
    price: float  # trigger price (the level, or the open on a gap)
    quantity: float


@dataclass(frozen=True, slots=True)
class Candle:
    open: float
    high: float
    low: float
    close: float


@dataclass(slots=True)
class CandleOutcome:
    triggers: list[Trigger] = field(default_factory=list)
    stop_moved_from: float | None = None  # previous stop if the stop moved
    closed: bool = False


def stop_reason(position: Position, stop_price: float) -> ExitReason:
    """Why a stop at `stop_price` closes the position: the initial stop (or one moved
    against nothing yet) is a stop-loss, the entry after TP1 is break-even, any stop the
    trail has raised (lowered for a short) beyond the initial one is a trailing stop."""
    if position.tp1_done and stop_price == position.entry_price:
        return ExitReason.BREAK_EVEN
    if position.side.sign * (stop_price - position.initial_stop) > 0:
        return ExitReason.TRAILING_STOP
    return ExitReason.STOP_LOSS


def trails(position: Position, rules: ManagementRules) -> bool:
    """Whether the ATR trail moves this position's stop now."""
    atr = position.atr
    if atr is None or not math.isfinite(atr) or atr <= 0 or rules.trail_atr_multiplier <= 0:
        return False
    return position.tp1_done or rules.trail_from_entry


def _crossed(position: Position, candle: Candle, level: float, adverse: bool) -> float | None:
    """Trigger price if the candle reached `level` (the open on a gap), else None.
    `adverse`: the level is against the position (a stop), else in its favour (a target)."""
    sign = position.side.sign
    if adverse:
        if sign * (candle.open - level) <= 0:
            return candle.open
        extreme = candle.low if position.side is Side.LONG else candle.high
        return level if sign * (extreme - level) <= 0 else None
    if sign * (candle.open - level) >= 0:
        return candle.open
    extreme = candle.high if position.side is Side.LONG else candle.low
    return level if sign * (extreme - level) >= 0 else None


def _exit_all(position: Position, out: CandleOutcome, reason: ExitReason, price: float) -> CandleOutcome:
    out.triggers.append(Trigger(reason, price, position.quantity))
    position.quantity = 0.0
    out.closed = True
    return out


def _take_tp1(position: Position, price: float, rules: ManagementRules, out: CandleOutcome) -> None:
    part = min(position.initial_quantity * rules.tp1_fraction, position.quantity)
    out.triggers.append(Trigger(ExitReason.TP1, price, part))
    position.quantity = max(0.0, position.quantity - part)
    position.tp1_done = True
    out.closed = position.quantity == 0.0
    at_risk = position.side.sign * (position.entry_price - position.stop_price) > 0
    if not out.closed and rules.breakeven_after_tp1 and at_risk:
        position.stop_price = position.entry_price


def apply_candle(position: Position, candle: Candle, rules: ManagementRules, test_stop: bool = True) -> CandleOutcome:
    """Apply one closed candle to `position` in place and say what filled.

    The position's quantity, stop, extremes and tp1 flag are updated; realised P&L is
    not (it depends on the actual fill prices). `test_stop=False`: the stop is not tested
    on this candle (paper's intrabar TP1 moved it to break-even within the candle: a stop
    moved on a candle is first tested on the next one, as when this function moves it).
    """
    out = CandleOutcome()
    stop_fill = _crossed(position, candle, position.stop_price, adverse=True) if test_stop else None
    if stop_fill is not None:
        return _exit_all(position, out, stop_reason(position, position.stop_price), stop_fill)

    old_stop = position.stop_price
    if not position.tp1_done:
        tp1_fill = _crossed(position, candle, position.tp1, adverse=False)
        if tp1_fill is not None:
            _take_tp1(position, tp1_fill, rules, out)
            if out.closed:
                return out

    if position.tp1_done:
        tp2_fill = _crossed(position, candle, position.tp2, adverse=False)
        if tp2_fill is not None:
            return _exit_all(position, out, ExitReason.TP2, tp2_fill)

    position.highest = max(position.highest, candle.high)
    position.lowest = min(position.lowest, candle.low)

    if trails(position, rules):
        assert position.atr is not None
        position.stop_price = update_stop(
            position.side,
            position.stop_price,
            position.highest,
            position.lowest,
            candle.close,
            position.atr,  # ATR at entry, as stored with the position
            rules.trail_atr_multiplier,
        )

    if position.stop_price != old_stop:
        out.stop_moved_from = old_stop
    return out


def apply_price(position: Position, price: float, rules: ManagementRules, stop_seen_safe: bool) -> CandleOutcome:
    """Apply one price seen between candle closes (paper's intrabar check) to `position` in
    place: the stop and the targets rest as on an exchange, so a price at or through a
    level triggers it now. The stop fills at its level when the price was seen on the safe
    side of it before (`stop_seen_safe`: it traded through the level, a stop-market triggers
    there), else at the price seen (a gap: the level was never seen traded). Targets are
    resting limits: they fill at their level, never better. The stop is tested first;
    extremes and the trail are left to the closed candle (`apply_candle`)."""
    out = CandleOutcome()
    sign = position.side.sign
    if sign * (price - position.stop_price) <= 0:
        fill = position.stop_price if stop_seen_safe else price
        return _exit_all(position, out, stop_reason(position, position.stop_price), fill)
    old_stop = position.stop_price
    if not position.tp1_done and sign * (price - position.tp1) >= 0:
        _take_tp1(position, position.tp1, rules, out)
        if out.closed:
            return out
    if position.tp1_done and sign * (price - position.tp2) >= 0:
        return _exit_all(position, out, ExitReason.TP2, position.tp2)
    if position.stop_price != old_stop:
        out.stop_moved_from = old_stop
    return out


def reached(position: Position, price: float) -> ExitReason | None:
    """Which resting level of an open position `price` is at or through (the stop first),
    the reason it fills for; None while the price is between the stop and the targets."""
    sign = position.side.sign
    if sign * (price - position.stop_price) <= 0:
        return stop_reason(position, position.stop_price)
    if not position.tp1_done and sign * (price - position.tp1) >= 0:
        return ExitReason.TP1
    if position.tp1_done and sign * (price - position.tp2) >= 0:
        return ExitReason.TP2
    return None

"""Booking the fills of a live position's orders. Pure: no I/O.

An order row records how much of it the position has booked (`filled`). A fresh account
of the order from the exchange books the difference: its quantity leaves the position, its
gross P&L and its fee (valued in the quote currency) are added, and the events to tell
the user are prepared. The caller saves the position, the balance change, the order
records and the events in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from core.events import Event, PositionClosed, TakeProfitHit
from core.models import ExitReason, OrderRequest, OrderResult, OrderStatus, Position, PositionStatus, StoredOrder
from core.rules.exits import ManagementRules, trails
from core.rules.stops import update_stop
from core.trading.orders import fee_in_quote, mean_exit_price
from core.trading.protection import parse_leg, stop_reason, target_reason
from core.trading.step_events import close_of_step

EPS = 1e-12


@dataclass(slots=True)
class Batch:
    """Fills to book in one transaction, and what they say."""

    results: list[OrderResult] = field(default_factory=list)
    closing: list[Callable[[float], Event]] = field(default_factory=list)
    tp1: list[Callable[[float], Event]] = field(default_factory=list)  # dropped if the position closes
    balance_delta: float = 0.0
    last_price: float | None = None
    last_reason: ExitReason | None = None

    def events(self, balance: float) -> list[Event]:
        """The events to queue, built from the balance after the batch."""
        return [make(balance) for make in [*self.tp1, *self.closing]]


def same_state(a: OrderResult, b: OrderResult) -> bool:
    """The same state of an order (timestamps aside)."""
    return (a.status, a.filled, a.average_price, a.fee) == (b.status, b.filled, b.average_price, b.fee) and (
        a.exchange_order_id in (None, b.exchange_order_id)
    )


def break_even_stop(position: Position, rules: ManagementRules) -> float:
    """The stop after TP1: the entry when the rules say so and the stop is still below it."""
    at_risk = position.side.sign * (position.entry_price - position.stop_price) > 0
    if position.tp1_done and rules.breakeven_after_tp1 and at_risk:
        return position.entry_price
    return position.stop_price


def exit_reason(position: Position, request: OrderRequest) -> ExitReason:
    """Why this order took quantity out of the position."""
    parsed = parse_leg(request.client_order_id)
    if parsed is None:  # a market exit: its purpose names the reason
        return ExitReason(request.purpose)
    slot, leg = parsed[1], parsed[3]
    if leg == "tp":
        return target_reason(slot)
    assert request.stop_price is not None
    return stop_reason(position, request.stop_price)


def book_fill(
    position: Position, order: StoredOrder, result: OrderResult, batch: Batch, rules: ManagementRules
) -> None:
    """Book what `result` filled beyond what `order` had booked, into `position` and `batch`."""
    before, request = order.result, order.request
    quantity = result.filled - before.filled
    value = (result.average_price or request.price or 0.0) * result.filled
    value -= (before.average_price or 0.0) * before.filled
    price = value / quantity
    fee = fee_in_quote(result, position.symbol, price) - fee_in_quote(before, position.symbol, price)
    gross = (price - position.entry_price) * quantity * position.side.sign
    position.realized_pnl += gross
    position.fees += fee
    position.quantity = max(0.0, position.quantity - quantity)
    reason = exit_reason(position, request)
    batch.results.append(result)
    batch.balance_delta += gross - fee
    batch.last_price, batch.last_reason = price, reason
    if reason is ExitReason.TP1 and result.status is OrderStatus.FILLED:
        position.tp1_done = True
        p = position.copy()
        p.stop_price = break_even_stop(position, rules)  # where the stop is moved next
        filled = result.filled
        batch.tp1.append(
            lambda _: TakeProfitHit(
                user_id=p.user_id,
                position_id=p.id,
                symbol=p.symbol,
                side=p.side.value,
                quantity=filled,
                price=price,
                pnl=gross - fee,
                new_stop=p.stop_price,
                remaining=p.quantity,
            )
        )


def close(position: Position, batch: Batch, now: datetime, sold: float) -> None:
    """Close the position (what is left is dust below the lot step, which stays in the
    account). Its exit price is the mean of every exit, weighted by the `sold` quantities;
    its reason, the last exit's."""
    position.quantity = 0.0
    position.status = PositionStatus.CLOSED
    position.closed_at = now
    position.exit_price = (
        mean_exit_price(position, sold) or batch.last_price or position.exit_price or position.entry_price
    )
    position.exit_reason = batch.last_reason or ExitReason.MANUAL
    p = position.copy()
    notional = p.entry_price * p.initial_quantity
    taken = list(batch.tp1)  # a TP1 booked in this same look: told in the close's one message
    batch.tp1.clear()

    def closing(balance: float) -> Event:
        return PositionClosed(
            user_id=p.user_id,
            position_id=p.id,
            symbol=p.symbol,
            side=p.side.value,
            quantity=p.initial_quantity,
            entry_price=p.entry_price,
            exit_price=p.exit_price or p.entry_price,
            reason=(p.exit_reason or ExitReason.MANUAL).value,
            pnl=p.net_pnl,
            pnl_pct=p.net_pnl / notional * 100 if notional else 0.0,
            balance=balance,
        )

    batch.closing.append(close_of_step([*taken, closing]))


def trail_stop(position: Position, candles: pd.DataFrame, rules: ManagementRules) -> float:
    """Where the stop should be: break-even after TP1, then the ATR trail over the
    candles closed since the last look (as the paper rules do it). Updates the extremes
    and the last candle seen; the position's stop stays where it rests until it is moved."""
    wanted = break_even_stop(position, rules)
    if candles.empty:
        return wanted
    if position.last_candle_at is not None:
        candles = candles[candles.index > pd.Timestamp(position.last_candle_at)]
    for stamp, row in zip(candles.index, candles.itertuples(index=False), strict=True):
        position.highest = max(position.highest, row.high)
        position.lowest = min(position.lowest, row.low)
        position.last_candle_at = stamp.to_pydatetime()
        if trails(position, rules):  # the paper rules' own test: after TP1, or from the entry
            assert position.atr is not None
            wanted = update_stop(
                position.side,
                wanted,
                position.highest,
                position.lowest,
                row.close,
                position.atr,
                rules.trail_atr_multiplier,
            )
    return wanted

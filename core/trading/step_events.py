"""The events of one monitor step that closed a position, as one event: the close, carrying
the partial exits the same step took before it (TP1 and TP2 in one candle, or in one look at
the exchange). The user gets one message that says what happened, never a TP1 notice whose
"still open" is already nothing."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from core.events import Event, PositionClosed, TakeProfitHit

EventMaker = Callable[[float], Event]  # built from the balance after the step


def close_of_step(makers: Sequence[EventMaker]) -> EventMaker:
    """One maker for the step's events: the last (the close) with the TP1 fills before it."""

    def make(balance: float) -> Event:
        built = [m(balance) for m in makers]
        closed = built[-1]
        assert isinstance(closed, PositionClosed), "a step that closes ends with the close"
        taken = [
            {"reason": "tp1", "quantity": e.quantity, "price": e.price}
            for e in built[:-1]
            if isinstance(e, TakeProfitHit)
        ]
        return dataclasses.replace(closed, taken=[*closed.taken, *taken]) if taken else closed

    return make

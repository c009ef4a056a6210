"""The protective orders of a live position, as the database holds them.

A position's held quantity is covered by OCO order lists (stop + target on one quantity,
which spot can lock only once). Each list fills a *slot*: slot "a" holds the TP1 share
(stop + TP1), slot "b" the rest (stop + TP2). Replacing a slot's list (a moved stop, a
list that vanished) makes a new *generation* with new client order ids, so an id is never
sent twice:

    atra-p<position>-<slot><generation>-sl   the stop leg   (purpose "<slot>-stop")
    atra-p<position>-<slot><generation>-tp   the target leg (purpose "<slot>-tp")
    atra-p<position>-<slot><generation>      the list
    atra-p<position>-<slot><generation>-x    a market exit of that slot's quantity

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from core.models import ExitReason, OrderRequest, OrderStatus, OrderType, Position, StoredOrder

SLOT_TP1, SLOT_TP2 = "a", "b"
_LEG = re.compile(r"^atra-p(\d+)-([ab])(\d+)-(sl|tp)$")
LIVE_STATUSES = (OrderStatus.OPEN, OrderStatus.SUBMITTING)


def list_id(position_id: int, slot: str, generation: int) -> str:
    return f"atra-p{position_id}-{slot}{generation}"


def leg_id(position_id: int, slot: str, generation: int, leg: str) -> str:
    return f"{list_id(position_id, slot, generation)}-{leg}"


def slot_exit_id(position_id: int, slot: str, generation: int) -> str:
    return f"{list_id(position_id, slot, generation)}-x"


def exit_request(
    position: Position, client_order_id: str, amount: float, reason: ExitReason = ExitReason.MANUAL
) -> OrderRequest:
    """A market order selling (part of) the position for `reason`."""
    return OrderRequest(
        client_order_id=client_order_id,
        user_id=position.user_id,
        symbol=position.symbol,
        side=position.side.exit_order_side,
        type=OrderType.MARKET,
        amount=amount,
        reduce_only=True,
        position_id=position.id,
        purpose=reason.value,
    )


def target_of(position: Position, slot: str) -> float:
    return position.tp1 if slot == SLOT_TP1 else position.tp2


def target_reason(slot: str) -> ExitReason:
    return ExitReason.TP1 if slot == SLOT_TP1 else ExitReason.TP2


def stop_reason(position: Position, stop_price: float) -> ExitReason:
    """Why a stop at `stop_price` closed (part of) the position, as the paper rules say it."""
    if not position.tp1_done:
        return ExitReason.STOP_LOSS
    if stop_price == position.entry_price:
        return ExitReason.BREAK_EVEN
    return ExitReason.TRAILING_STOP


@dataclass(frozen=True, slots=True)
class Slot:
    """The latest generation of one slot: its two legs as recorded."""

    name: str
    generation: int
    stop: StoredOrder
    take_profit: StoredOrder

    @property
    def legs(self) -> tuple[StoredOrder, StoredOrder]:
        return self.stop, self.take_profit

    @property
    def amount(self) -> float:
        return self.stop.request.amount

    @property
    def stop_price(self) -> float:
        assert self.stop.request.stop_price is not None
        return self.stop.request.stop_price

    @property
    def alive(self) -> bool:
        """Resting (or maybe resting: sent, answer not recorded yet) on the exchange."""
        return any(leg.result.status in LIVE_STATUSES for leg in self.legs)

    @property
    def unresolved(self) -> bool:
        return any(leg.result.status is OrderStatus.SUBMITTING for leg in self.legs)

    @property
    def done(self) -> bool:
        """A leg filled completely: the slot's quantity has left the account."""
        return any(leg.result.status is OrderStatus.FILLED for leg in self.legs)

    @property
    def booked(self) -> float:
        """What the position has booked of this slot (the recorded fills)."""
        return sum(leg.result.filled for leg in self.legs)

    @property
    def covers(self) -> float:
        """The quantity this slot still protects."""
        return max(0.0, self.amount - self.booked) if self.alive else 0.0


def parse_leg(client_order_id: str) -> tuple[int, str, int, str] | None:
    """(position id, slot, generation, "sl"|"tp") of a protective leg's id, else None."""
    match = _LEG.match(client_order_id)
    if match is None:
        return None
    return int(match.group(1)), match.group(2), int(match.group(3)), match.group(4)


def current_slots(orders: Iterable[StoredOrder]) -> dict[str, Slot]:
    """The latest generation of each slot among a position's orders."""
    legs: dict[tuple[str, int], dict[str, StoredOrder]] = {}
    for order in orders:
        parsed = parse_leg(order.request.client_order_id)
        if parsed is not None:
            _, slot, generation, leg = parsed
            legs.setdefault((slot, generation), {})[leg] = order
    slots: dict[str, Slot] = {}
    for (slot, generation), pair in sorted(legs.items(), key=lambda item: item[0][1]):
        if "sl" in pair and "tp" in pair:
            slots[slot] = Slot(slot, generation, pair["sl"], pair["tp"])
    return slots


def next_generation(orders: Iterable[StoredOrder], slot: str) -> int:
    generations = [
        parsed[2]
        for parsed in (parse_leg(o.request.client_order_id) for o in orders)
        if parsed is not None and parsed[1] == slot
    ]
    return max(generations, default=0) + 1

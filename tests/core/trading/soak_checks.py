"""What a soak (tests/core/trading/soak.py) must end with, checked against the fake
exchange's own books and the database, and the figures to report."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal

from core.clock import SystemClock
from core.models import PositionStatus, SignalState
from db.system import SystemRepository
from db.trades import PositionRepository
from tests.core.trading.soak import DELISTED, SoakRun
from tests.fakes.fake_exchange import FakeOrder

_STATUS = {"NEW": "open", "PARTIALLY_FILLED": "open", "FILLED": "filled", "CANCELED": "canceled", "EXPIRED": "canceled"}
_CLAIMED = (SignalState.CONFIRMED.value, SignalState.EXECUTED.value, SignalState.REJECTED.value)


@dataclass(slots=True)
class SoakFigures:
    confirmations: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    intents: int = 0  # rows claimed (pending -> confirmed): an entry may have been sent
    intents_by_entries: Counter[int] = field(default_factory=Counter)  # entry orders on the exchange -> intents
    filled_entries: int = 0  # entries the exchange filled (even partly)
    filled_without_position: int = 0  # ... whose row has no position: each must be flagged
    unflagged_fills: list[str] = field(default_factory=list)
    open_positions: int = 0
    closed_positions: int = 0
    covered: int = 0  # open, covered by resting stops on the exchange (but dust below the minimum order)
    flagged: int = 0  # open, not (fully) covered, and the user and the admins were told
    flagged_detail: list[str] = field(default_factory=list)
    unprotected: list[str] = field(default_factory=list)  # open, not covered, not flagged
    orders_checked: int = 0
    orders_unreadable: int = 0  # of the revoked key or the delisted pair: checked to exist only
    disagreements: list[str] = field(default_factory=list)
    monitor_runs: int = 0
    runs_during_burst: int = 0
    monitor_slowest: float = 0.0
    monitor_errors: list[str] = field(default_factory=list)
    faults: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0
    burst: float = 0.0
    elapsed: float = 0.0

    def problems(self) -> list[str]:
        """Every broken promise; empty when the soak holds."""
        out = [f"{n} intents with {k} entry orders" for k, n in self.intents_by_entries.items() if k > 1]
        out += [f"filled entry not in a position and not flagged: {x}" for x in self.unflagged_fills]
        out += [f"position not protected and not flagged: {x}" for x in self.unprotected]
        out += [f"database and exchange disagree: {x}" for x in self.disagreements]
        out += [f"the monitor failed: {x}" for x in self.monitor_errors]
        return out


async def check(run: SoakRun) -> SoakFigures:
    figures = SoakFigures(
        confirmations=len(run.rows),
        outcomes=run.outcomes,
        monitor_runs=len(run.monitor_runs),
        runs_during_burst=run.runs_during_burst,
        monitor_slowest=max(run.monitor_runs, default=0.0),
        monitor_errors=run.monitor_errors,
        faults=Counter(run.fake.faults_met),
        rate_limited=run.fake.rate_limited_count,
        burst=run.burst,
        elapsed=run.elapsed,
    )
    await _entries(run, figures)
    await _positions(run, figures)
    await _agreement(run, figures)
    return figures


def _key(user_id: int) -> str:
    return f"key-{user_id}"


async def _flag(run: SoakRun, key: str) -> bool:
    return bool(await SystemRepository(run.db, SystemClock()).get_value(key))


async def _entries(run: SoakRun, figures: SoakFigures) -> None:
    rows = await run.db.fetchall("SELECT id, user_id, state FROM user_signals")
    for row in rows:
        if row["state"] not in _CLAIMED:
            continue
        figures.intents += 1
        cid = f"atra-us{row['id']}-entry"
        sent = [o for o in run.fake.orders_of(_key(row["user_id"])) if o.client_order_id == cid]
        figures.intents_by_entries[len(sent)] += 1
        if not any(o.executed_qty > 0 for o in sent):
            continue
        figures.filled_entries += 1
        if row["state"] == SignalState.EXECUTED.value:
            continue
        figures.filled_without_position += 1
        if not await _flag(run, f"episode:confirm:{row['id']}"):
            figures.unflagged_fills.append(f"row {row['id']} ({row['state']}) of user {row['user_id']}")


async def _positions(run: SoakRun, figures: SoakFigures) -> None:
    positions = PositionRepository(run.db, SystemClock())
    figures.closed_positions = len(
        await run.db.fetchall("SELECT id FROM positions WHERE status = ?", (PositionStatus.CLOSED.value,))
    )
    for position in await positions.open_positions():
        figures.open_positions += 1
        symbol = position.symbol.replace("/", "")
        prefix = f"atra-p{position.id}-"
        covering = sum(
            o.orig_qty - o.executed_qty
            for o in run.fake.open_orders(_key(position.user_id))
            if o.client_order_id.startswith(prefix) and o.client_order_id.endswith("-sl")
        )
        uncovered = Decimal(str(position.quantity)) - covering
        if uncovered * run.fake.prices[symbol] < run.dust[symbol]:  # what is left cannot be an order
            figures.covered += 1
        elif await _flag(run, f"unprotected:{position.id}") or await _flag(run, f"episode:position:{position.id}"):
            figures.flagged += 1
            figures.flagged_detail.append(f"{position.symbol} of user {position.user_id}")
        else:
            figures.unprotected.append(
                f"position {position.id} of user {position.user_id}: {covering} of {position.quantity}"
            )


async def _agreement(run: SoakRun, figures: SoakFigures) -> None:
    """Every order on the exchange is in the database in the state the exchange says (an
    order the bot cannot read any more, of the revoked key or the delisted pair: it is
    there); every order the database holds as open, filled or in flight is on the exchange."""
    rows = {r["client_order_id"]: r for r in await run.db.fetchall("SELECT * FROM orders")}
    on_exchange: set[str] = set()
    for key, account in run.fake.accounts.items():
        for order in account.orders:
            on_exchange.add(order.client_order_id)
            figures.orders_checked += 1
            if account.client_ids[order.client_order_id] > 1:
                figures.disagreements.append(
                    f"{order.client_order_id} created {account.client_ids[order.client_order_id]} times"
                )
            row = rows.get(order.client_order_id)
            if row is None:
                figures.disagreements.append(f"{order.client_order_id} is on the exchange, not in the database")
            elif key == run.revoked_key or order.symbol == DELISTED:
                figures.orders_unreadable += 1
            elif not _same(order, row):
                figures.disagreements.append(
                    f"{order.client_order_id}: exchange {order.status} {order.executed_qty}, "
                    f"database {row['status']} {row['filled']}"
                )
    for cid, row in rows.items():
        if row["status"] in ("open", "filled", "submitting") and cid not in on_exchange:
            unreadable = row["symbol"].replace("/", "") == DELISTED or _key(row["user_id"]) == run.revoked_key
            if not (unreadable and row["status"] == "submitting"):
                figures.disagreements.append(f"{cid} is {row['status']} in the database, not on the exchange")


def _same(order: FakeOrder, row: object) -> bool:
    return row["status"] == _STATUS[order.status] and abs(float(order.executed_qty) - row["filled"]) < 1e-9  # type: ignore[index]

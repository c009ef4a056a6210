"""Orders (one row per client order id, stored before sending) and positions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from core.events import Event
from core.models import (
    ExitReason,
    OrderRequest,
    OrderResult,
    OrderStatus,
    OrderType,
    Position,
    PositionStatus,
    Side,
    StoredOrder,
)
from core.ports import Clock
from db.database import from_db_time, to_db_time
from db.outbox import queue_events
from db.sql import Row, SqlDatabase


def _order_result(row: Row) -> OrderResult:
    return OrderResult(
        client_order_id=row["client_order_id"],
        exchange_order_id=row["exchange_order_id"],
        status=OrderStatus(row["status"]),
        amount=row["amount"],
        filled=row["filled"],
        average_price=row["average_price"],
        fee=row["fee"],
        fee_currency=row["fee_currency"],
        timestamp=from_db_time(row["updated_at"]),
    )


def _order_request(row: Row) -> OrderRequest:
    return OrderRequest(
        client_order_id=row["client_order_id"],
        user_id=row["user_id"],
        symbol=row["symbol"],
        side=row["side"],
        type=OrderType(row["type"]),
        amount=row["amount"],
        price=row["price"],
        stop_price=row["stop_price"],
        reduce_only=bool(row["reduce_only"]),
        position_id=row["position_id"],
        purpose=row["purpose"],
    )


def _stored(row: Row) -> StoredOrder:
    created = from_db_time(row["created_at"])
    assert created is not None
    return StoredOrder(_order_request(row), _order_result(row), created, from_db_time(row["sent_at"]))


_RECORD = (
    "UPDATE orders SET status = ?, exchange_order_id = COALESCE(?, exchange_order_id), filled = ?,"
    " average_price = ?, fee = ?, fee_currency = ?, updated_at = ? WHERE client_order_id = ?"
)


def _record_values(result: OrderResult, now: str) -> tuple[object, ...]:
    return (
        result.status.value,
        result.exchange_order_id,
        result.filled,
        result.average_price,
        result.fee,
        result.fee_currency,
        now,
        result.client_order_id,
    )


class OrderRepository:
    def __init__(self, db: SqlDatabase, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def begin(self, request: OrderRequest) -> OrderResult | None:
        """Store the intent as `submitting` before it is sent and return None. If the
        client order id is known already, return what is recorded of it instead: the
        caller must then resolve it, never send it again."""
        now = to_db_time(self._clock.now())
        inserted = await self._db.fetchone(
            "INSERT INTO orders (client_order_id, user_id, position_id, purpose, symbol, side, type, amount,"
            " price, stop_price, reduce_only, status, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'submitting', ?, ?)"
            " ON CONFLICT (client_order_id) DO NOTHING RETURNING id",
            (
                request.client_order_id,
                request.user_id,
                request.position_id,
                request.purpose,
                request.symbol,
                request.side,
                request.type.value,
                request.amount,
                request.price,
                request.stop_price,
                int(request.reduce_only),
                now,
                now,
            ),
        )
        if inserted is None:  # the client order id is known already
            row = await self._db.fetchone("SELECT * FROM orders WHERE client_order_id = ?", (request.client_order_id,))
            assert row is not None
            return _order_result(row)
        return None

    async def record(self, result: OrderResult) -> None:
        await self._db.execute(_RECORD, _record_values(result, to_db_time(self._clock.now())))

    async def mark_sent(self, *client_order_ids: str) -> None:
        """Their requests leave for the exchange now: stored BEFORE they leave, so that after
        a crash the receive window is counted from the latest moment they could have left."""
        marks = ", ".join("?" for _ in client_order_ids)
        await self._db.execute(
            f"UPDATE orders SET sent_at = ? WHERE client_order_id IN ({marks})",
            (to_db_time(self._clock.now()), *client_order_ids),
        )

    async def get(self, client_order_id: str) -> OrderResult | None:
        row = await self._db.fetchone("SELECT * FROM orders WHERE client_order_id = ?", (client_order_id,))
        return _order_result(row) if row else None

    async def stored(self, client_order_id: str) -> StoredOrder | None:
        row = await self._db.fetchone("SELECT * FROM orders WHERE client_order_id = ?", (client_order_id,))
        return _stored(row) if row else None

    async def unresolved(self) -> list[OrderRequest]:
        rows = await self._db.fetchall("SELECT * FROM orders WHERE status = 'submitting' ORDER BY id")
        return [_order_request(r) for r in rows]

    async def for_position(self, position_id: int) -> list[StoredOrder]:
        """Every order of a position (exits, protective legs), oldest first."""
        rows = await self._db.fetchall("SELECT * FROM orders WHERE position_id = ? ORDER BY id", (position_id,))
        return [_stored(r) for r in rows]

    async def active(self) -> list[StoredOrder]:
        """Orders that may still change on the exchange: submitting or open."""
        rows = await self._db.fetchall("SELECT * FROM orders WHERE status IN ('submitting', 'open') ORDER BY id")
        return [_stored(r) for r in rows]

    async def count_by_status(self) -> dict[str, int]:
        rows = await self._db.fetchall("SELECT status, COUNT(*) FROM orders GROUP BY status")
        return {r[0]: int(r[1]) for r in rows}


_POSITION_FIELDS = (
    "user_id",
    "user_signal_id",
    "symbol",
    "side",
    "entry_price",
    "initial_quantity",
    "quantity",
    "stop_price",
    "initial_stop",
    "tp1",
    "tp2",
    "tp1_done",
    "highest",
    "lowest",
    "atr",
    "realized_pnl",
    "fees",
    "status",
    "opened_at",
    "last_candle_at",
    "closed_at",
    "exit_price",
    "exit_reason",
)


def _position_values(p: Position) -> tuple[object, ...]:
    def t(moment: datetime | None) -> str | None:
        return to_db_time(moment) if moment else None

    return (
        p.user_id,
        p.user_signal_id,
        p.symbol,
        p.side.value,
        p.entry_price,
        p.initial_quantity,
        p.quantity,
        p.stop_price,
        p.initial_stop,
        p.tp1,
        p.tp2,
        int(p.tp1_done),
        p.highest,
        p.lowest,
        p.atr,
        p.realized_pnl,
        p.fees,
        p.status.value,
        t(p.opened_at),
        t(p.last_candle_at),
        t(p.closed_at),
        p.exit_price,
        p.exit_reason.value if p.exit_reason else None,
    )


def _position(row: Row) -> Position:
    return Position(
        id=row["id"],
        user_id=row["user_id"],
        user_signal_id=row["user_signal_id"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        entry_price=row["entry_price"],
        initial_quantity=row["initial_quantity"],
        quantity=row["quantity"],
        stop_price=row["stop_price"],
        initial_stop=row["initial_stop"],
        tp1=row["tp1"],
        tp2=row["tp2"],
        tp1_done=bool(row["tp1_done"]),
        highest=row["highest"],
        lowest=row["lowest"],
        atr=row["atr"],
        realized_pnl=row["realized_pnl"],
        fees=row["fees"],
        status=PositionStatus(row["status"]),
        opened_at=from_db_time(row["opened_at"]),  # type: ignore[arg-type]
        last_candle_at=from_db_time(row["last_candle_at"]),
        closed_at=from_db_time(row["closed_at"]),
        exit_price=row["exit_price"],
        exit_reason=ExitReason(row["exit_reason"]) if row["exit_reason"] else None,
    )


class PositionRepository:
    def __init__(self, db: SqlDatabase, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def open(
        self,
        position: Position,
        entry_client_order_id: str,
        fee: float,
        make_events: Callable[[Position], Sequence[Event]],
    ) -> Position:
        """Insert the position, mark its user signal executed, link the entry order,
        charge the entry fee to the paper balance and queue the events: one transaction."""
        placeholders = ", ".join("?" for _ in _POSITION_FIELDS)
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                f"INSERT INTO positions ({', '.join(_POSITION_FIELDS)}) VALUES ({placeholders}) RETURNING id",
                _position_values(position),
            )
            (inserted,) = await cursor.fetchall()
            position.id = int(inserted[0])
            now = to_db_time(self._clock.now())
            if position.user_signal_id is not None:
                await conn.execute(
                    "UPDATE user_signals SET state = 'executed', updated_at = ? WHERE id = ? AND state = 'confirmed'",
                    (now, position.user_signal_id),
                )
            await conn.execute(
                "UPDATE orders SET position_id = ? WHERE client_order_id = ?", (position.id, entry_client_order_id)
            )
            await conn.execute(
                "UPDATE users SET paper_balance = paper_balance - ?, updated_at = ? WHERE id = ?",
                (fee, now, position.user_id),
            )
            await queue_events(conn, make_events(position), self._clock.now())
        return position

    async def save(
        self,
        position: Position,
        balance_delta: float,
        make_events: Callable[[float], Sequence[Event]],
        orders: Sequence[OrderResult] = (),
    ) -> float:
        """Persist the position's new state, add `balance_delta` to the user's paper
        balance, record `orders` (the fills that changed it) and queue the events (built
        from the new balance): one transaction."""
        assignments = ", ".join(f"{name} = ?" for name in _POSITION_FIELDS)
        async with self._db.transaction() as conn:
            now = to_db_time(self._clock.now())
            for result in orders:
                await conn.execute(_RECORD, _record_values(result, now))
            await conn.execute(
                f"UPDATE positions SET {assignments} WHERE id = ?", (*_position_values(position), position.id)
            )
            cursor = await conn.execute(
                "UPDATE users SET paper_balance = paper_balance + ?, updated_at = ? WHERE id = ?"
                " RETURNING paper_balance",
                (balance_delta, to_db_time(self._clock.now()), position.user_id),
            )
            rows = list(await cursor.fetchall())  # drain RETURNING so the statement completes
            balance = float(rows[0][0]) if rows else 0.0
            await queue_events(conn, make_events(balance), self._clock.now())
        return balance

    async def get(self, position_id: int) -> Position | None:
        row = await self._db.fetchone("SELECT * FROM positions WHERE id = ?", (position_id,))
        return _position(row) if row else None

    async def open_positions(self, user_id: int | None = None) -> list[Position]:
        if user_id is None:
            rows = await self._db.fetchall("SELECT * FROM positions WHERE status = 'open' ORDER BY id")
        else:
            rows = await self._db.fetchall(
                "SELECT * FROM positions WHERE status = 'open' AND user_id = ? ORDER BY id", (user_id,)
            )
        return [_position(r) for r in rows]

    async def closed_positions(self, user_id: int, limit: int | None = None) -> list[Position]:
        sql = "SELECT * FROM positions WHERE status = 'closed' AND user_id = ? ORDER BY closed_at DESC, id DESC"
        params: tuple[int, ...] = (user_id,)
        if limit is not None:
            sql, params = sql + " LIMIT ?", (user_id, limit)
        rows = await self._db.fetchall(sql, params)
        return [_position(r) for r in rows]

    async def closed_net_pnls(self, user_ids: Sequence[int] | None = None) -> dict[int, list[float]]:
        """Net P&L (fees included) of each user's closed positions, oldest first."""
        rows = await self._db.fetchall(
            "SELECT user_id, realized_pnl - fees FROM positions WHERE status = 'closed' ORDER BY closed_at, id"
        )
        wanted = set(user_ids) if user_ids is not None else None
        out: dict[int, list[float]] = {}
        for user_id, pnl in rows:
            if wanted is None or user_id in wanted:
                out.setdefault(user_id, []).append(float(pnl))
        return out

    async def count_open(self, user_id: int | None = None) -> int:
        if user_id is None:
            row = await self._db.fetchone("SELECT COUNT(*) FROM positions WHERE status = 'open'")
        else:
            row = await self._db.fetchone(
                "SELECT COUNT(*) FROM positions WHERE status = 'open' AND user_id = ?", (user_id,)
            )
        return int(row[0]) if row else 0

"""Shadow positions (one per published signal, belonging to no user) and the probation state
of each playbook: the stored side of the track record (core/trading/track_record.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from core.events import Event
from core.models import ExitReason, Position, PositionStatus, Side, SignalLevels
from core.records import ProbationState, PublishedSignal, ShadowOutcome, ShadowPosition, ShadowStatus
from db.database import from_db_time, to_db_time
from db.outbox import queue_events
from db.sql import Row, SqlDatabase

_SHADOW_COLUMNS = (
    "id, signal_id, playbook, source, symbol, timeframe, side, entry_price, quantity, stop_price, initial_stop,"
    " tp1, tp2, tp1_done, highest, lowest, atr, realized_pnl, fees, status, published_at, last_candle_at,"
    " closed_at, exit_price, exit_reason, r_multiple, return_pct"
)


def _time(moment: datetime | None) -> str | None:
    return to_db_time(moment) if moment else None


def _shadow(row: Row) -> ShadowPosition:
    status = ShadowStatus(row["status"])
    position = Position(
        id=row["id"],
        user_id=0,
        user_signal_id=None,
        symbol=row["symbol"],
        side=Side(row["side"]),
        entry_price=row["entry_price"],
        initial_quantity=1.0,
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
        status=PositionStatus.OPEN if status is ShadowStatus.OPEN else PositionStatus.CLOSED,
        opened_at=from_db_time(row["published_at"]),  # type: ignore[arg-type]
        last_candle_at=from_db_time(row["last_candle_at"]),
        closed_at=from_db_time(row["closed_at"]),
        exit_price=row["exit_price"],
        exit_reason=ExitReason(row["exit_reason"]) if row["exit_reason"] else None,
    )
    return ShadowPosition(
        signal_id=row["signal_id"],
        playbook=row["playbook"],
        source=row["source"],
        timeframe=row["timeframe"],
        published_at=position.opened_at,
        position=position,
        status=status,
        r_multiple=row["r_multiple"],
        return_pct=row["return_pct"],
    )


class ShadowRepository:
    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    async def unfollowed_signals(self, limit: int = 500) -> list[PublishedSignal]:
        """Stored signals without a shadow yet, oldest first."""
        rows = await self._db.fetchall(
            "SELECT s.id, s.source, s.symbol, s.timeframe, s.side, s.entry, s.stop, s.tp1, s.tp2, s.atr,"
            " s.candle_time, s.meta, s.created_at FROM signals s"
            " LEFT JOIN shadow_positions sh ON sh.signal_id = s.id WHERE sh.id IS NULL ORDER BY s.id LIMIT ?",
            (limit,),
        )
        return [
            PublishedSignal(
                signal_id=r["id"],
                source=r["source"],
                symbol=r["symbol"],
                timeframe=r["timeframe"],
                levels=SignalLevels(Side(r["side"]), r["entry"], r["stop"], r["tp1"], r["tp2"]),
                atr=r["atr"],
                candle_time=from_db_time(r["candle_time"]),  # type: ignore[arg-type]
                meta=json.loads(r["meta"] or "{}"),
                created_at=from_db_time(r["created_at"]),  # type: ignore[arg-type]
            )
            for r in rows
        ]

    async def open(self, shadow: ShadowPosition) -> bool:
        """Store a new shadow; False if its signal already has one."""
        p = shadow.position
        return (
            await self._db.execute(
                "INSERT INTO shadow_positions (signal_id, playbook, source, symbol, timeframe, side, entry_price,"
                " quantity, stop_price, initial_stop, tp1, tp2, tp1_done, highest, lowest, atr, realized_pnl, fees,"
                " status, published_at, last_candle_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
                " ?, ?, ?) ON CONFLICT (signal_id) DO NOTHING",
                (
                    shadow.signal_id,
                    shadow.playbook,
                    shadow.source,
                    p.symbol,
                    shadow.timeframe,
                    p.side.value,
                    p.entry_price,
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
                    shadow.status.value,
                    to_db_time(shadow.published_at),
                    _time(p.last_candle_at),
                ),
            )  # fmt: skip
            == 1
        )

    async def open_shadows(self) -> list[ShadowPosition]:
        rows = await self._db.fetchall(
            f"SELECT {_SHADOW_COLUMNS} FROM shadow_positions WHERE status = 'open' ORDER BY id"
        )
        return [_shadow(r) for r in rows]

    async def get(self, signal_id: int) -> ShadowPosition | None:
        row = await self._db.fetchone(
            f"SELECT {_SHADOW_COLUMNS} FROM shadow_positions WHERE signal_id = ?", (signal_id,)
        )
        return _shadow(row) if row else None

    async def save(self, shadow: ShadowPosition) -> None:
        """Store what a run of the track record changed (one statement: all or nothing)."""
        p = shadow.position
        await self._db.execute(
            "UPDATE shadow_positions SET quantity = ?, stop_price = ?, tp1_done = ?, highest = ?, lowest = ?,"
            " realized_pnl = ?, fees = ?, status = ?, last_candle_at = ?, closed_at = ?, exit_price = ?,"
            " exit_reason = ?, r_multiple = ?, return_pct = ? WHERE id = ?",
            (
                p.quantity, p.stop_price, int(p.tp1_done), p.highest, p.lowest, p.realized_pnl, p.fees,
                shadow.status.value, _time(p.last_candle_at), _time(p.closed_at), p.exit_price,
                p.exit_reason.value if p.exit_reason else None, shadow.r_multiple, shadow.return_pct, p.id,
            ),
        )  # fmt: skip

    async def outcomes(self, playbook: str | None = None) -> list[ShadowOutcome]:
        """Every counted shadow (open or closed, not void), oldest first."""
        sql = (
            "SELECT playbook, published_at, status, r_multiple, return_pct FROM shadow_positions WHERE status <> 'void'"
        )
        params: list[object] = []
        if playbook is not None:
            sql += " AND playbook = ?"
            params.append(playbook)
        rows = await self._db.fetchall(sql + " ORDER BY id", params)
        return [
            ShadowOutcome(
                playbook=r["playbook"],
                published_at=from_db_time(r["published_at"]),  # type: ignore[arg-type]
                status=ShadowStatus(r["status"]),
                r_multiple=r["r_multiple"],
                return_pct=r["return_pct"],
            )
            for r in rows
        ]

    async def playbooks(self) -> list[str]:
        rows = await self._db.fetchall("SELECT DISTINCT playbook FROM shadow_positions ORDER BY playbook")
        return [r[0] for r in rows]

    async def recent_r(self, playbook: str, count: int) -> list[float]:
        """R of the playbook's last `count` closed shadows, newest first."""
        rows = await self._db.fetchall(
            "SELECT r_multiple FROM shadow_positions WHERE playbook = ? AND status = 'closed'"
            " ORDER BY closed_at DESC, id DESC LIMIT ?",
            (playbook, count),
        )
        return [float(r[0]) for r in rows]

    async def probation(self) -> dict[str, ProbationState]:
        rows = await self._db.fetchall("SELECT playbook, on_probation, since, avg_r, trades FROM playbook_probation")
        return {
            r["playbook"]: ProbationState(
                r["playbook"], bool(r["on_probation"]), from_db_time(r["since"]), r["avg_r"], r["trades"]
            )
            for r in rows
        }

    async def set_probation(self, state: ProbationState, alerts: Sequence[Event], now: datetime) -> None:
        """Store a playbook's probation state and the admins' alerts about it, together."""
        async with self._db.transaction() as conn:
            await conn.execute(
                "INSERT INTO playbook_probation (playbook, on_probation, since, avg_r, trades, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (playbook) DO UPDATE SET on_probation = excluded.on_probation,"
                " since = excluded.since, avg_r = excluded.avg_r, trades = excluded.trades,"
                " updated_at = excluded.updated_at",
                (
                    state.playbook, int(state.on_probation), _time(state.since), state.avg_r, state.trades,
                    to_db_time(now),
                ),
            )  # fmt: skip
            await queue_events(conn, alerts, now)

"""Domain objects as the dashboard's JSON, and the CSV export. Pure functions: no I/O.

Every figure comes from a service or a core function; this module only arranges them.
Times are ISO 8601 UTC; money is in the quote currency, after fees where it says `pnl`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from core.models import UserSignal
from core.risk.limits import open_risk
from core.risk.portfolio import drawdown_pct_series
from core.trading.history import HistoryEntry, SignalOutcome, UserStats
from core.trading.monitor import PositionView
from core.trading.record_stats import RecordStats
from core.trading.track_record import Performance


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def number(value: float | None) -> float | None:
    """JSON has no inf or nan: they become null."""
    return value if value is not None and math.isfinite(value) else None


def chart(candles: pd.DataFrame) -> dict[str, list[Any]]:
    """Closes of the given candles, for the small price charts."""
    return {"t": [iso(stamp.to_pydatetime()) for stamp in candles.index], "close": candles["close"].tolist()}


def position_json(view: PositionView) -> dict[str, Any]:
    p = view.position
    return {
        "id": p.id,
        "symbol": p.symbol,
        "side": p.side.value,
        "entry": p.entry_price,
        "stop": p.stop_price,
        "initial_stop": p.initial_stop,
        "tp1": p.tp1,
        "tp2": p.tp2,
        "tp1_done": p.tp1_done,
        "quantity": p.quantity,
        "initial_quantity": p.initial_quantity,
        "price": view.price,
        "unrealized_pnl": view.unrealized_pnl,
        "executing": view.executing.value if view.executing else None,  # the level the price is at or through
        "realized_pnl": p.net_pnl,  # partial exits so far, every fee paid so far included
        "open_risk": open_risk(p),
        "opened_at": iso(p.opened_at),
    }


def signal_json(row: UserSignal) -> dict[str, Any]:
    lv = row.levels
    return {
        "id": row.id,
        "symbol": row.symbol,
        "timeframe": row.timeframe,
        "side": lv.side.value,
        "entry": lv.entry,
        "stop": lv.stop,
        "tp1": lv.tp1,
        "tp2": lv.tp2,
        "quantity": row.quantity,
        "state": row.state.value,
        "created_at": iso(row.created_at),
        "expires_at": iso(row.expires_at),
    }


def outcome_json(outcome: SignalOutcome) -> dict[str, Any]:
    out = signal_json(outcome.row) | {"state": outcome.state.value, "position": None}
    p = outcome.position
    if p is not None:
        out["position"] = {
            "id": p.id,
            "status": p.status.value,
            "pnl": p.net_pnl,
            "exit_reason": p.exit_reason.value if p.exit_reason else None,
        }
    return out


def trade_json(entry: HistoryEntry) -> dict[str, Any]:
    trade = entry.trade
    fields = {k: number(v) if isinstance(v, float) else v for k, v in trade.to_dict().items()}
    return {"id": entry.position_id, **fields}


def pnl_since(trades: Sequence[HistoryEntry], since: datetime) -> tuple[float, int]:
    """Net P&L (fees included) and count of the trades closed at or after `since`."""
    chosen = [e.trade for e in trades if e.trade.exit_time >= since]
    return sum(t.pnl for t in chosen), len(chosen)


def summary_json(
    stats: UserStats, views: Sequence[PositionView], trades: Sequence[HistoryEntry], now: datetime
) -> dict[str, Any]:
    """Home: balance, equity marked to market, open risk, P&L of today (UTC) and of the
    last 30 days, and the equity curve (start, each close, now) with its drawdown."""
    m = stats.metrics
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    today, today_n = pnl_since(trades, day_start)
    month, month_n = pnl_since(trades, now - timedelta(days=30))
    times, equity = list(stats.curve_times), list(stats.curve_equity)
    if not times and views:  # no closed trade yet: the curve starts when the first position opened
        times, equity = [min(v.position.opened_at for v in views)], [m.initial_equity]
    times.append(now)
    equity.append(m.equity)
    drawdown = drawdown_pct_series(equity)
    risk = sum(open_risk(v.position) for v in views)
    return {
        "balance": stats.balance,
        "equity": m.equity,
        "unrealized_pnl": sum(v.unrealized_pnl or 0.0 for v in views),
        "open_positions": len(views),
        "open_risk": risk,
        "open_risk_pct": risk / m.equity * 100 if m.equity > 0 else None,
        "pnl_today": today,
        "trades_today": today_n,
        "pnl_30d": month,
        "trades_30d": month_n,
        "max_drawdown_pct": float(drawdown.max()),
        "curve": [
            {"t": iso(t), "equity": e, "drawdown_pct": float(d)}
            for t, e, d in zip(times, equity, drawdown, strict=True)
        ],
        "positions": [position_json(v) for v in views],
        "as_of": iso(now),
    }


def record_json(stats: RecordStats) -> dict[str, Any]:
    """One playbook over one window (core/trading/record_stats.py)."""
    out = {f.name: getattr(stats, f.name) for f in dataclasses.fields(stats)}
    out["expectancy_interval"] = list(stats.expectancy_interval) if stats.expectancy_interval else None
    return out


def performance_json(stats: UserStats, performance: Performance) -> dict[str, Any]:
    """The user's own record, and the public track record per playbook (the same as
    /performance: the shadow positions of every published signal, the last `window_days`
    and all time)."""
    return {
        "own": stats.metrics.to_dict() | {"fees": stats.fees},
        "window_days": performance.window_days,
        "playbooks": [
            {
                "name": record.playbook,
                "on_probation": record.on_probation,
                "recent": record_json(record.recent),
                "all_time": record_json(record.all_time),
            }
            for record in performance.playbooks
        ],
    }


def jsonable(value: Any) -> Any:
    """A dataclass tree (e.g. the health figures) as JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return number(value)
    return value


CSV_COLUMNS = (
    "id",
    "symbol",
    "side",
    "entry_time",
    "entry_price",
    "exit_time",
    "exit_price",
    "quantity",
    "fees",
    "pnl",
    "pnl_pct",
    "exit_reason",
)


def history_csv(entries: Sequence[HistoryEntry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        row = trade_json(entry)
        writer.writerow(["" if row[c] is None else row[c] for c in CSV_COLUMNS])
    return out.getvalue()

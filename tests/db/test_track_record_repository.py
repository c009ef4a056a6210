"""The shadow positions' repository on both backends (SQLite and PostgreSQL): a signal gets
one shadow however often it is opened, what a run changes is stored, a second connection
(a restart) reads it back, probation state and its alerts are written together."""

from __future__ import annotations

from datetime import timedelta

from core.clock import ManualClock
from core.events import Alert
from core.models import ExitReason, Side, SignalDraft, SignalLevels
from core.records import ProbationState, ShadowStatus
from core.rules.fills import FillModel
from core.trading.track_record import shadow_for
from db.signals import SignalRepository
from db.sql import SqlDatabase
from db.track_record import ShadowRepository
from tests.conftest import T0
from tests.db.conftest import Reopen

HOUR = timedelta(hours=1)


async def store(db: SqlDatabase, candle_hours_ago: int, source: str = "engine") -> None:
    draft = SignalDraft(
        "BTC/USDT", "1h", SignalLevels(Side.SHORT, 200, 210, 185, 175), T0 - candle_hours_ago * HOUR,
        source=source, atr=3.0, meta={"strategy": "donchian"},
    )  # fmt: skip
    assert await SignalRepository(db).publish(draft, [], T0, T0 + HOUR, lambda row: None) == []  # type: ignore[arg-type,return-value]


async def test_a_signal_gets_one_shadow_and_its_changes_survive_a_reopen(reopen: Reopen) -> None:
    db = reopen()
    await db.connect()
    await store(db, 1)
    await store(db, 0, source="manual")
    shadows = ShadowRepository(db)
    unfollowed = await shadows.unfollowed_signals()
    assert [s.source for s in unfollowed] == ["engine", "manual"] and unfollowed[0].meta == {"strategy": "donchian"}
    opened = [shadow_for(s, FillModel(fee_rate=0.001, slippage_pct=0.05)) for s in unfollowed]
    assert [await shadows.open(s) for s in opened] == [True, True]
    assert await shadows.open(opened[0]) is False  # the same signal twice: still one shadow
    assert await shadows.unfollowed_signals() == []
    first = (await shadows.open_shadows())[0]
    assert first.playbook == "donchian" and first.position.entry_price == 199.9 and first.position.atr == 3.0
    first.position.quantity, first.position.tp1_done, first.position.stop_price = 0.0, True, 199.9
    first.position.realized_pnl, first.position.fees = 19.9, 0.3799
    first.position.exit_reason, first.position.closed_at = ExitReason.TP2, T0 + 2 * HOUR
    first.status, first.r_multiple, first.return_pct = ShadowStatus.CLOSED, 1.93, 9.76
    await shadows.save(first)
    await db.close()

    again = reopen()  # as after a restart
    await again.connect()
    shadows = ShadowRepository(again)
    assert [s.playbook for s in await shadows.open_shadows()] == ["admin"]
    stored = await shadows.get(first.signal_id)
    assert stored is not None and stored.status is ShadowStatus.CLOSED and stored.position.exit_reason is ExitReason.TP2
    assert stored.position.net_pnl == 19.9 - 0.3799 and stored.position.closed_at == T0 + 2 * HOUR
    outcomes = await shadows.outcomes()
    assert [(o.playbook, o.status, o.r_multiple) for o in outcomes] == [
        ("donchian", ShadowStatus.CLOSED, 1.93),
        ("admin", ShadowStatus.OPEN, None),
    ]
    assert await shadows.recent_r("donchian", 5) == [1.93] and await shadows.playbooks() == ["admin", "donchian"]
    await again.close()


async def test_probation_and_its_alerts_are_stored_together(db: SqlDatabase, clock: ManualClock) -> None:
    shadows = ShadowRepository(db)
    state = ProbationState("donchian", True, T0, -0.4, 20)
    await shadows.set_probation(state, [Alert(1, "probation_on_mark_admin", {"playbook": "donchian"})], T0)
    assert await shadows.probation() == {"donchian": state}
    lifted = ProbationState("donchian", False, None, 0.1, 20)
    await shadows.set_probation(lifted, [], T0 + HOUR)
    assert await shadows.probation() == {"donchian": lifted}
    rows = await db.fetchall("SELECT user_id, kind FROM outbox")
    assert [(r[0], r[1]) for r in rows] == [(1, "alert")]

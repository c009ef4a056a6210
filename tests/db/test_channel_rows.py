"""Channel mode in the repositories, on both backends: the channel's post is an outbox row of
the signal's own transaction (there after a restart), a channel-only user's row is stored
with its card resolved, never due, and a late row (a user who came through the link) is made
once."""

from __future__ import annotations

from datetime import timedelta

from core.clock import ManualClock
from core.events import CHANNEL_CHAT, Event, SignalIssued, SignalPosted
from core.models import Side, SignalDraft, SignalLevels, SignalState, UserSignal
from core.ports import Allocation
from db.outbox import OutboxRepository
from db.signals import SignalRepository
from db.sql import SqlDatabase
from db.users import UserRepository
from tests.conftest import T0
from tests.db.conftest import Reopen

HOUR = timedelta(hours=1)
DRAFT = SignalDraft("BTC/USDT", "1h", SignalLevels(Side.LONG, 100, 90, 110, 120), T0, source="manual")


def issued(row: UserSignal) -> Event:
    lv = row.levels
    return SignalIssued(
        row.user_id, row.id, row.symbol, row.timeframe, lv.side.value, lv.entry, lv.stop, lv.tp1, lv.tp2,
        row.quantity, row.expires_at, "manual", 1.0, None,
    )  # fmt: skip


def post(signal_id: int) -> Event:
    return SignalPosted(
        CHANNEL_CHAT, signal_id, "-1001234567890", "en", "BTC/USDT", "1h", "long", 100, 90, 110, 120, T0 + HOUR,
        "manual", 1.0, None,
    )  # fmt: skip


async def test_the_post_and_the_channel_only_cards(db: SqlDatabase, reopen: Reopen, clock: ManualClock) -> None:
    users = UserRepository(db, clock)
    for user in (10, 11, 12):
        await users.register(user, "en", 1000)
    signals = SignalRepository(db)
    allocations = [Allocation(10, 1.0), Allocation(11, 2.0, channel_only=True)]
    rows = await signals.publish(DRAFT, allocations, T0, T0 + HOUR, issued, post)
    assert rows is not None and [r.user_id for r in rows] == [10, 11]
    restarted = reopen()  # what a restarted process finds: the post and the direct push, due
    await restarted.connect()
    try:
        due = await OutboxRepository(restarted).due(T0, 10)
    finally:
        await restarted.close()
    assert sorted((item.kind, item.user_id) for item in due) == [("signal", 10), ("signal_post", CHANNEL_CHAT)]
    assert next(i for i in due if i.kind == "signal_post").payload["signal_id"] == rows[0].signal_id
    card = await signals.card(rows[1].id)  # Bob's card, kept unsent for the link
    assert card is not None and card["user_signal_id"] == rows[1].id and card["quantity"] == 2.0
    await signals.attach_message(rows[1].id, 77)
    await signals.attach_message(rows[1].id, 78)  # a second reply does not take the message over
    assert (await signals.get_user_signal(rows[1].id)).message_id == 77  # type: ignore[union-attr]

    stored = await signals.stored_draft(rows[0].signal_id)
    assert stored is not None and stored[0].levels == DRAFT.levels and stored[1] == T0
    late = await signals.add_late_row(DRAFT, rows[0].signal_id, Allocation(12, 3.0, channel_only=True), T0,
                                      T0 + HOUR, issued)  # fmt: skip
    assert late is not None and late.state is SignalState.PENDING and late.quantity == 3.0
    again = await signals.add_late_row(DRAFT, rows[0].signal_id, Allocation(12, 5.0), T0, T0 + HOUR, issued)
    assert again is None and (await signals.for_signal(rows[0].signal_id, 12)).quantity == 3.0  # type: ignore[union-attr]
    assert (await signals.card(late.id)) is not None
    assert sorted(i.user_id for i in await OutboxRepository(db).due(T0, 10)) == [CHANNEL_CHAT, 10]
    assert await signals.stored_draft(999) is None

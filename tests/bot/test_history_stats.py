"""/history (paged with inline buttons) and /stats (metrics and the equity picture) on
real closed positions; P&L is counted net of every fee exactly once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from core.clock import ManualClock
from core.models import ExitReason, Position, PositionStatus, Side
from core.trading.history import HistoryService
from db.database import Database
from db.signals import SignalRepository
from db.trades import PositionRepository
from db.users import UserRepository
from tests.bot.harness import ALICE, BOB, RunningBot
from tests.bot.test_flow import buttons, press, publish, subscribe
from tests.conftest import T0
from tests.fakes.market import FakeMarketData, candles_frame

HOUR = timedelta(hours=1)


async def trade_to_tp2(bot: RunningBot, market: FakeMarketData) -> None:
    """The flow of test_flow's TP1/TP2 test: +147.85 after 2.15 of fees (1.00 + 0.55 + 0.60) on 1,000 notional."""
    ids = await publish(bot, (ALICE,))
    await press(bot, ALICE, buttons(bot, ALICE, ids[ALICE])[0], ids[ALICE])
    market.add_candles("BTC/USDT", candles_frame(T0, [(100, 111, 99, 108), (108, 121, 107, 120)], HOUR))
    await bot.services.trading.monitor()
    await bot.fake.wait_for(lambda: "closed (TP2)" in (bot.fake.last_text(ALICE) or ""))


async def test_nothing_closed_yet(bot: RunningBot) -> None:
    await subscribe(bot, ALICE)
    assert "No closed trades yet." in await bot.reply_to(ALICE, "/history")
    assert "Balance 10,000.00" in await bot.reply_to(ALICE, "/stats")
    assert "Закрытых сделок пока нет" in await bot.reply_to(BOB, "/history", language_code="ru")


async def test_stats_and_history_count_fees_once(bot: RunningBot, market: FakeMarketData) -> None:
    await subscribe(bot, ALICE)
    await trade_to_tp2(bot, market)
    before = len(bot.fake.sent(ALICE))
    bot.say(ALICE, "/stats")
    call = await bot.fake.wait_for(lambda: bot.fake.sent(ALICE)[before:] and bot.fake.sent(ALICE)[-1])
    assert call.method == "sendPhoto" and bot.fake.files[call.result["photo"][0]["file_id"]].startswith(b"\x89PNG")
    caption = call.result["caption"]
    for fragment in ("Trades: 1 · wins 100.00%", "Realised P&L: +147.85 (fees 2.15 included)",
                     "Equity: 10,147.85 (+1.48% of the starting account)",
                     "Max drawdown: 0.00% of the account (from its peak)"):  # fmt: skip
        assert fragment in caption, caption
    history = await bot.reply_to(ALICE, "/history")
    assert "page 1 of 1 (1 in all)" in history
    assert "BTC/USDT LONG · TP2" in history and "100.00 → 115.00" in history  # entry to mean exit (5 @ 110, 5 @ 120)
    assert "P&L +147.85 (+14.7" in history and "fees 2.15" in history
    assert "% of the position), fees" in history  # 147.85 on a 1,000.00 position, not on the account


async def add_closed_positions(path: Path, user: int, count: int) -> None:
    """Closed trades written straight to the database (a second connection, as WAL allows)."""
    db = Database(path)
    await db.connect()
    clock = ManualClock(T0)
    await UserRepository(db, clock).register(user, "en", 10_000.0)
    positions = PositionRepository(db, clock)
    for i in range(count):
        opened = T0 + i * HOUR
        won = i % 3 != 0
        position = Position(
            id=0, user_id=user, user_signal_id=None, symbol="ETH/USDT", side=Side.SHORT, entry_price=50.0,
            initial_quantity=2.0, quantity=0.0, stop_price=52.0, initial_stop=52.0, tp1=48.0, tp2=46.0,
            tp1_done=won, highest=50.0, lowest=46.0, atr=None, realized_pnl=8.0 if won else -4.0, fees=0.2,
            status=PositionStatus.CLOSED, opened_at=opened, closed_at=opened + HOUR / 2,
            exit_price=46.0 if won else 52.0, exit_reason=ExitReason.TP2 if won else ExitReason.STOP_LOSS,
        )  # fmt: skip
        await positions.open(position, f"seed-{i}", 0.0, lambda _: [])
    await db.close()


async def test_history_is_paged_with_buttons(bot: RunningBot, tmp_path: Path) -> None:
    await add_closed_positions(tmp_path / "atra.sqlite3", ALICE, 20)
    first = await bot.reply_to(ALICE, "/history")
    assert "page 1 of 3 (20 in all)" in first and "#20 ETH/USDT SHORT · TP2" in first and "#12 " not in first
    listing = bot.fake.messages(ALICE)[-1]["message_id"]
    assert buttons(bot, ALICE, listing) == ["hist:1"]
    await press(bot, ALICE, "hist:1", listing)
    second = next(m for m in bot.fake.messages(ALICE) if m["message_id"] == listing)
    assert "page 2 of 3" in second["text"] and "#12 ETH/USDT SHORT" in second["text"]
    assert buttons(bot, ALICE, listing) == ["hist:0", "hist:2"]
    assert all(len(data.encode()) <= 64 for data in buttons(bot, ALICE, listing))
    await press(bot, ALICE, "hist:2", listing)
    third = next(m for m in bot.fake.messages(ALICE) if m["message_id"] == listing)
    assert "page 3 of 3" in third["text"] and "#1 ETH/USDT SHORT · stop-loss" in third["text"]
    assert buttons(bot, ALICE, listing) == ["hist:1"]
    assert "no longer valid" in (await press(bot, ALICE, "hist:x", listing))["text"]
    await press(bot, ALICE, "hist:99", listing)  # past the end: the last page, unchanged, still answered
    assert "page 3 of 3" in next(m for m in bot.fake.messages(ALICE) if m["message_id"] == listing)["text"]


async def test_stats_numbers_from_the_service(tmp_path: Path, market: FakeMarketData) -> None:
    path = tmp_path / "atra.sqlite3"
    await add_closed_positions(path, ALICE, 6)  # +7.8 -4.2 +7.8 +7.8 -4.2 +7.8 ... in close order
    db = Database(path)
    await db.connect()
    clock = ManualClock(T0)
    users, positions = UserRepository(db, clock), PositionRepository(db, clock)
    stats = await HistoryService(positions, users, market, SignalRepository(db), clock).stats(ALICE)
    await db.close()
    m = stats.metrics
    # closes: i=0 loss -4.2, then wins 7.8, 7.8, loss -4.2, wins 7.8, 7.8 -> +22.8 in all
    assert m.n_trades == 6 and m.realized_pnl == pytest.approx(22.8) and m.win_rate == pytest.approx(200 / 3)
    assert stats.fees == pytest.approx(1.2) and stats.balance == pytest.approx(10_000.0)
    assert m.initial_equity == pytest.approx(10_000.0 - 22.8)  # the balance was never charged here
    assert stats.curve_equity[0] == pytest.approx(m.initial_equity) and len(stats.curve_times) == 7
    assert stats.curve_equity[-1] == pytest.approx(10_000.0)

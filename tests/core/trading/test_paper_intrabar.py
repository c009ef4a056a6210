"""Paper positions are managed on the latest price between candle closes, as resting orders
on an exchange would be (issue 11, "paper as faithful as live"): a stop the price crosses
fills at the stop, a gap (a level first seen crossed) at the price seen, targets at their
level and never better; a manual Close fills at a stop the price already crossed; exits are
stamped with the market time of the trigger; nothing is booked twice.

Over the paper trading service on SQLite (fee 0.1 %, no slippage). The position in each test
is long 10 BTC at 100 (risk 1 % of 10,000 = 100 over a stop distance of 10), stop 90, TP1 110
(half), TP2 120; every expected figure is worked out by hand beside it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.models import ExitReason, Position, PositionStatus
from core.trading.history import HistoryService
from tests.conftest import T0, World, make_world
from tests.core.trading.test_trading_service import draft
from tests.fakes.market import candles_frame

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


async def open_long(world: World) -> Position:
    await world.trading.register(10, "en")
    (row,) = await world.trading.publish(draft()) or []
    position = (await world.trading.confirm(row.id, 10)).position
    assert position is not None and position.quantity == 10.0 and position.entry_price == 100.0
    return position


async def reload(world: World, position: Position) -> Position:
    found = await world.positions.get(position.id)
    assert found is not None
    return found


async def kinds(world: World) -> list[str]:
    return [e.kind for e in await world.outbox.due(world.clock.now() + HOUR, 100) if e.kind in ("tp1", "closed")]


async def test_a_stop_crossed_between_candle_closes_fills_at_the_stop_at_the_market_time(world: World) -> None:
    position = await open_long(world)
    world.clock.advance(10 * MINUTE)
    world.market.prices["BTC/USDT"] = 95.0  # seen on the safe side of the stop
    await world.trading.monitor()
    assert (await reload(world, position)).status is PositionStatus.OPEN
    world.clock.advance(10 * MINUTE)  # 12:20, the 12:00 candle still forming
    world.market.prices["BTC/USDT"] = 88.0  # through the stop at 90
    assert await world.trading.monitor() == 1
    closed = await reload(world, position)
    assert closed.status is PositionStatus.CLOSED and closed.exit_reason is ExitReason.STOP_LOSS
    assert closed.exit_price == pytest.approx(90.0)  # the stop's level, not the 88 seen
    assert closed.closed_at == T0 + 20 * MINUTE
    # 10 x (90 - 100) = -100, fees 1.00 (entry 1000) + 0.90 (exit 900)
    assert closed.net_pnl == pytest.approx(-101.90)
    assert await world.users.balance(10) == pytest.approx(10_000 - 101.90)
    assert await kinds(world) == ["closed"]


async def test_a_stop_first_seen_crossed_fills_at_the_price_seen(db, clock) -> None:  # type: ignore[no-untyped-def]
    world = make_world(db, clock)
    position = await open_long(world)
    restarted = make_world(db, clock)  # a new process: it has never seen this position's price, nor a candle
    clock.advance(20 * MINUTE)
    restarted.market.prices["BTC/USDT"] = 85.0  # the first price it sees is through the stop at 90
    assert await restarted.trading.monitor() == 1
    closed = await reload(restarted, position)
    assert closed.status is PositionStatus.CLOSED and closed.exit_reason is ExitReason.STOP_LOSS
    assert closed.exit_price == pytest.approx(85.0)  # a gap: the level was never seen traded
    # 10 x (85 - 100) = -150, fees 1.00 + 0.85
    assert closed.net_pnl == pytest.approx(-151.85)
    assert closed.closed_at == T0 + 20 * MINUTE


async def test_after_a_restart_the_last_close_is_the_price_seen_before(db, clock) -> None:  # type: ignore[no-untyped-def]
    world = make_world(db, clock)
    position = await open_long(world)
    restarted = make_world(db, clock)
    restarted.market.add_candles("BTC/USDT", candles_frame(T0, [(100, 101, 95, 96)], HOUR))  # closed at 96, safe
    clock.set(T0 + HOUR + 10 * MINUTE)
    restarted.market.prices["BTC/USDT"] = 87.0  # crossed the stop at 90 since that close
    await restarted.trading.monitor()
    closed = await reload(restarted, position)
    assert closed.exit_price == pytest.approx(90.0) and closed.closed_at == T0 + HOUR + 10 * MINUTE


async def test_a_manual_close_after_the_stop_was_crossed_fills_at_the_stop(world: World) -> None:
    position = await open_long(world)
    world.clock.advance(15 * MINUTE)
    world.market.prices["BTC/USDT"] = 80.0  # crossed the stop at 90 since the entry; no monitor run since
    closed = await world.trading.close_position(position.id, 10)
    assert closed.exit_price == pytest.approx(90.0)  # what the resting stop did, not the 80 of a market sell
    assert closed.reason == ExitReason.STOP_LOSS.value
    assert closed.pnl == pytest.approx(-101.90)  # 10 x (90 - 100) - 1.00 - 0.90
    stored = await reload(world, position)
    assert stored.exit_price == pytest.approx(90.0) and stored.closed_at == T0 + 15 * MINUTE


async def test_a_manual_close_between_the_levels_sells_at_market(world: World) -> None:
    position = await open_long(world)
    world.market.prices["BTC/USDT"] = 104.0
    closed = await world.trading.close_position(position.id, 10)
    assert closed.exit_price == pytest.approx(104.0) and closed.reason == ExitReason.MANUAL.value
    assert closed.pnl == pytest.approx(40.0 - 1.0 - 1.04)  # 10 x 4, fees 1.00 + 1.04
    assert (await reload(world, position)).status is PositionStatus.CLOSED


async def test_targets_reached_between_closes_fill_at_their_level_never_better(world: World) -> None:
    position = await open_long(world)
    world.clock.advance(30 * MINUTE)
    world.market.prices["BTC/USDT"] = 112.0  # through TP1 at 110
    assert await world.trading.monitor() == 1
    half = await reload(world, position)
    assert half.status is PositionStatus.OPEN and half.quantity == pytest.approx(5.0) and half.tp1_done
    assert half.stop_price == 100.0  # break-even after TP1
    assert half.realized_pnl == pytest.approx(50.0)  # 5 x (110 - 100), not 5 x 12
    assert await kinds(world) == ["tp1"]
    world.clock.advance(10 * MINUTE)
    world.market.prices["BTC/USDT"] = 125.0  # through TP2 at 120
    assert await world.trading.monitor() == 1
    done = await reload(world, position)
    assert done.status is PositionStatus.CLOSED and done.exit_reason is ExitReason.TP2
    assert done.exit_price == pytest.approx(115.0)  # (5 x 110 + 5 x 120) / 10
    assert done.closed_at == T0 + 40 * MINUTE
    # 50 + 5 x 20 = 150, fees 1.00 + 0.55 + 0.60
    assert done.net_pnl == pytest.approx(147.85)


async def test_an_exit_seen_between_closes_is_not_booked_again_by_its_candle(world: World) -> None:
    position = await open_long(world)
    world.clock.advance(20 * MINUTE)
    world.market.prices["BTC/USDT"] = 88.0
    await world.trading.monitor()  # the stop, at 90, at 12:20
    # the 12:00 candle closes: it reached the stop too (low 85)
    world.market.add_candles("BTC/USDT", candles_frame(T0, [(100, 101, 85, 87)], HOUR))
    world.clock.set(T0 + HOUR + MINUTE // 2)
    assert await world.trading.monitor() == 0
    closed = await reload(world, position)
    assert closed.exit_price == pytest.approx(90.0) and closed.closed_at == T0 + 20 * MINUTE
    assert [o.request.purpose for o in await world.orders.for_position(position.id)].count("stop_loss") == 1
    assert await world.users.balance(10) == pytest.approx(10_000 - 101.90)  # booked once
    assert await kinds(world) == ["closed"]


async def test_tp1_between_closes_then_its_candle_keeps_the_backtests_order(world: World) -> None:
    position = await open_long(world)
    world.clock.advance(30 * MINUTE)
    world.market.prices["BTC/USDT"] = 111.0
    await world.trading.monitor()  # TP1 at 110 at 12:30, the stop to 100
    # the 12:00 candle: its low 99 (before TP1) is under the new stop at 100, which was not resting yet
    world.market.add_candles("BTC/USDT", candles_frame(T0, [(100, 112, 99, 105)], HOUR))
    world.clock.set(T0 + HOUR + MINUTE // 2)
    await world.trading.monitor()
    after = await reload(world, position)
    assert after.status is PositionStatus.OPEN and after.quantity == pytest.approx(5.0)  # TP1 once, no stop
    assert after.realized_pnl == pytest.approx(50.0)
    assert [o.request.purpose for o in await world.orders.for_position(position.id)].count("tp1") == 1
    # the next candle tests the break-even stop
    world.market.add_candles("BTC/USDT", candles_frame(T0 + HOUR, [(105, 106, 99, 101)], HOUR))
    world.clock.set(T0 + 2 * HOUR + MINUTE // 2)
    await world.trading.monitor()
    closed = await reload(world, position)
    assert closed.status is PositionStatus.CLOSED and closed.exit_reason is ExitReason.BREAK_EVEN
    assert closed.exit_price == pytest.approx(105.0)  # (5 x 110 + 5 x 100) / 10
    assert closed.closed_at == T0 + HOUR  # stamped with its candle (13:00), not the 14:00:30 run


async def test_a_candle_stop_is_stamped_with_its_candle_and_counts_on_its_day(world: World) -> None:
    world.clock.set(T0 + 10 * HOUR + 5 * MINUTE)  # 22:05
    await world.trading.register(10, "en")
    (row,) = await world.trading.publish(draft(candle_offset=10)) or []
    position = (await world.trading.confirm(row.id, 10)).position
    assert position is not None
    world.market.prices["BTC/USDT"] = 95.0
    await world.trading.monitor()
    # the 22:00 candle closes safe; the 23:00 one wicks to 85 between the monitor's looks
    world.market.add_candles("BTC/USDT", candles_frame(T0 + 10 * HOUR, [(100, 101, 96, 98), (98, 99, 85, 95)], HOUR))
    world.clock.set(T0 + 12 * HOUR + MINUTE // 2)  # 00:00:30 the next day
    await world.trading.monitor()
    closed = await reload(world, position)
    assert closed.exit_reason is ExitReason.STOP_LOSS and closed.exit_price == pytest.approx(90.0)
    assert closed.closed_at == T0 + 11 * HOUR  # 23:00 on 1 March, its candle's open
    history = HistoryService(world.positions, world.users, world.market, world.signals, world.clock)
    days = {d.day: d for d in await history.daily(10, days=2)}
    assert days[(T0 + 11 * HOUR).date()].pnl == pytest.approx(-101.90)  # on 1 March, not 2 March
    assert days[(T0 + 12 * HOUR).date()].pnl == pytest.approx(0.0)

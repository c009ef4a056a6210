"""Limit entries in paper mode (core/trading/limit_entry.py): placed at the signal's entry,
sized for it, filled only once the price trades through it, expired with the signal,
cancelled on request, kept across a restart. Expected figures worked by hand: entry 100,
stop 90 (R = 10), balance 10,000, risk 1 % = 100 -> 10 units, fee 0.1 %."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.errors import UserError
from core.models import Limits, Side, SignalState
from core.rules.exits import ManagementRules
from core.trading.paper import PaperPositions
from core.trading.service import TradingConfig, TradingService
from tests.conftest import T0, World, make_world
from tests.core.trading.test_trading_service import draft
from tests.fakes.market import candles_frame

HOUR = timedelta(hours=1)


def with_ttl(world: World, ttl: float) -> World:
    """The same world with signals valid for `ttl` seconds (candles can close within it)."""
    world.trading = TradingService(
        config=TradingConfig(timeframe="1h", paper_balance=10_000.0, signal_ttl_seconds=ttl, admin_ids=frozenset({1})),
        clock=world.clock,
        market_data=world.market,
        exchange=world.exchange,
        users=world.users,
        system=world.system,
        signals=world.signals,
        orders=world.orders,
        positions=world.positions,
        outbox=world.outbox,
        manager=PaperPositions(
            clock=world.clock,
            exchange=world.exchange,
            orders=world.orders,
            positions=world.positions,
            rules=ManagementRules(trail_atr_multiplier=0.0),
        ),
    )
    return world


async def alert_keys(world: World) -> list[str]:
    items = await world.outbox.due(world.clock.now() + timedelta(days=1), 1000)
    return [i.payload["key"] if i.kind == "alert" else i.kind for i in items if i.kind != "signal"]


async def placed(world: World, price: float = 101.0) -> int:
    """Alice's row of a long signal (entry 100, stop 90), a limit placed with the price at `price`."""
    await world.trading.register(10, "en")
    (row,) = await world.trading.publish(draft()) or []
    world.market.prices["BTC/USDT"] = price
    outcome = await world.trading.place_limit(row.id, 10)
    assert outcome.execution is None and not outcome.ended
    assert outcome.entry.price == 100.0 and outcome.entry.quantity == pytest.approx(10.0)  # sized for the entry
    return row.id


async def test_a_limit_fills_at_the_entry_only_once_the_price_trades_through(world: World) -> None:
    row_id = await placed(world, price=101.0)  # 0.1 R above: it rests
    assert (await world.signals.get_user_signal(row_id)).state is SignalState.CONFIRMED  # type: ignore[union-attr]
    world.market.prices["BTC/USDT"] = 100.01  # near, not through
    assert await world.trading.monitor() == 0
    assert await world.positions.open_positions(10) == []
    world.market.prices["BTC/USDT"] = 99.5  # through it: a resting buy at 100 filled at 100
    assert await world.trading.monitor() == 1
    (position,) = await world.positions.open_positions(10)
    assert position.entry_price == 100.0 and position.quantity == pytest.approx(10.0)
    assert position.fees == pytest.approx(1.0)  # 0.1 % of 1,000
    assert (position.entry_price - position.stop_price) * position.quantity == pytest.approx(100.0)  # 1 % risk
    assert (await world.signals.get_user_signal(row_id)).state is SignalState.EXECUTED  # type: ignore[union-attr]
    assert "filled" in await alert_keys(world)  # the same "filled" message as a market entry
    assert await world.trading.monitor() == 0  # filled once


async def test_a_candle_opening_through_the_entry_fills_at_its_open_and_one_trading_through_at_the_entry(
    world: World,
) -> None:
    with_ttl(world, 4 * 3600)
    # The candle running when the limit is placed dips to 95: that was before it rested, it counts not.
    world.market.add_candles("BTC/USDT", candles_frame(T0 - HOUR, [(100, 102, 95, 101)], HOUR))
    world.clock.advance(timedelta(seconds=20))
    row_id = await placed(world, price=101.0)
    world.market.add_candles("BTC/USDT", candles_frame(T0 + HOUR, [(98.5, 101, 98, 100.5)], HOUR))  # gaps through
    world.market.prices["BTC/USDT"] = 101.0  # and is back above by now
    world.clock.advance(2 * HOUR)
    await world.trading.monitor()
    (position,) = await world.positions.open_positions(10)
    assert position.entry_price == 98.5  # the open: better than the limit, as an exchange fills it
    assert position.user_signal_id == row_id

    other = make_world(world.db, world.clock)  # a second user, a candle that only trades through
    with_ttl(other, 4 * 3600)
    await other.trading.register(11, "en")
    rows = await other.trading.publish(draft(symbol="ETH/USDT", entry=50.0, stop=45.0, tp1=55.0, tp2=60.0)) or []
    row = next(r for r in rows if r.user_id == 11)
    other.market.prices["ETH/USDT"] = 51.0
    await other.trading.place_limit(row.id, 11)
    other.market.add_candles("ETH/USDT", candles_frame(T0 + 3 * HOUR, [(51, 52, 49.9, 51.5)], HOUR))
    other.market.prices["ETH/USDT"] = 51.5
    other.clock.advance(2 * HOUR)
    await other.trading.monitor()
    (eth,) = await other.positions.open_positions(11)
    assert eth.entry_price == 50.0


async def test_a_limit_not_reached_expires_with_the_signal_and_the_user_is_told(world: World) -> None:
    row_id = await placed(world, price=101.0)
    world.clock.advance(HOUR)  # the signal's hour is over
    assert await world.trading.monitor() == 1
    row = await world.signals.get_user_signal(row_id)
    assert row is not None and row.state is SignalState.EXPIRED and row.reason == "limit_expired"
    assert await world.positions.open_positions(10) == []
    assert (await alert_keys(world))[-1:] == ["limit_expired"]  # (the card's buttons go too: tests/bot)
    world.market.prices["BTC/USDT"] = 99.0  # too late now
    assert await world.trading.monitor() == 0
    assert await world.positions.open_positions(10) == []


async def test_the_user_cancels_a_working_limit(world: World) -> None:
    row_id = await placed(world, price=101.0)
    with pytest.raises(UserError) as again:  # Confirm on a row whose limit works
        await world.trading.confirm(row_id, 10)
    assert again.value.key == "signal_state_confirmed"
    with pytest.raises(UserError) as foreign:
        await world.trading.cancel_limit(row_id, 11)
    assert foreign.value.key == "signal_not_found"
    outcome = await world.trading.cancel_limit(row_id, 10)
    assert outcome.ended and outcome.execution is None
    assert (await world.signals.get_user_signal(row_id)).state is SignalState.SKIPPED  # type: ignore[union-attr]
    world.market.prices["BTC/USDT"] = 99.0
    assert await world.trading.monitor() == 0 and await world.positions.open_positions(10) == []
    with pytest.raises(UserError) as twice:
        await world.trading.cancel_limit(row_id, 10)
    assert twice.value.key == "signal_state_skipped"


async def test_a_limit_survives_a_restart_and_is_never_taken_for_an_interrupted_confirm(world: World) -> None:
    row_id = await placed(world, price=101.0)
    restarted = make_world(world.db, world.clock)  # a new process over the same database
    restarted.market.prices["BTC/USDT"] = 101.0
    assert await restarted.trading.recover() == 0  # a working limit is not a stuck confirmation
    assert (await restarted.signals.get_user_signal(row_id)).state is SignalState.CONFIRMED  # type: ignore[union-attr]
    assert [e.row.id for e in await restarted.trading.working_limits(10)] == [row_id]
    restarted.market.prices["BTC/USDT"] = 99.0
    await restarted.trading.monitor()
    (position,) = await restarted.positions.open_positions(10)
    assert position.entry_price == 100.0


async def test_a_limit_is_refused_past_the_stop_and_fills_at_once_below_the_entry(world: World) -> None:
    await world.trading.register(10, "en")
    (row,) = await world.trading.publish(draft()) or []
    world.market.prices["BTC/USDT"] = 89.0  # past the stop (90)
    with pytest.raises(UserError) as refused:
        await world.trading.place_limit(row.id, 10)
    assert refused.value.key == "price_moved"
    world.market.prices["BTC/USDT"] = 98.0  # below the entry: a buy limit at 100 takes the 98 on offer
    outcome = await world.trading.place_limit(row.id, 10)
    assert outcome.execution is not None
    position = outcome.execution.position
    assert position.entry_price == 98.0 and position.quantity == pytest.approx(10.0)
    assert (position.entry_price - position.stop_price) * position.quantity == pytest.approx(80.0)  # less than sized


async def test_a_working_limit_counts_against_the_risk_limits_as_if_filled(world: World) -> None:
    await world.system.save_limits(Limits(max_open_positions=1), admin_id=1, changed="max_open_positions")
    await placed(world, price=101.0)  # working: it may fill at any moment
    rows = await world.trading.publish(draft(symbol="ETH/USDT", entry=50.0, stop=45.0, tp1=55.0, tp2=60.0)) or []
    with pytest.raises(UserError) as refused:
        await world.trading.confirm(rows[0].id, 10)
    assert refused.value.key == "risk_max_open_positions"
    assert await world.positions.open_positions(10) == []


async def test_a_limit_filled_on_a_candle_is_managed_from_that_candle_as_the_backtester_does(world: World) -> None:
    with_ttl(world, 4 * 3600)
    row_id = await placed(world, price=101.0)
    # 13:00 gaps through the entry to 98.5 and falls through the stop (90) in the same hour
    world.market.add_candles("BTC/USDT", candles_frame(T0 + HOUR, [(98.5, 99, 88, 89)], HOUR))
    world.market.prices["BTC/USDT"] = 89.0
    world.clock.advance(2 * HOUR + timedelta(minutes=1))
    await world.trading.monitor()
    assert await world.positions.open_positions(10) == []
    (closed,) = await world.positions.closed_positions(10)
    assert closed.user_signal_id == row_id and closed.entry_price == 98.5
    assert closed.exit_reason is not None and closed.exit_reason.value == "stop_loss"
    # 10 units from 98.5 to the stop at 90 (no slippage here): -85 gross
    assert closed.realized_pnl == pytest.approx(-85.0)


async def test_a_short_limit_waits_for_the_price_to_rise_to_the_entry(world: World) -> None:
    await world.trading.register(10, "en")
    (row,) = await world.trading.publish(draft(side=Side.SHORT, stop=110.0, tp1=90.0, tp2=80.0)) or []
    world.market.prices["BTC/USDT"] = 99.0  # below the entry: a sell limit at 100 waits
    outcome = await world.trading.place_limit(row.id, 10)
    assert outcome.execution is None
    world.market.prices["BTC/USDT"] = 99.99
    assert await world.trading.monitor() == 0
    world.market.prices["BTC/USDT"] = 100.4  # up through it: sold at 100
    await world.trading.monitor()
    (position,) = await world.positions.open_positions(10)
    assert position.side is Side.SHORT and position.entry_price == 100.0 and position.quantity == pytest.approx(10.0)

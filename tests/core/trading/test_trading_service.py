"""The trading service over SQLite and the paper exchange: fan-out, confirm, monitor.

Every expected number is worked out by hand in the comment beside it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from core.errors import UserError
from core.models import ExitReason, Limits, PositionStatus, Side, SignalDraft, SignalLevels, SignalState
from tests.conftest import T0, World
from tests.fakes.market import candles_frame

HOUR = timedelta(hours=1)


def draft(
    symbol: str = "BTC/USDT",
    side: Side = Side.LONG,
    entry: float = 100.0,
    stop: float = 90.0,
    tp1: float = 110.0,
    tp2: float = 120.0,
    candle_offset: int = 0,
) -> SignalDraft:
    return SignalDraft(
        symbol=symbol,
        timeframe="1h",
        levels=SignalLevels(side, entry, stop, tp1, tp2),
        candle_time=T0 - HOUR + candle_offset * HOUR,
        atr=4.0,
    )


async def outbox_kinds(world: World) -> list[str]:
    items = await world.outbox.due(world.clock.now() + timedelta(days=1), 1000)
    return [i.kind for i in items]


async def test_publish_sizes_each_user_and_stores_once(world: World) -> None:
    await world.trading.register(10, "en")
    await world.trading.register(11, "ru")
    await world.users.set_subscribed(11, True)
    rows = await world.trading.publish(draft())
    assert rows is not None and len(rows) == 2
    # risk 1% of 10 000 = 100; stop distance 10 -> 10 units (notional 1 000, under the 25% cap of 2 500)
    assert [r.quantity for r in rows] == [10.0, 10.0]
    assert {r.user_id for r in rows} == {10, 11}
    assert all(r.state is SignalState.PENDING for r in rows)
    assert await outbox_kinds(world) == ["signal", "signal"]
    # The same engine candle again publishes nothing.
    assert await world.trading.publish(draft()) is None
    assert await world.signals.count_signals() == 1


async def test_position_cap_limits_quantity(world: World) -> None:
    await world.trading.register(10, "en")
    rows = await world.trading.publish(draft(stop=98.0, tp1=103.0, tp2=105.0))
    # by risk: 100 / 2 = 50 units (notional 5 000) > cap 25% x 10 000 / 100 = 25 units
    assert rows is not None and rows[0].quantity == 25.0


async def test_unsubscribed_and_blocked_users_get_nothing(world: World) -> None:
    for uid in (10, 11, 12):
        await world.trading.register(uid, "en")
    await world.trading.unsubscribe(11)
    await world.users.mark_blocked(12)
    rows = await world.trading.publish(draft())
    assert rows is not None and [r.user_id for r in rows] == [10]


async def test_confirm_fills_with_fee_and_opens_position(world: World) -> None:
    await world.trading.register(10, "en")
    (row,) = await world.trading.publish(draft()) or []
    execution = await world.trading.confirm(row.id, 10)
    # fill at the market price 100 (no slippage), fee 0.1% x 100 x 10 = 1.00
    assert execution.order.average_price == 100.0
    assert execution.order.fee == pytest.approx(1.0)
    p = execution.position
    assert (p.side, p.quantity, p.entry_price, p.stop_price, p.tp1, p.tp2) == (
        Side.LONG,
        10.0,
        100.0,
        90.0,
        110.0,
        120.0,
    )
    assert (p.realized_pnl, p.fees, p.net_pnl) == (0.0, pytest.approx(1.0), pytest.approx(-1.0))
    assert await world.users.balance(10) == pytest.approx(9_999.0)
    stored = await world.signals.get_user_signal(row.id)
    assert stored is not None and stored.state is SignalState.EXECUTED
    assert (await world.orders.get(f"atra-us{row.id}-entry")).status.value == "filled"  # type: ignore[union-attr]
    assert "filled" in await outbox_kinds(world)


async def test_slippage_works_against_the_trader(db, clock) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_world

    world = make_world(db, clock, fee_pct=0.0, slippage_pct=0.5)
    await world.trading.register(10, "en")
    (long_row,) = await world.trading.publish(draft()) or []
    (short_row,) = (
        await world.trading.publish(
            draft(symbol="ETH/USDT", side=Side.SHORT, entry=50.0, stop=55.0, tp1=45.0, tp2=40.0)
        )
        or []
    )
    # long buys at 100 x 1.005 = 100.5; short sells at 50 x 0.995 = 49.75
    assert (await world.trading.confirm(long_row.id, 10)).order.average_price == pytest.approx(100.5)
    assert (await world.trading.confirm(short_row.id, 10)).order.average_price == pytest.approx(49.75)


async def test_double_press_executes_once(world: World) -> None:
    await world.trading.register(10, "en")
    (row,) = await world.trading.publish(draft()) or []
    results = await asyncio.gather(
        world.trading.confirm(row.id, 10), world.trading.confirm(row.id, 10), return_exceptions=True
    )
    executions = [r for r in results if not isinstance(r, BaseException)]
    refusals = [r for r in results if isinstance(r, UserError)]
    assert len(executions) == 1 and len(refusals) == 1
    assert refusals[0].key in ("signal_state_confirmed", "signal_state_executed")
    assert await world.positions.count_open(10) == 1
    assert await world.orders.count_by_status() == {"filled": 1}
    with pytest.raises(UserError) as later:
        await world.trading.confirm(row.id, 10)
    assert later.value.key == "signal_state_executed"


async def test_foreign_press_changes_nothing(world: World) -> None:
    await world.trading.register(10, "en")
    await world.trading.register(11, "en")
    rows = await world.trading.publish(draft()) or []
    mine = next(r for r in rows if r.user_id == 10)
    with pytest.raises(UserError) as refused:
        await world.trading.confirm(mine.id, 11)
    assert refused.value.key == "signal_not_found"
    with pytest.raises(UserError):
        await world.trading.skip(mine.id, 11)
    assert (await world.signals.get_user_signal(mine.id)).state is SignalState.PENDING  # type: ignore[union-attr]
    assert await world.positions.count_open() == 0


async def test_paused_refuses_confirm_and_publish(world: World) -> None:
    await world.trading.register(10, "en")
    (row,) = await world.trading.publish(draft()) or []
    await world.system.set_paused(True, admin_id=1)
    with pytest.raises(UserError) as refused:
        await world.trading.confirm(row.id, 10)
    assert refused.value.key == "trading_paused"
    with pytest.raises(UserError):
        await world.trading.publish(draft(candle_offset=1))
    assert (await world.signals.get_user_signal(row.id)).state is SignalState.PENDING  # type: ignore[union-attr]
    await world.system.set_paused(False, admin_id=1)
    await world.trading.confirm(row.id, 10)


async def test_expired_signal_cannot_be_confirmed(world: World) -> None:
    await world.trading.register(10, "en")
    (row,) = await world.trading.publish(draft()) or []
    world.clock.advance(timedelta(seconds=3600))  # ttl is 3600 s: expires_at == now is expired
    with pytest.raises(UserError) as refused:
        await world.trading.confirm(row.id, 10)
    assert refused.value.key == "signal_state_expired"
    assert (await world.signals.get_user_signal(row.id)).state is SignalState.EXPIRED  # type: ignore[union-attr]


async def test_runaway_price_is_refused(world: World) -> None:
    await world.trading.register(10, "en")
    (row,) = await world.trading.publish(draft()) or []
    # entry 100, stop 90: R = 10, the default allowance 0.25 R = 2.5
    world.market.prices["BTC/USDT"] = 103.0  # 0.3 R above the entry
    with pytest.raises(UserError) as refused:
        await world.trading.confirm(row.id, 10)
    assert refused.value.key == "price_drifted"
    assert refused.value.params["drift"] == pytest.approx(0.3) and refused.value.params["allowed"] == 0.25
    world.market.prices["BTC/USDT"] = 89.0  # past the stop
    with pytest.raises(UserError) as refused:
        await world.trading.confirm(row.id, 10)
    assert refused.value.key == "price_moved"
    world.market.prices["BTC/USDT"] = 102.4  # 0.24 R: within
    await world.trading.confirm(row.id, 10)


async def test_max_open_positions_per_user(world: World) -> None:
    await world.trading.register(10, "en")
    await world.system.save_limits(Limits(max_open_positions=1), admin_id=1, changed="max_open_positions")
    (first,) = await world.trading.publish(draft()) or []
    (second,) = await world.trading.publish(draft(symbol="ETH/USDT", entry=50.0, stop=45.0, tp1=55.0, tp2=60.0)) or []
    await world.trading.confirm(first.id, 10)
    with pytest.raises(UserError) as refused:
        await world.trading.confirm(second.id, 10)
    assert refused.value.key == "risk_max_open_positions"
    # Refused by a limit, the row is no longer "awaiting confirmation" (issue 11).
    refused_row = await world.signals.get_user_signal(second.id)
    assert refused_row is not None and refused_row.state is SignalState.REJECTED
    assert refused_row.reason == "risk_max_open_positions"


async def test_skip(world: World) -> None:
    await world.trading.register(10, "en")
    (row,) = await world.trading.publish(draft()) or []
    await world.trading.skip(row.id, 10)
    with pytest.raises(UserError) as refused:
        await world.trading.confirm(row.id, 10)
    assert refused.value.key == "signal_state_skipped"


async def _open_long(world: World) -> int:
    await world.trading.register(10, "en")
    (row,) = await world.trading.publish(draft()) or []
    world.market.add_candles("BTC/USDT", candles_frame(T0 - HOUR, [(99, 101, 98, 100)], HOUR))
    execution = await world.trading.confirm(row.id, 10)
    return execution.position.id


async def test_monitor_tp1_then_tp2(world: World) -> None:
    position_id = await _open_long(world)
    # candle 1: high 111 crosses TP1 110 -> close 5 @ 110: gross 50, fee 0.55 -> +49.45; stop to break-even 100
    world.market.add_candles("BTC/USDT", candles_frame(T0, [(100, 111, 99, 108)], HOUR))
    assert await world.trading.monitor() == 1
    p = await world.positions.get(position_id)
    assert p is not None and p.tp1_done and p.quantity == 5.0 and p.stop_price == 100.0
    assert await world.users.balance(10) == pytest.approx(9_999.0 + 49.45)
    # candle 2: high 121 crosses TP2 120 -> close 5 @ 120: gross 100, fee 0.60 -> +99.40
    world.market.add_candles("BTC/USDT", candles_frame(T0 + HOUR, [(108, 121, 107, 120)], HOUR))
    assert await world.trading.monitor() == 1
    p = await world.positions.get(position_id)
    assert p is not None and p.status is PositionStatus.CLOSED and p.exit_reason is ExitReason.TP2
    # realised: -1.00 (entry fee) + 49.45 + 99.40 = 147.85
    assert p.net_pnl == pytest.approx(147.85)
    assert p.realized_pnl == pytest.approx(150.0) and p.fees == pytest.approx(
        2.15
    )  # gross 50 + 100; fees 1 + 0.55 + 0.6
    assert await world.users.balance(10) == pytest.approx(10_147.85)
    events = [i for i in await world.outbox.due(world.clock.now() + HOUR, 100)]
    closed = next(i for i in events if i.kind == "closed")
    assert closed.payload["pnl_pct"] == pytest.approx(14.785)  # 147.85 / (100 x 10)
    assert closed.payload["balance"] == pytest.approx(10_147.85)
    assert any(i.kind == "tp1" and i.payload["new_stop"] == 100.0 for i in events)
    # Seen candles are not applied twice.
    assert await world.trading.monitor() == 0


async def test_monitor_stop_loss_and_gap(world: World) -> None:
    position_id = await _open_long(world)
    # opens at 85, below the stop 90: a gap fills at the open. gross (85-100) x 10 = -150, fee 0.85
    world.market.add_candles("BTC/USDT", candles_frame(T0, [(85, 86, 80, 82)], HOUR))
    await world.trading.monitor()
    p = await world.positions.get(position_id)
    assert p is not None and p.status is PositionStatus.CLOSED
    assert (p.exit_price, p.exit_reason) == (85.0, ExitReason.STOP_LOSS)
    assert p.net_pnl == pytest.approx(-1.0 - 150.85)
    assert await world.users.balance(10) == pytest.approx(10_000 - 1.0 - 150.85)


async def test_restart_finishes_an_interrupted_confirmation(world: World, db, clock) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_world

    await world.trading.register(10, "en")
    (row,) = await world.trading.publish(draft()) or []
    # A crash right after the atomic claim: the row is confirmed, no order was stored.
    assert await world.signals.transition(row.id, 10, SignalState.PENDING, SignalState.CONFIRMED, clock.now())
    restarted = make_world(db, clock)
    assert await restarted.trading.recover() == 1
    stored = await restarted.signals.get_user_signal(row.id)
    assert stored is not None and stored.state is SignalState.REJECTED
    assert await restarted.positions.count_open() == 0
    assert "alert" in await outbox_kinds(restarted)


async def test_drawdown_halts_and_tells_the_admins_once(world: World) -> None:
    await world.trading.register(10, "en")
    await world.system.save_limits(Limits(max_drawdown_pct=10.0), admin_id=1, changed="max_drawdown_pct")
    # Both signals go out before the peak is known (a later one would be refused at fan-out).
    rows = [(await world.trading.publish(draft(candle_offset=i)) or [])[0] for i in range(2)]
    await world.users.mark_equity(10, 12_000.0, "2024-02-01")  # an earlier peak
    for row in rows:
        with pytest.raises(UserError) as refused:
            await world.trading.confirm(row.id, 10)
        # (12 000 - 10 000) / 12 000 = 16.67% >= 10%
        assert refused.value.key == "risk_max_drawdown"
        assert refused.value.params["drawdown_pct"] == pytest.approx(100 * 2_000 / 12_000)
        assert (await world.signals.get_user_signal(row.id)).state is SignalState.REJECTED  # type: ignore[union-attr]
    with pytest.raises(UserError) as again:
        await world.trading.confirm(rows[0].id, 10)
    assert again.value.key == "signal_state_rejected"
    alerts = [i for i in await world.outbox.due(world.clock.now() + HOUR, 100) if i.kind == "alert"]
    assert [(a.user_id, a.payload["key"]) for a in alerts] == [(1, "risk_halt_admin")]  # once, to admin 1


async def test_daily_loss_halts(world: World) -> None:
    await world.trading.register(10, "en")
    (row,) = await world.trading.publish(draft()) or []
    # The day opened at 10 600; equity now 10 000: loss 5.66% >= the default 5%.
    await world.users.mark_equity(10, 10_600.0, world.clock.now().strftime("%Y-%m-%d"))
    with pytest.raises(UserError) as refused:
        await world.trading.confirm(row.id, 10)
    assert refused.value.key == "risk_max_daily_loss"


async def test_one_position_per_symbol(world: World) -> None:
    await world.trading.register(10, "en")
    (first,) = await world.trading.publish(draft()) or []
    (second,) = await world.trading.publish(draft(candle_offset=1)) or []
    await world.trading.confirm(first.id, 10)
    with pytest.raises(UserError) as refused:
        await world.trading.confirm(second.id, 10)
    assert refused.value.key == "risk_already_open"


def test_kelly_sizing_from_the_users_own_record() -> None:
    from core.models import User
    from core.trading.service import TradingService

    user = User(id=10, language="en", subscribed=True, blocked=False, paper_balance=10_000.0)
    limits = Limits()
    # Too few trades: fixed-fractional, 1% of 10 000 over a stop 10 away = 10 units.
    few = TradingService.size_for(user, 100.0, 90.0, limits, [15.0] * 5)
    assert (few.method, few.quantity) == ("fixed", 10.0)
    # 40 trades, 16 wins of 15 and 24 losses of 10: p = 0.4, b = 1.5, f = (0.4 x 1.5 - 0.6) / 1.5 = 0
    # -> quarter-Kelly 0%, floored at kelly_min_risk_pct 0.25%: 25 at risk / 10 = 2.5 units.
    record = [15.0] * 16 + [-10.0] * 24
    kelly = TradingService.size_for(user, 100.0, 90.0, limits, record)
    assert kelly.method == "kelly" and kelly.quantity == pytest.approx(2.5)
    # A user's own lower risk caps Kelly too: 0.5% -> at most 5 units even with a great record.
    great = [30.0] * 30 + [-10.0] * 10
    careful = TradingService.size_for(User(10, "en", True, False, 10_000.0, risk_pct=0.5), 100.0, 90.0, limits, great)
    assert careful.quantity == pytest.approx(5.0)

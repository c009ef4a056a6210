"""Live trading through the trading service, the real ccxt client and the fake Binance on
127.0.0.1: entry, protection by two OCO lists, fills picked up by the monitor, stops moved
by cancel-then-place, vanished protection, manual close, faults and restarts.

Every test ends with the exchange and the database agreeing: one order per client order
id on the exchange, and each order row in the state the exchange reports.
"""

from __future__ import annotations

import pytest

from core.errors import UserError
from core.models import ExitReason, OrderStatus, PositionStatus, Side, SignalState
from core.rules.exits import ManagementRules
from tests.core.trading.live_world import (
    ADMIN,
    ALICE,
    BOB,
    KEY,
    SECRET,
    LiveWorld,
    Start,
    assert_agrees,
    confirm,
    long_draft,
    monitor,
    resting,
)
from tests.fakes.fake_exchange import Fault

# ------------------------------------------------------------------ entry and protection


async def test_confirm_buys_once_and_protects_both_halves_with_oco_lists(live: LiveWorld) -> None:
    execution = await confirm(live)
    p = execution.position
    # 1% of 10 000 over a 1 200 stop = 0.0833 BTC, capped at 25% of 10 000 / 60 000 = 0.041666 -> 0.04166 (lot step)
    assert execution.order.filled == pytest.approx(0.04166)
    assert execution.order.fee_currency == "BTC" and execution.order.fee == pytest.approx(0.00004166)
    assert p.quantity == pytest.approx(0.04166 - 0.00004166)  # the buyer's fee is paid in BTC
    assert p.fees == pytest.approx(0.00004166 * 60_000)  # valued in USDT
    legs = resting(live)
    assert set(legs) == {f"atra-p{p.id}-a1-sl", f"atra-p{p.id}-a1-tp", f"atra-p{p.id}-b1-sl", f"atra-p{p.id}-b1-tp"}
    assert legs[f"atra-p{p.id}-a1-sl"].type == "STOP_LOSS" and legs[f"atra-p{p.id}-a1-tp"].type == "LIMIT_MAKER"
    assert float(legs[f"atra-p{p.id}-a1-tp"].price) == 61_800 and float(legs[f"atra-p{p.id}-b1-tp"].price) == 63_000
    assert float(legs[f"atra-p{p.id}-a1-sl"].stop_price) == float(legs[f"atra-p{p.id}-b1-sl"].stop_price) == 58_800
    a, b = float(legs[f"atra-p{p.id}-a1-sl"].orig_qty), float(legs[f"atra-p{p.id}-b1-sl"].orig_qty)
    # 0.04161834 / 2 = 0.02080917 -> 0.0208 (lot 0.00001); the rest 0.02081834 -> 0.02081
    assert a == pytest.approx(0.0208) and b == pytest.approx(0.02081)
    account = live.fake.accounts[KEY]
    assert float(account.locked["BTC"]) == pytest.approx(a + b) and float(account.free["BTC"]) < 0.00001
    assert len(live.fake.requests_to("POST", "/api/v3/order")) == 1
    assert len(live.fake.requests_to("POST", "/api/v3/orderList/oco")) == 2
    await assert_agrees(live)


async def test_short_signals_are_refused_on_spot_and_the_row_stays_pending(live: LiveWorld) -> None:
    rows = await live.trading.publish(long_draft(side=Side.SHORT, entry=60_000, stop=61_200, tp1=58_200, tp2=57_000))
    assert rows is not None
    with pytest.raises(UserError) as refused:
        await live.trading.confirm(rows[0].id, ALICE)
    assert refused.value.key == "live_spot_long_only"
    assert (await live.signals.get_user_signal(rows[0].id)).state is SignalState.PENDING  # type: ignore[union-attr]
    assert live.fake.orders_of(KEY) == []


async def test_a_user_without_a_key_is_told_to_connect(live: LiveWorld) -> None:
    await live.trading.register(BOB, "en")
    rows = await live.trading.publish(long_draft())
    assert rows is not None
    bob_row = next(r for r in rows if r.user_id == BOB)
    with pytest.raises(UserError) as refused:
        await live.trading.confirm(bob_row.id, BOB)
    assert refused.value.key == "live_connect_first"
    assert live.fake.requests_to("POST", "/api/v3/order") == []


# ------------------------------------------------------------------------ management


async def test_stop_loss_fills_both_halves_and_closes_with_fees(live: LiveWorld) -> None:
    p = (await confirm(live)).position
    live.set_price("BTC/USDT", 58_700)  # through the stop: both STOP_LOSS legs fire at 58 700
    assert await monitor(live) == 1
    closed = await live.positions.get(p.id)
    assert closed is not None and closed.status is PositionStatus.CLOSED
    assert closed.exit_reason is ExitReason.STOP_LOSS and closed.exit_price == pytest.approx(58_700)
    sold = 0.0208 + 0.02081
    assert closed.realized_pnl == pytest.approx((58_700 - 60_000) * sold)
    exit_fees = sold * 58_700 * 0.001
    assert closed.fees == pytest.approx(0.00004166 * 60_000 + exit_fees, rel=1e-6)
    assert resting(live) == {}
    assert "closed" in await live.kinds(ALICE)
    await assert_agrees(live)


async def test_tp1_then_stop_to_break_even_by_cancel_then_place_then_tp2(live: LiveWorld) -> None:
    p = (await confirm(live)).position
    live.set_price("BTC/USDT", 61_800)  # TP1's LIMIT_MAKER fills; its stop expires
    await monitor(live)
    after = await live.positions.get(p.id)
    assert after is not None and after.tp1_done and after.stop_price == 60_000 and after.status is PositionStatus.OPEN
    legs = resting(live)
    assert set(legs) == {f"atra-p{p.id}-b2-sl", f"atra-p{p.id}-b2-tp"}  # slot b replaced, the stop at entry
    assert float(legs[f"atra-p{p.id}-b2-sl"].stop_price) == 60_000
    stored = await live.stored(p.id)
    assert stored[f"atra-p{p.id}-b1-sl"].result.status is OrderStatus.CANCELED
    assert stored[f"atra-p{p.id}-a1-tp"].result.status is OrderStatus.FILLED
    assert await live.kinds(ALICE) == ["signal", "filled", "tp1"]
    live.set_price("BTC/USDT", 63_000)
    await monitor(live)
    done = await live.positions.get(p.id)
    assert done is not None and done.status is PositionStatus.CLOSED and done.exit_reason is ExitReason.TP2
    assert done.realized_pnl == pytest.approx(0.0208 * 1_800 + 0.02081 * 3_000)
    assert resting(live) == {}
    await assert_agrees(live)


async def test_trailing_stop_moves_with_new_highs_and_a_crossed_stop_sells_at_market(live: LiveWorld) -> None:
    p = (await confirm(live)).position
    live.set_price("BTC/USDT", 61_800)
    await monitor(live)  # TP1, stop to 60 000
    # A candle to 62 500 closing 62 400: trail = max(62 500 - 2 x 600, ...) = 61 300 (under the close)
    live.set_price("BTC/USDT", 62_400)
    live.add_candles("BTC/USDT", [(61_900, 62_500, 61_800, 62_400)])
    await monitor(live)
    moved = await live.positions.get(p.id)
    assert moved is not None and moved.stop_price == pytest.approx(61_300)
    legs = resting(live)
    assert set(legs) == {f"atra-p{p.id}-b3-sl", f"atra-p{p.id}-b3-tp"}
    assert float(legs[f"atra-p{p.id}-b3-sl"].stop_price) == 61_300
    assert "stop_moved" in await live.kinds(ALICE)
    # The next candle pushes the trail to 62 300 but the price has already fallen to 62 100:
    # the stop has been crossed, so it is executed at market instead of being placed.
    live.set_price("BTC/USDT", 62_100)
    live.add_candles("BTC/USDT", [(62_400, 63_500, 62_300, 62_900)])
    await monitor(live)
    closed = await live.positions.get(p.id)
    assert closed is not None and closed.status is PositionStatus.CLOSED
    assert closed.exit_reason is ExitReason.TRAILING_STOP
    assert closed.exit_price == pytest.approx((0.0208 * 61_800 + 0.02081 * 62_100) / 0.04161)  # the mean of the exits
    assert resting(live) == {}
    await assert_agrees(live)


async def test_a_trail_step_too_small_to_be_worth_a_replacement_waits(live: LiveWorld) -> None:
    p = (await confirm(live)).position
    live.set_price("BTC/USDT", 61_800)
    await monitor(live)  # TP1, stop to 60 000 (list b2)
    live.add_candles("BTC/USDT", [(61_200, 61_220, 61_100, 61_200)])  # trail 61 220 - 1 200 = 60 020: +0.03 %
    await monitor(live)
    assert set(resting(live)) == {f"atra-p{p.id}-b2-sl", f"atra-p{p.id}-b2-tp"}
    after = await live.positions.get(p.id)
    assert after is not None and after.stop_price == 60_000 and after.highest == 61_220
    assert "stop_moved" not in await live.kinds(ALICE)


async def test_protection_cancelled_outside_is_placed_again_and_everyone_told(live: LiveWorld) -> None:
    p = (await confirm(live)).position
    live.fake.cancel_externally(KEY, f"atra-p{p.id}-b1-sl")
    await monitor(live)
    assert set(resting(live)) == {
        f"atra-p{p.id}-a1-sl",
        f"atra-p{p.id}-a1-tp",
        f"atra-p{p.id}-b2-sl",
        f"atra-p{p.id}-b2-tp",
    }
    keys = [(a.user_id, a.key) for a in await live.alerts()]
    assert (ALICE, "protection_vanished") in keys and (ADMIN, "protection_vanished_admin") in keys
    await assert_agrees(live)


async def test_a_partly_filled_target_is_booked_and_the_rest_protected_again(live: LiveWorld) -> None:
    p = (await confirm(live)).position
    live.fake.fill_partially(KEY, f"atra-p{p.id}-a1-tp", "0.01")  # its stop expires with it
    await monitor(live)
    after = await live.positions.get(p.id)
    assert after is not None and not after.tp1_done
    assert after.realized_pnl == pytest.approx(0.01 * 1_800)
    legs = resting(live)
    assert set(legs) == {f"atra-p{p.id}-a2-sl", f"atra-p{p.id}-a2-tp", f"atra-p{p.id}-b1-sl", f"atra-p{p.id}-b1-tp"}
    assert float(legs[f"atra-p{p.id}-a2-sl"].orig_qty) == pytest.approx(0.0108)
    assert [a.key for a in await live.alerts(ALICE)] == ["live_partial_fill"]
    await assert_agrees(live)


async def test_manual_close_cancels_the_lists_and_sells_at_market(live: LiveWorld) -> None:
    p = (await confirm(live)).position
    live.set_price("BTC/USDT", 60_500)
    closed = await live.trading.close_position(p.id, ALICE)
    assert closed.reason == "manual" and closed.exit_price == pytest.approx(60_500)
    assert resting(live) == {}
    assert float(live.fake.accounts[KEY].free["BTC"]) < 0.00001  # only dust below the lot step is left
    position = await live.positions.get(p.id)
    assert position is not None and position.status is PositionStatus.CLOSED
    await assert_agrees(live)


async def test_a_refused_stop_move_keeps_the_old_stop_and_tells_the_user(live: LiveWorld) -> None:
    p = (await confirm(live)).position
    live.fake.inject(Fault.INSUFFICIENT_BALANCE, path="/api/v3/orderList/oco")  # the next list is refused
    live.set_price("BTC/USDT", 61_800)
    await monitor(live)  # TP1: slot b cancelled, the new list (stop at entry) refused, the old stop placed again
    after = await live.positions.get(p.id)
    assert after is not None and after.tp1_done and after.stop_price == 58_800
    legs = resting(live)
    assert set(legs) == {f"atra-p{p.id}-b3-sl", f"atra-p{p.id}-b3-tp"}
    assert float(legs[f"atra-p{p.id}-b3-sl"].stop_price) == 58_800
    assert "stops_rejected" in [a.key for a in await live.alerts(ALICE)]
    await monitor(live)  # the next run moves it to break-even after all
    assert float(resting(live)[f"atra-p{p.id}-b4-sl"].stop_price) == 60_000
    await assert_agrees(live)


# ------------------------------------------------------------------------- faults


async def test_timeout_after_the_exchange_took_the_entry_is_looked_up_not_resent(start: Start) -> None:
    live = start(timeout_ms=300)
    await live.trading.register(ALICE, "en")
    await live.keys.save(ALICE, KEY, SECRET)
    live.fake.inject(Fault.STALL_AFTER_ACCEPT)
    execution = await confirm(live)
    assert execution.order.status is OrderStatus.FILLED
    assert live.fake.client_id_count(KEY, execution.order.client_order_id) == 1
    assert len(live.fake.requests_to("POST", "/api/v3/order")) == 1
    await assert_agrees(live)


async def test_5xx_after_the_exchange_took_the_entry_ends_with_exactly_one_entry(live: LiveWorld) -> None:
    live.fake.inject(Fault.ERROR_5XX_AFTER_ACCEPT, status=503)
    execution = await confirm(live)
    assert execution.order.status is OrderStatus.FILLED
    assert live.fake.client_id_count(KEY, execution.order.client_order_id) == 1
    await assert_agrees(live)


async def test_an_entry_the_exchange_never_confirmed_is_resolved_by_the_monitor(start: Start) -> None:
    live = start(timeout_ms=300)
    await live.trading.register(ALICE, "en")
    await live.keys.save(ALICE, KEY, SECRET)
    live.fake.inject(Fault.STALL_AFTER_ACCEPT)  # taken, but the answer is lost ...
    live.fake.inject(Fault.ERROR_5XX, method="GET", path="/api/v3/order", times=30)  # ... and so are the lookups
    with pytest.raises(UserError) as unconfirmed:
        await confirm(live)
    assert unconfirmed.value.key == "entry_unconfirmed"
    assert await live.positions.open_positions(ALICE) == []
    live.fake.clear_faults()  # the exchange answers again
    assert await monitor(live) >= 1
    (position,) = await live.positions.open_positions(ALICE)
    assert len(resting(live)) == 4 and len(live.fake.requests_to("POST", "/api/v3/order")) == 1
    assert "filled" in await live.kinds(ALICE)
    await assert_agrees(live)


async def test_insufficient_balance_rejects_the_row_and_nothing_rests(live: LiveWorld) -> None:
    live.fake.inject(Fault.INSUFFICIENT_BALANCE)
    with pytest.raises(UserError) as refused:
        await confirm(live)
    assert refused.value.key == "insufficient_funds"
    assert live.fake.orders_of(KEY) == []
    (row,) = await live.db.fetchall("SELECT status FROM orders")
    assert row["status"] == "rejected"
    await assert_agrees(live)


async def test_a_tp1_share_of_one_makes_a_single_list(start: Start) -> None:
    live = start(rules=ManagementRules(tp1_fraction=1.0))
    await live.trading.register(ALICE, "en")
    await live.keys.save(ALICE, KEY, SECRET)
    p = (await confirm(live)).position
    assert set(resting(live)) == {f"atra-p{p.id}-a1-sl", f"atra-p{p.id}-a1-tp"}
    live.set_price("BTC/USDT", 61_900)
    await monitor(live)
    closed = await live.positions.get(p.id)
    assert closed is not None and closed.status is PositionStatus.CLOSED and closed.exit_reason is ExitReason.TP1
    await assert_agrees(live)


async def test_a_manual_stop_to_break_even_replaces_both_stops_on_the_exchange(live: LiveWorld) -> None:
    p = (await confirm(live)).position  # long 60 000, stop 58 800, both halves under OCO lists
    live.set_price("BTC/USDT", 60_900)  # past the entry, below TP1 (61 800)
    moved = await live.trading.stop_to_break_even(p.id, ALICE)
    assert (moved.old_stop, moved.new_stop) == (58_800, 60_000)
    legs = resting(live)
    assert set(legs) == {f"atra-p{p.id}-{slot}2-{leg}" for slot in "ab" for leg in ("sl", "tp")}
    assert {float(legs[f"atra-p{p.id}-{slot}2-sl"].stop_price) for slot in "ab"} == {60_000}
    stored = await live.positions.get(p.id)
    assert stored is not None and stored.stop_price == 60_000 and stored.status is PositionStatus.OPEN
    with pytest.raises(UserError) as refused:
        await live.trading.stop_to_break_even(p.id, ALICE)
    assert refused.value.key == "break_even_already"
    await assert_agrees(live)


async def test_a_playbook_that_trails_from_the_entry_trails_live_before_tp1(start: Start) -> None:
    # The default (Donchian) playbook trails from the entry: live must move the stop as paper and
    # the backtester do, not only after TP1.
    live = start(rules=ManagementRules(trail_atr_multiplier=2.0, trail_from_entry=True))
    await live.trading.register(ALICE, "en")
    await live.keys.save(ALICE, KEY, SECRET)
    p = (await confirm(live)).position  # long 60 000, stop 58 800, TP1 61 800, ATR 600
    live.set_price("BTC/USDT", 61_400)
    live.add_candles("BTC/USDT", [(60_000, 61_500, 59_900, 61_400)])  # trail 61 500 - 2 x 600 = 60 300
    await monitor(live)
    moved = await live.positions.get(p.id)
    assert moved is not None and not moved.tp1_done and moved.stop_price == pytest.approx(60_300)
    legs = resting(live)
    assert {float(legs[f"atra-p{p.id}-{slot}2-sl"].stop_price) for slot in "ab"} == {60_300}
    await assert_agrees(live)

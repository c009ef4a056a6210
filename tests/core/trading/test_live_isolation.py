"""One user's trouble, or one symbol's, never freezes the monitor for everyone else.

Real ccxt against the fake Binance on 127.0.0.1: a user whose interrupted confirmation meets
a final error (no key any more), a symbol the exchange stopped listing. Each is flagged,
told once per episode and retried every run, while other users' positions are followed.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import UnknownSymbol, UserError
from core.models import OrderStatus, SignalState
from tests.core.trading.live_world import (
    ADMIN,
    ALICE,
    BOB,
    BOB_KEY,
    BOB_SECRET,
    KEY,
    SECRET,
    LiveWorld,
    Start,
    assert_agrees,
    confirm,
    join,
    monitor,
    resting,
)
from tests.fakes.fake_exchange import Fault


async def test_a_final_error_on_one_users_interrupted_confirmation_does_not_stop_the_others(start: Start) -> None:
    live = start(timeout_ms=300)
    await join(live, ALICE, KEY, SECRET)
    await join(live, BOB, BOB_KEY, BOB_SECRET)
    bob = (await confirm(live, BOB, symbol="ETH/USDT", entry=3_000, stop=2_900, tp1=3_150, tp2=3_250)).position
    # Alice's entry is taken but its answer and every lookup are lost, then she disconnects.
    live.fake.inject(Fault.STALL_AFTER_ACCEPT)
    live.fake.inject(Fault.ERROR_5XX, method="GET", path="/api/v3/order", times=30)
    with pytest.raises(UserError) as unconfirmed:
        await confirm(live, ALICE, candle_hour=1)
    assert unconfirmed.value.key == "entry_unconfirmed"
    live.fake.clear_faults()
    await live.keys.delete(ALICE)  # /disconnect
    await live.gateway.forget_user(ALICE)
    live.set_price("ETH/USDT", 3_150)  # Bob's TP1 fills
    await monitor(live)
    after = await live.positions.get(bob.id)
    assert after is not None and after.tp1_done and after.stop_price == 3_000  # booked, stop at break-even
    states = [r["state"] for r in await live.db.fetchall("SELECT state FROM user_signals WHERE user_id = ?", (ALICE,))]
    assert SignalState.CONFIRMED.value in states  # flagged, not guessed
    await monitor(live)  # told once per episode, not every run
    await live.trading.recover()  # and a start-up does not fail on it either
    keys = sorted((a.user_id, a.key) for a in await live.alerts() if a.key.startswith("confirm_unresolved"))
    assert keys == [(ADMIN, "confirm_unresolved_admin"), (ALICE, "confirm_unresolved")]
    # She connects again: the next run finds the entry filled and opens (and protects) her position.
    await live.keys.save(ALICE, KEY, SECRET)
    await monitor(live)
    (position,) = await live.positions.open_positions(ALICE)
    assert len(resting(live)) == 4 and len(live.fake.requests_to("POST", "/api/v3/order")) == 2  # one each
    await assert_agrees(live)
    await assert_agrees(live, BOB_KEY)


async def test_one_unreadable_symbol_does_not_stop_the_other_positions(
    live: LiveWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    await join(live, BOB, BOB_KEY, BOB_SECRET)
    alice = (await confirm(live)).position
    bob = (await confirm(live, BOB, symbol="ETH/USDT", entry=3_000, stop=2_900, tp1=3_150, tp2=3_250)).position
    live.fake.delist("ETHUSDT")
    candles = live.market.candles

    async def delisted(symbol: str, timeframe: str, limit: int) -> Any:
        if symbol == "ETH/USDT":
            raise UnknownSymbol("ETH/USDT is no longer listed")
        return await candles(symbol, timeframe, limit)

    monkeypatch.setattr(live.market, "candles", delisted)
    live.set_price("BTC/USDT", 61_800)  # Alice's TP1 fills
    await monitor(live)
    await monitor(live)
    after = await live.positions.get(alice.id)
    assert after is not None and after.tp1_done and after.stop_price == 60_000
    told = [(a.user_id, a.key, a.params.get("id")) for a in await live.alerts() if a.key.startswith("monitor_failed")]
    assert sorted(told) == [(ADMIN, "monitor_failed_admin", bob.id), (BOB, "monitor_failed", bob.id)]  # once
    assert all(o.result.status is not OrderStatus.SUBMITTING for o in await live.orders.for_position(alice.id))
    await assert_agrees(live)


async def test_a_delisted_coin_held_does_not_lock_its_holder_out_of_other_trades(
    live: LiveWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    await confirm(live, symbol="ETH/USDT", entry=3_000, stop=2_900, tp1=3_150, tp2=3_250)
    live.fake.delist("ETHUSDT")
    price, candles = live.market.last_price, live.market.candles

    async def no_eth_price(symbol: str) -> float:
        if symbol == "ETH/USDT":
            raise UnknownSymbol("ETH/USDT is no longer listed")
        return await price(symbol)

    async def no_eth_candles(symbol: str, timeframe: str, limit: int) -> Any:
        if symbol == "ETH/USDT":
            raise UnknownSymbol("ETH/USDT is no longer listed")
        return await candles(symbol, timeframe, limit)

    monkeypatch.setattr(live.market, "last_price", no_eth_price)
    monkeypatch.setattr(live.market, "candles", no_eth_candles)
    execution = await confirm(live, candle_hour=1)  # BTC: the ETH position is valued at its entry
    assert execution.order.status is OrderStatus.FILLED

"""Orders through the ccxt adapter with the real ccxt binance client against the fake
exchange on 127.0.0.1: lost answers looked up (never re-sent), refusals, lookups and cancels,
protective orders (STOP_LOSS, OCO lists).
"""

from __future__ import annotations

import pytest

from core.errors import (
    InsufficientFunds,
    OrderRejected,
)
from core.exchange.ccxt_exchange import OrderOutcomeUnknown
from core.models import OrderStatus, OrderType
from tests.core.exchange.ccxt_world import KEY, OTHER, USER, Build, order, posts
from tests.fakes.fake_exchange import FakeBinance, Fault

# ------------------------------------------------------------------ lost answers


async def test_timeout_after_accept_gives_exactly_one_order_and_its_fill(build: Build, fake: FakeBinance) -> None:
    exchange, _ = await build(timeout_ms=300)
    fake.inject(Fault.STALL_AFTER_ACCEPT)
    result = await exchange.create_order(order("slow-1", price=60000))
    assert result.status is OrderStatus.FILLED and result.filled == pytest.approx(0.001)
    assert result.fee == pytest.approx(0.000001) and result.fee_currency == "BTC"  # from its trades
    assert len(posts(fake)) == 1 and fake.client_id_count(KEY, "slow-1") == 1
    assert len(fake.orders_of(KEY)) == 1


async def test_5xx_after_accept_is_looked_up_not_resent(build: Build, fake: FakeBinance) -> None:
    exchange, _ = await build()
    fake.inject(Fault.ERROR_5XX_AFTER_ACCEPT, status=502)
    result = await exchange.create_order(order("bad-gw", price=60000))
    assert result.status is OrderStatus.FILLED
    assert len(posts(fake)) == 1 and fake.client_id_count(KEY, "bad-gw") == 1


async def test_5xx_before_accept_returns_unknown_and_nothing_was_placed(build: Build, fake: FakeBinance) -> None:
    exchange, _ = await build()
    fake.inject(Fault.ERROR_5XX, status=503)
    result = await exchange.create_order(order("lost", price=60000))
    assert result.status is OrderStatus.UNKNOWN and result.filled == 0
    assert len(posts(fake)) == 1 and fake.orders_of(KEY) == []
    assert len(fake.requests_to("GET", "/api/v3/order")) >= 2  # looked up until recvWindow had passed


async def test_failing_lookups_raise_outcome_unknown_then_fetch_order_resolves(build: Build, fake: FakeBinance) -> None:
    exchange, _ = await build(timeout_ms=300)
    fake.inject(Fault.STALL_AFTER_ACCEPT)
    fake.inject(Fault.ERROR_5XX, method="GET", path="/api/v3/order", times=50)
    with pytest.raises(OrderOutcomeUnknown):
        await exchange.create_order(order("dark", price=60000))
    assert len(posts(fake)) == 1 and fake.client_id_count(KEY, "dark") == 1
    fake.clear_faults()  # the exchange recovers
    resolved = await exchange.fetch_order(order("dark"))
    assert resolved is not None and resolved.status is OrderStatus.FILLED


async def test_duplicate_client_order_id_returns_the_existing_order(build: Build, fake: FakeBinance) -> None:
    exchange, _ = await build()
    first = await exchange.create_order(order("dup", OrderType.LIMIT, price=50000))
    again = await exchange.create_order(order("dup", OrderType.LIMIT, price=50000))
    assert first.status is OrderStatus.OPEN and again.exchange_order_id == first.exchange_order_id
    assert fake.client_id_count(KEY, "dup") == 1 and len(posts(fake)) == 2


# ------------------------------------------------------------------ refusals by the exchange


async def test_insufficient_balance_is_insufficient_funds(build: Build, fake: FakeBinance) -> None:
    exchange, _ = await build()
    with pytest.raises(InsufficientFunds):
        await exchange.create_order(order("whale", amount=1.0, price=60000))  # 60,000 USDT > 10,000
    fake.inject(Fault.INSUFFICIENT_BALANCE)
    with pytest.raises(InsufficientFunds):
        await exchange.create_order(order("injected", price=60000))
    assert fake.orders_of(KEY) == [] and len(posts(fake)) == 2


# --------------------------------------------------------------- lookups and cancels


async def test_fetch_order_of_an_unknown_client_id_is_none(build: Build) -> None:
    exchange, _ = await build()
    assert await exchange.fetch_order(order("never-sent")) is None


async def test_cancel_is_idempotent_and_releases_funds(build: Build, fake: FakeBinance) -> None:
    exchange, _ = await build()
    placed = await exchange.create_order(order("rest", OrderType.LIMIT, amount=0.01, price=50000))
    assert placed.status is OrderStatus.OPEN
    assert (await exchange.fetch_balance(USER, "USDT")).free == pytest.approx(9500)
    cancelled = await exchange.cancel_order(order("rest", OrderType.LIMIT, amount=0.01, price=50000))
    again = await exchange.cancel_order(order("rest", OrderType.LIMIT, amount=0.01, price=50000))
    assert cancelled.status is OrderStatus.CANCELED and again.status is OrderStatus.CANCELED
    assert (await exchange.fetch_balance(USER, "USDT")).free == pytest.approx(10000)
    assert (await exchange.cancel_order(order("ghost", OrderType.LIMIT, price=50000))).status is OrderStatus.UNKNOWN


# ------------------------------------------------------------------- protective orders


async def test_stop_market_becomes_stop_loss_and_spot_cannot_lock_twice(build: Build, fake: FakeBinance) -> None:
    exchange, _ = await build()
    stop = await exchange.create_order(
        order("sl-1", OrderType.STOP_MARKET, side="sell", amount=1.0, user=OTHER, stop_price=55000.004)
    )
    assert stop.status is OrderStatus.OPEN
    sent = posts(fake)[0].params
    assert sent["type"] == "STOP_LOSS" and sent["stopPrice"] == "55000" and "price" not in sent
    with pytest.raises(InsufficientFunds):  # the whole 1 BTC is locked by the stop
        await exchange.create_order(
            order("tp-1", OrderType.TAKE_PROFIT, side="sell", amount=1.0, user=OTHER, price=70000)
        )


async def test_oco_protects_one_quantity_with_both_legs(build: Build, fake: FakeBinance) -> None:
    exchange, _ = await build()
    stop = order("sl-2", OrderType.STOP_MARKET, side="sell", amount=0.5, user=OTHER, stop_price=55000)
    take = order("tp-2", OrderType.TAKE_PROFIT, side="sell", amount=0.5, user=OTHER, price=70000)
    pair = await exchange.create_protective_oco(stop, take)
    assert pair.stop.status is OrderStatus.OPEN and pair.take_profit.status is OrderStatus.OPEN
    legs = {o.client_order_id: o for o in fake.orders_of("key-2")}
    assert legs["sl-2"].type == "STOP_LOSS" and legs["tp-2"].type == "LIMIT_MAKER"
    assert legs["sl-2"].order_list_id == legs["tp-2"].order_list_id >= 0
    assert (await exchange.fetch_balance(OTHER, "BTC")).free == pytest.approx(0.5)  # locked once
    found = await exchange.fetch_order(take)
    assert found is not None and found.exchange_order_id == pair.take_profit.exchange_order_id
    await exchange.cancel_order(stop)  # cancels the list
    assert {o.status for o in fake.orders_of("key-2")} == {"CANCELED"}
    assert (await exchange.fetch_balance(OTHER, "BTC")).free == pytest.approx(1.0)


async def test_oco_with_levels_on_the_wrong_side_is_refused_before_sending(build: Build, fake: FakeBinance) -> None:
    exchange, _ = await build()
    stop = order("sl-3", OrderType.STOP_MARKET, side="sell", amount=0.5, user=OTHER, stop_price=65000)
    take = order("tp-3", OrderType.TAKE_PROFIT, side="sell", amount=0.5, user=OTHER, price=70000)
    with pytest.raises(OrderRejected, match="not between"):  # the price (60000) is below the stop
        await exchange.create_protective_oco(stop, take)
    assert fake.requests_to("POST", "/api/v3/orderList/oco") == []

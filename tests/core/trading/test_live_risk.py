"""Risk exactly as configured on a live account: the size follows the price actually used
and the balance the exchange holds now; deposits and withdrawals are not P&L; connecting an
account starts its marks afresh.

Real ccxt against the fake Binance on 127.0.0.1; every number is worked out by hand beside it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.errors import UserError
from core.trading.accounts import ExchangeAccountService
from tests.core.trading.live_world import ALICE, KEY, LiveWorld, Start, assert_agrees, confirm

ENTRY = "/api/v3/order"


async def test_the_size_is_worked_out_again_from_the_price_used_at_confirmation(live: LiveWorld) -> None:
    # Published at 60 000 with the stop at 57 000: 1 % of 10 000 = 100 at risk / 3 000 = 0.03333.
    # Confirmed at 60 500 (0.83 % away, within the 1 % drift): 100 / 3 500 = 0.028571 -> 0.02857.
    live.set_price("BTC/USDT", 60_500)
    execution = await confirm(live, stop=57_000, tp1=64_000, tp2=66_000)
    (sent,) = live.fake.requests_to("POST", ENTRY)
    assert sent.params["quantity"] == "0.02857"
    assert execution.order.filled == pytest.approx(0.02857)
    assert execution.order.filled * (60_500 - 57_000) <= 100.0  # 99.995: 1 % of the balance, not 1.17 %
    await assert_agrees(live, KEY)


async def test_a_withdrawal_resizes_the_next_entry_and_is_not_counted_as_a_loss(live: LiveWorld) -> None:
    await confirm(live)  # 0.04166 BTC at 60 000 (fee in BTC): balance 10 000 - 2.4996 = 9 997.50; peak 10 000
    live.clock.advance(timedelta(minutes=5))
    live.fake.withdraw(KEY, "USDT", 5_000)  # 7 500.40 USDT free -> 2 500.40
    live.set_price("ETH/USDT", 3_000)
    # The balance now: 2 500.40 USDT + 0.04161834 BTC at cost (2 497.10) = 4 997.50; the 5 000 withdrawn
    # is no loss: the marks move with it (peak 5 000), so no 50 % drawdown halts her.
    # Size: 1 % of 4 997.50 = 49.975 / (3 000 - 2 900) = 0.49975, capped at 25 % of 4 997.50 / 3 000
    # = 0.416458 -> 0.4164 (lot 0.0001).
    execution = await confirm(live, symbol="ETH/USDT", entry=3_000, stop=2_900, tp1=3_150, tp2=3_250, candle_hour=1)
    assert execution.order.filled == pytest.approx(0.4164)
    assert await live.users.balance(ALICE) == pytest.approx(4_997.50 - 0.4164 * 0.001 * 3_000, abs=0.01)
    await assert_agrees(live, KEY)


async def test_confirming_before_connecting_does_not_lock_the_account_out(start: Start) -> None:
    live = start()
    await live.trading.register(ALICE, "en")  # 10 000 (PAPER_BALANCE) until an account is connected
    with pytest.raises(UserError) as first:
        await confirm(live)
    assert first.value.key == "live_connect_first"
    live.fake.add_account("small-key-0003", "small-secret-0003", {"USDT": "1000"})
    await accounts(live).connect(ALICE, "binance", "small-key-0003", "small-secret-0003")
    execution = await confirm(live, candle_hour=1)  # not refused as a 90 % drawdown from 10 000
    # 1 % of 1 000 = 10 / 1 200 = 0.008333, capped at 25 % of 1 000 / 60 000 = 0.0041666 -> 0.00416
    assert execution.order.filled == pytest.approx(0.00416)


async def test_connecting_an_account_starts_its_marks_afresh(start: Start) -> None:
    live = start()
    await live.trading.register(ALICE, "en")
    await live.users.mark_equity(ALICE, 10_000.0, live.clock.now().strftime("%Y-%m-%d"))  # from paper days
    live.fake.add_account("small-key-0003", "small-secret-0003", {"USDT": "1000"})
    await accounts(live).connect(ALICE, "binance", "small-key-0003", "small-secret-0003")
    execution = await confirm(live)
    assert execution.order.filled == pytest.approx(0.00416)


def accounts(world: LiveWorld) -> ExchangeAccountService:
    return ExchangeAccountService(
        exchange_id="binance",
        quote="USDT",
        exchange=world.exchange,
        keys=world.keys,
        users=world.users,
        positions=world.positions,
        forget_client=world.gateway.forget_user,
    )

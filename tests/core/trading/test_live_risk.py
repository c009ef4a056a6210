"""Risk exactly as configured on a live account: the size follows the price actually used
and the balance the exchange holds now; deposits and withdrawals are not P&L; connecting an
account starts its marks afresh.

Real ccxt against the fake Binance on 127.0.0.1; every number is worked out by hand beside it.
"""

from __future__ import annotations

import pytest

from tests.core.trading.live_world import KEY, LiveWorld, assert_agrees, confirm

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

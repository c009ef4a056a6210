"""What a live position books and holds: fees in two currencies, the fee of a partly filled
target, the stop as it rests, the exit price, and the coins the account holds against the
positions.

Real ccxt against the fake Binance on 127.0.0.1; every number is worked out by hand beside it.
"""

from __future__ import annotations

import pytest

from core.errors import ExchangeUnavailable
from core.models import PositionStatus
from tests.core.trading.live_world import ADMIN, ALICE, KEY, LiveWorld, assert_agrees, confirm, monitor, resting

# ---------------------------------------------------------------- 5. fees in two currencies


async def test_a_fee_paid_partly_in_bnb_and_partly_in_the_coin_leaves_the_position_what_it_holds(
    live: LiveWorld,
) -> None:
    live.fake.pay_fees_in_bnb(KEY, "0.002", "600")
    live.fake.fills_per_market_order = 2  # 0.04166 fills as 2 x 0.02083 at 60 000
    # trade 1: 1 249.80 x 0.1 % x 0.75 / 600 = 0.00156225 BNB (0.00043775 BNB left);
    # trade 2: BNB has run out, so 0.02083 x 0.1 % = 0.00002083 BTC. Held: 0.04163917 BTC.
    p = (await confirm(live)).position
    assert p.quantity == pytest.approx(0.04163917)
    legs = resting(live)
    # 0.04163917 / 2 = 0.020819585 -> 0.02081 at TP1; the rest 0.02082917 -> 0.02082 at TP2
    assert float(legs[f"atra-p{p.id}-a1-sl"].orig_qty) == pytest.approx(0.02081)
    assert float(legs[f"atra-p{p.id}-b1-sl"].orig_qty) == pytest.approx(0.02082)
    assert [a.key for a in await live.alerts()] == []
    await assert_agrees(live)


async def test_a_fee_paid_in_bnb_is_booked_at_its_value_in_the_quote(live: LiveWorld) -> None:
    live.fake.pay_fees_in_bnb(KEY, "0.01", "600")
    # 0.04166 BTC at 60 000 = 2 499.60 USDT; 0.1 % x 0.75 = 1.8747 USDT, paid as
    # 1.8747 / 600 = 0.0031245 BNB. The position holds all it bought and carries 1.8747 USDT of
    # fees (not 0.0031245, the BNB figure taken as USDT).
    p = (await confirm(live)).position
    assert p.quantity == pytest.approx(0.04166)
    assert p.fees == pytest.approx(1.8747)
    await assert_agrees(live)


async def test_a_small_shortfall_in_the_wallet_is_covered_with_what_the_wallet_holds(live: LiveWorld) -> None:
    p = (await confirm(live)).position  # 0.04161834 held: 0.0208 rests in a1, 0.02081 in b1, 0.00000834 free
    live.fake.cancel_externally(KEY, f"atra-p{p.id}-b1-sl")  # 0.02081834 free
    live.fake.withdraw(KEY, "BTC", "0.0002")  # 0.02061834 free: 0.0002 short of the position (0.5 %)
    await monitor(live)
    after = await live.positions.get(p.id)
    assert after is not None and after.status is PositionStatus.OPEN
    assert after.quantity == pytest.approx(0.04141834)  # what the wallet holds
    assert float(resting(live)[f"atra-p{p.id}-b3-sl"].orig_qty) == pytest.approx(0.02061)  # b2 was refused
    assert "protection_failed" not in [a.key for a in await live.alerts()]
    await assert_agrees(live)


async def test_a_large_shortfall_is_flagged_not_guessed(live: LiveWorld) -> None:
    p = (await confirm(live)).position
    live.fake.cancel_externally(KEY, f"atra-p{p.id}-b1-sl")
    live.fake.withdraw(KEY, "BTC", "0.005")  # 12 % of the position gone: not a fee
    await monitor(live)
    after = await live.positions.get(p.id)
    assert after is not None and after.quantity == pytest.approx(0.04161834)  # unchanged
    assert "protection_failed" in [a.key for a in await live.alerts()]
    await assert_agrees(live)


# ---------------------------------------------------- 13. the fee of a partly filled target


async def test_the_fee_of_a_partly_filled_target_is_booked(live: LiveWorld) -> None:
    p = (await confirm(live)).position
    live.fake.fill_partially(KEY, f"atra-p{p.id}-a1-tp", "0.01")  # at 61 800: fee 0.1 % = 0.618 USDT
    await monitor(live)  # the rest is cancelled (its stop expired) and covered again
    after = await live.positions.get(p.id)
    assert after is not None
    assert after.fees == pytest.approx(0.00004166 * 60_000 + 0.618)  # the entry's fee, then the target's
    assert after.realized_pnl == pytest.approx(0.01 * 1_800)
    await assert_agrees(live)


# ------------------------------------------------- 14. the stop saved as soon as it is moved


async def test_a_moved_stop_is_saved_even_when_the_run_fails_after_the_move(
    live: LiveWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = (await confirm(live)).position
    tradable = live.exchange.tradable_amount

    async def failing_after_the_move(symbol: str, amount: float, price: float) -> float:
        if f"atra-p{p.id}-b2-sl" in resting(live):  # the stop has just been moved to break-even
            raise ExchangeUnavailable("exchangeInfo: 503")
        return await tradable(symbol, amount, price)

    monkeypatch.setattr(live.exchange, "tradable_amount", failing_after_the_move)
    live.set_price("BTC/USDT", 61_800)  # TP1 fills; slot b's stop moves to 60 000, then the run fails
    await monitor(live)
    monkeypatch.setattr(live.exchange, "tradable_amount", tradable)
    await monitor(live)
    after = await live.positions.get(p.id)
    assert after is not None and after.stop_price == 60_000  # as it rests on the exchange
    assert float(resting(live)[f"atra-p{p.id}-b2-sl"].stop_price) == 60_000
    await assert_agrees(live)


# ------------------------------------------------------ 15. the exit price of a position


async def test_the_exit_price_of_a_closed_position_is_the_mean_of_its_exits(live: LiveWorld) -> None:
    p = (await confirm(live)).position
    live.set_price("BTC/USDT", 61_800)
    await monitor(live)  # TP1: 0.0208 at 61 800
    live.set_price("BTC/USDT", 63_000)
    await monitor(live)  # TP2: 0.02081 at 63 000
    done = await live.positions.get(p.id)
    assert done is not None and done.status is PositionStatus.CLOSED
    # (0.0208 x 61 800 + 0.02081 x 63 000) / 0.04161 = 62 400.14...
    assert done.exit_price == pytest.approx((0.0208 * 61_800 + 0.02081 * 63_000) / 0.04161)
    await assert_agrees(live)


# ------------------------------------------- 17. the coins held cover the open positions


async def test_coins_missing_from_the_account_are_flagged_once_with_the_figures(live: LiveWorld) -> None:
    p = (await confirm(live)).position  # 0.04161834 BTC held
    live.fake.cancel_externally(KEY, f"atra-p{p.id}-b1-sl")  # the user cancels a list in the app ...
    live.fake.withdraw(KEY, "BTC", "0.01")  # ... and sells 0.01 BTC: 0.03161834 left
    await monitor(live)
    await monitor(live)
    short = [a for a in await live.alerts() if a.key.startswith("holdings_short")]
    assert sorted((a.user_id, a.key) for a in short) == [(ADMIN, "holdings_short_admin"), (ALICE, "holdings_short")]
    mine = next(a for a in short if a.user_id == ALICE)
    assert mine.params["asset"] == "BTC"
    assert mine.params["held"] == pytest.approx(0.03161834) and mine.params["expected"] == pytest.approx(0.04161834)
    after = await live.positions.get(p.id)
    assert after is not None and after.quantity == pytest.approx(0.04161834)  # flagged, not guessed
    await assert_agrees(live)

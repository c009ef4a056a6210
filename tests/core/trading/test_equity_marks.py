"""Risk exactly as configured: equity marked to market by the monitor, the day's opening
taken at 00:00 UTC (the first mark after midnight), not at the day's first confirmation.

The paper trading service over SQLite; every number is worked out by hand beside it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.errors import UserError
from tests.conftest import World
from tests.core.trading.test_trading_service import draft
from tests.fakes.market import candles_frame

HOUR = timedelta(hours=1)


async def test_a_loss_after_midnight_counts_against_the_day_it_happened_in(world: World) -> None:
    await world.trading.register(10, "en")
    world.clock.advance(11 * HOUR)  # 2024-03-01 23:00
    (row,) = await world.trading.publish(draft(candle_offset=11)) or []
    await world.trading.confirm(row.id, 10)  # 10 BTC at 100, fee 1.00: balance 9 999
    world.clock.advance(HOUR + timedelta(seconds=30))  # 00:00:30, the monitor's first run of the day
    await world.trading.monitor()  # marks the day's opening: 9 999 + (100 - 100) x 10 = 9 999
    world.clock.advance(HOUR)
    midnight = world.clock.now().replace(hour=0, minute=0, second=0)
    world.market.add_candles("BTC/USDT", candles_frame(midnight, [(50, 55, 45, 50)], HOUR))
    await world.trading.monitor()  # a gap through the stop: sold at the open 50: -500 - fee 0.50
    assert await world.users.balance(10) == pytest.approx(9_498.5)
    world.clock.advance(HOUR)  # 02:00: (9 999 - 9 498.5) / 9 999 = 5.0055 % lost today >= 5 %
    (second,) = await world.trading.publish(draft(symbol="ETH/USDT", entry=50, stop=45, tp1=55, tp2=60)) or []
    # Known at fan-out (issue 11): the row is stored refused, its message says why.
    assert second.reason == "risk_max_daily_loss"
    (card,) = [
        i for i in await world.outbox.due(world.clock.now(), 100) if i.payload.get("user_signal_id") == second.id
    ]
    assert card.payload["refusal_params"]["daily_loss_pct"] == pytest.approx(100 * 500.5 / 9_999)
    with pytest.raises(UserError) as refused:
        await world.trading.confirm(second.id, 10)
    assert refused.value.key == "signal_state_rejected"


async def test_the_peak_follows_open_positions_marked_to_market(world: World) -> None:
    await world.trading.register(10, "en")
    (row,) = await world.trading.publish(draft()) or []
    await world.trading.confirm(row.id, 10)  # 10 at 100, balance 9 999
    world.market.prices["BTC/USDT"] = 105.0
    await world.trading.monitor()  # equity 9 999 + 5 x 10 = 10 049: the new peak
    day = world.clock.now().strftime("%Y-%m-%d")
    peak, _ = await world.users.mark_equity(10, 0.0, day)
    assert peak == pytest.approx(10_049.0)

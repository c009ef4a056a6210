"""What a paper position books and says: the exit price as the mean of its exits, the
quantity left after TP1 when TP2 fills on the same candle.

The paper trading service over SQLite; every number is worked out by hand beside it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import T0, World
from tests.core.trading.test_trading_service import draft
from tests.fakes.market import candles_frame

HOUR = timedelta(hours=1)


async def test_tp1_and_tp2_on_one_candle_give_one_close_at_the_mean_exit(world: World) -> None:
    await world.trading.register(10, "en")
    (row,) = await world.trading.publish(draft()) or []
    position = (await world.trading.confirm(row.id, 10)).position  # 10 at 100
    # one candle reaches both targets: 5 sold at TP1 110, then 5 at TP2 120
    world.market.add_candles("BTC/USDT", candles_frame(T0, [(100, 125, 99, 121)], HOUR))
    await world.trading.monitor()
    events = await world.outbox.due(world.clock.now() + HOUR, 100)
    # one message for both targets (issue 11), never a TP1 message saying "0 still open"
    assert [e.kind for e in events if e.kind in ("tp1", "closed")] == ["closed"]
    closed = await world.positions.get(position.id)
    assert closed is not None and closed.exit_price == pytest.approx(115.0)  # (5 x 110 + 5 x 120) / 10
    (message,) = [e.payload for e in events if e.kind == "closed"]
    assert message["exit_price"] == pytest.approx(115.0) and message["quantity"] == pytest.approx(10.0)
    # 5 x (110 - 100) + 5 x (120 - 100) = 150, less fees 1.00 (entry) + 0.55 (TP1) + 0.60 (TP2)
    assert message["pnl"] == pytest.approx(147.85)

"""TP1 and TP2 filled in one look at the exchange (live, the real ccxt client against the fake
Binance): one close event that carries the TP1 fill, told as one message in English and in
Russian. The paper side of it, over the Bot API wire: tests/bot/test_one_step_exits.py.

Worked by hand: 0.04166 BTC bought at 60,000 (fee 0.00004166 BTC) -> 0.04161834 held; the
TP1 list holds 0.0208, the rest list 0.02081 (lot 0.00001). The price jumps to 63,000: TP1's
LIMIT_MAKER at 61,800 and TP2's at 63,000 both fill before the monitor looks. Average exit
(0.0208 x 61,800 + 0.02081 x 63,000) / 0.04161 = 62,400.144 -> 62,400.14 on the 0.01 tick."""

from __future__ import annotations

import pytest

from bot.figures import Figures
from bot.render import event_text
from core.events import from_payload
from core.models import ExitReason, PositionStatus
from core.rules.exits import ManagementRules
from core.trading.paper import PaperPositions
from tests.conftest import T0, World
from tests.core.trading.live_world import ALICE, LiveWorld, assert_agrees, confirm, monitor, resting
from tests.core.trading.test_trading_service import HOUR, _open_long
from tests.fakes.market import candles_frame

NBSP = "\u00a0"


async def test_tp1_and_tp2_in_one_look_are_one_close(live: LiveWorld) -> None:
    p = (await confirm(live)).position
    live.set_price("BTC/USDT", 63_000)  # through TP1 (61,800) and TP2 (63,000) at once
    await monitor(live)
    done = await live.positions.get(p.id)
    assert done is not None and done.status is PositionStatus.CLOSED and done.exit_reason is ExitReason.TP2
    assert resting(live) == {}
    assert await live.kinds(ALICE) == ["signal", "filled", "closed"]  # no "tp1" notice of its own
    items = await live.outbox.due(live.clock.now().replace(year=2100), 1000)
    closed = next(i for i in items if i.user_id == ALICE and i.kind == "closed")
    (taken,) = closed.payload["taken"]
    assert taken["reason"] == "tp1" and taken["quantity"] == pytest.approx(0.0208)
    assert taken["price"] == pytest.approx(61_800.0)
    event = from_payload(closed.kind, closed.payload)
    figures = Figures(live.market.precision)
    english, russian = event_text("en", event, figures), event_text("ru", event, figures)
    assert "closed: TP1 and TP2 at once." in english
    assert "TP1 took 0.02080 @ 61,800.00, TP2 closed the rest; average exit 62,400.14." in english
    assert "закрыта: TP1 и TP2 сразу." in russian
    assert f"TP1 закрыл 0,02080 @ 61{NBSP}800,00, TP2 закрыл остаток; средняя цена выхода 62{NBSP}400,14." in russian
    await assert_agrees(live)


async def test_a_paper_tp1_that_takes_the_whole_position_is_its_close(world: World) -> None:
    """A playbook whose TP1 takes everything (tp1_fraction 1): the user is told it closed, with
    its P&L, not "stop moved ...; 0 still open" (and the position has its exit price and reason).
    10 @ 110: gross 100, fee 1.10; with the entry's 1.00, net +97.90 on 1,000.00."""
    rules = ManagementRules(tp1_fraction=1.0, breakeven_after_tp1=False, trail_atr_multiplier=0.0)
    manager = PaperPositions(
        clock=world.clock, exchange=world.exchange, orders=world.orders, positions=world.positions, rules=rules
    )
    position = await world.positions.get(await _open_long(world))
    assert position is not None
    assert await manager.follow(position, candles_frame(T0, [(100, 111, 99, 108)], HOUR))
    done = await world.positions.get(position.id)
    assert done is not None and done.status is PositionStatus.CLOSED
    assert (done.exit_price, done.exit_reason) == (110.0, ExitReason.TP1)
    items = [i for i in await world.outbox.due(T0 + 2 * HOUR, 100) if i.user_id == 10]
    assert [i.kind for i in items if i.kind in ("tp1", "closed")] == ["closed"]
    closed = next(i for i in items if i.kind == "closed")
    assert closed.payload["pnl"] == pytest.approx(97.9) and closed.payload["reason"] == "tp1"

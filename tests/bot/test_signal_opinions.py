"""The ML filters' say goes with the signal to the user's card (issue 11)."""

from __future__ import annotations

import dataclasses

from bot.figures import PLAIN
from bot.render import signal_text
from core.events import SignalIssued, from_payload
from core.ports import Candidate, ModelOpinion
from core.signals.engine import keep_passed
from tests.conftest import World
from tests.core.trading.test_trading_service import draft


class _Model:
    name = "m"

    def assess(self, candidates: list[Candidate]) -> list[ModelOpinion]:
        return [ModelOpinion(True, "ml_price_agrees"), ModelOpinion(False, "ml_price_against")]


def test_a_passing_opinion_is_kept_on_the_candidate() -> None:
    base = Candidate("BTC/USDT", "1h", draft().side, None, draft().levels, None, 0.5)  # type: ignore[arg-type]
    other = dataclasses.replace(base, symbol="ETH/USDT")
    kept, rejected = keep_passed(_Model(), [base, other], _Model().assess([base, other]))  # type: ignore[arg-type]
    assert [c.symbol for c in kept] == ["BTC/USDT"] and kept[0].opinions == ("ml_price_agrees",)
    assert rejected == {"ml_price_against": 1}


async def test_the_card_says_what_the_models_said(world: World) -> None:
    await world.trading.register(10, "en")
    signal = dataclasses.replace(draft(), meta={"strategy": "hybrid", "ml": ["ml_success_pass", "ml_price_agrees"]})
    (row,) = await world.trading.publish(signal) or []
    (item,) = [i for i in await world.outbox.due(world.clock.now(), 10) if i.kind == "signal"]
    event = from_payload(item.kind, item.payload)
    assert isinstance(event, SignalIssued)
    assert "ML: the success model passes it, the price model agrees" in signal_text("en", event, PLAIN)
    assert "ML: модель успеха пропускает, ценовая модель согласна" in signal_text("ru", event, PLAIN)
    assert "Why: hybrid" in signal_text("en", event, PLAIN)

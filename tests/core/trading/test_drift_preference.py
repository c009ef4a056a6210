"""A user's own market-entry drift (/settings): stored in their prefs, only the offered
choices, and used by the Confirm instead of MAX_ENTRY_DRIFT_R."""

from __future__ import annotations

import pytest

from core.errors import UserError
from core.prefs import UserPrefs
from core.trading.preferences import apply_change
from tests.conftest import World
from tests.core.trading.test_trading_service import draft


def test_the_drift_choice_is_one_of_the_offered_and_survives_storage() -> None:
    prefs = apply_change(UserPrefs(), "drift", "0.5", ())
    assert prefs.entry_drift_r == 0.5
    assert UserPrefs.from_dict(prefs.to_dict()).entry_drift_r == 0.5
    assert apply_change(prefs, "drift", "default", ()).entry_drift_r is None
    for bad in ("0.3", "1e9", "nan", ""):
        with pytest.raises(UserError):
            apply_change(prefs, "drift", bad, ())
    assert UserPrefs.from_dict({"entry_drift_r": 40}).entry_drift_r is None  # a stored oddity reads as default
    assert UserPrefs.from_dict({}).entry_drift_r is None


async def test_the_confirm_uses_the_users_own_drift(world: World) -> None:
    await world.trading.register(10, "en")
    rows = await world.trading.publish(draft()) or []  # entry 100, stop 90: R = 10
    world.market.prices["BTC/USDT"] = 104.0  # 0.4 R
    with pytest.raises(UserError) as refused:
        await world.trading.confirm(rows[0].id, 10)
    assert refused.value.key == "price_drifted" and refused.value.params["allowed"] == 0.25
    await world.trading.change_prefs(10, "drift", "0.5", ["BTC/USDT"])
    execution = await world.trading.confirm(rows[0].id, 10)
    assert execution.position.entry_price == 104.0
    # 10 units published, scaled to the stop distance 14: 10 x 10 / 14 = 7.142857; risk stays 100
    assert execution.position.quantity == pytest.approx(100.0 / 14.0)

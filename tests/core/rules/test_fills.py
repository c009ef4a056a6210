import pytest

from core.rules.fills import FillModel


def test_market_orders_slip_against_the_trader():
    fills = FillModel(fee_rate=0.001, slippage_pct=0.05)
    assert fills.market_price("buy", 100.0) == pytest.approx(100.05)  # 100 x 1.0005
    assert fills.market_price("sell", 100.0) == pytest.approx(99.95)  # 100 x 0.9995


def test_fee_is_a_rate_of_the_notional():
    assert FillModel(fee_rate=0.001).fee(2.0, 150.0) == pytest.approx(0.3)  # 2 x 150 x 0.001


def test_rejects_an_unknown_side_and_negative_rates():
    with pytest.raises(ValueError):
        FillModel().market_price("long", 100.0)
    with pytest.raises(ValueError):
        FillModel(fee_rate=-0.1)

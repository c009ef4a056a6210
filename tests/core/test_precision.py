"""A market's tick and lot: read from ccxt's market structure, inferred from replayed
history, and applied (prices to the nearest tick, quantities cut down to whole lots).
Expected values worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from core.clock import ManualClock
from core.exchange.replay import ReplayMarketData
from core.precision import (
    MarketPrecision,
    from_ccxt_market,
    inferred_lot,
    inferred_tick,
)

BTC = MarketPrecision(Decimal("0.01"), Decimal("0.00001"))
DATA = Path(__file__).resolve().parents[2] / "data" / "ohlcv"


def test_prices_go_to_the_nearest_tick_and_quantities_down_to_whole_lots() -> None:
    assert str(BTC.price(43210.567)) == "43210.57"
    assert str(BTC.price(43210.564)) == "43210.56"
    assert str(BTC.price(43210.5)) == "43210.50"  # the tick's decimals, always
    assert str(BTC.amount(0.0234567)) == "0.02345"  # 0.02346 would be more than the exchange takes
    assert str(BTC.amount(1.5)) == "1.50000"
    half = MarketPrecision(Decimal("0.5"), Decimal("1"))
    assert str(half.price(10.3)) == "10.5" and str(half.price(10.2)) == "10.0" and str(half.amount(7.9)) == "7"


def test_ccxt_markets_in_tick_size_and_decimal_places_modes() -> None:
    binance = {"precision": {"price": 0.0001, "amount": 0.1}}  # ccxt's binance: precisionMode TICK_SIZE (4)
    assert from_ccxt_market(binance) == MarketPrecision(Decimal("0.0001"), Decimal("0.1"))
    places = {"precision": {"price": 2, "amount": 0}}  # DECIMAL_PLACES (2): counts of decimals
    assert from_ccxt_market(places, mode=2) == MarketPrecision(Decimal("0.01"), Decimal("1"))
    assert from_ccxt_market({"precision": {"price": 5, "amount": 8}}, mode=3) is None  # significant digits
    assert from_ccxt_market({"precision": {"price": None, "amount": 0.1}}) is None


def test_the_tick_is_the_step_most_recorded_prices_lie_on() -> None:
    # 4220.0 has 0 decimals, three have 1, one is an averaged print with 8: 4 of 5 (80 %) on 0.1
    assert inferred_tick([4220.0, 4229.4, 4249.8, 4220.2, 4229.41700493]) == Decimal("0.1")
    assert inferred_tick([0.19995, 0.2022, 0.1996, 0.20145]) == Decimal("0.00001")
    assert inferred_tick([float("nan")]) is None


def test_the_lot_is_the_largest_power_of_ten_worth_at_most_one_quote_unit() -> None:
    assert inferred_lot(7000.0) == Decimal("0.0001")  # 0.0001 x 7000 = 0.7; 0.001 x 7000 = 7
    assert inferred_lot(3000.0) == Decimal("0.0001")  # 0.3
    assert inferred_lot(1000.0) == Decimal("0.001")  # exactly 1
    assert inferred_lot(0.4) == Decimal("1")


def test_replay_infers_the_shipped_files_precision() -> None:
    """The shipped candles quote five significant digits: BTC/USD at 3,000-20,000 on 0.1,
    XRP/USD at 0.2-3 on 0.00001 (counted by hand on the files' first rows)."""
    replay = ReplayMarketData(DATA, ManualClock(datetime(2019, 1, 1, tzinfo=UTC)), ["BTC/USD", "XRP/USD"], "1h")
    btc, xrp = replay.precision("BTC/USD"), replay.precision("XRP/USD")
    assert btc is not None and btc.tick == Decimal("0.1") and btc.source == "inferred"
    assert xrp is not None and xrp.tick == Decimal("0.00001") and xrp.lot == Decimal("1")
    assert replay.precision("DOGE/USD") is None

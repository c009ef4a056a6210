"""Prices on their market's tick and quantities on its lot, in both languages (expected
strings written by hand; English groups with ',' and a decimal point, Russian with a
no-break space and a decimal comma)."""

from __future__ import annotations

from decimal import Decimal

from bot.figures import PLAIN, Figures
from bot.i18n.format import amount, price
from core.precision import MarketPrecision

NBSP = "\u00a0"
BTC = MarketPrecision(Decimal("0.01"), Decimal("0.00001"))  # Binance BTCUSDT
XRP = MarketPrecision(Decimal("0.0001"), Decimal("0.1"))  # a coin quoted on 0.0001
FIGURES = Figures({"BTC/USDT": BTC, "XRP/USDT": XRP}.get)


def test_a_price_has_its_ticks_decimals() -> None:
    assert price(43210.567, "en", BTC) == "43,210.57"
    assert price(43210.567, "ru", BTC) == f"43{NBSP}210,57"
    assert price(100.0, "en", BTC) == "100.00" and price(100.0, "ru", BTC) == "100,00"
    assert price(0.51236, "en", XRP) == "0.5124" and price(0.51236, "ru", XRP) == "0,5124"
    assert price(0.5, "en", XRP) == "0.5000"
    assert price(1234.5, "ru", XRP) == f"1{NBSP}234,5000"


def test_a_quantity_is_cut_to_whole_lots_with_the_lots_decimals() -> None:
    assert amount(0.0234567, "en", BTC) == "0.02345" and amount(0.0234567, "ru", BTC) == "0,02345"
    assert amount(10.0, "en", BTC) == "10.00000"
    assert amount(1234.56, "en", XRP) == "1,234.5" and amount(1234.56, "ru", XRP) == f"1{NBSP}234,5"


def test_figures_look_the_market_up_by_symbol() -> None:
    assert FIGURES.price("BTC/USDT", 43210.567, "en") == "43,210.57"
    assert FIGURES.quantity("BTC/USDT", 0.0234567, "ru") == "0,02345"
    assert FIGURES.price("XRP/USDT", 0.51236, "en") == "0.5124"
    # a market of unknown precision keeps the significant digits it needs
    assert FIGURES.price("DOGE/USDT", 0.123456789, "en") == "0.123457"
    assert PLAIN.quantity("BTC/USDT", 0.0234567, "en") == "0.0234567"
    assert FIGURES.price("BTC/USDT", None, "en") == "—"


def test_holdings_cash_as_money_coins_as_the_account_holds_them() -> None:
    assert FIGURES.holding("USDT", 8223.42081405, "en") == "8,223.42"
    assert FIGURES.holding("USDT", 8223.42081405, "ru") == f"8{NBSP}223,42"
    assert FIGURES.holding("BTC", 0.04161834, "en") == "0.04161834"  # dust below the lot stays visible


def test_an_alerts_quantities_are_on_the_lot_and_its_prices_on_the_tick() -> None:
    """A quantity in an alert is not a price: 0.0208 BTC filled at a 61,800 target reads
    0.02080 (lot 0.00001), not 0.02 (the tick's two decimals)."""
    from bot.render import event_text
    from core.events import Alert

    alert = Alert(1, "live_partial_fill", {"symbol": "BTC/USDT", "id": 7, "quantity": 0.0208, "price": 61_800.0})
    assert "0.02080 filled @ 61,800.00" in event_text("en", alert, FIGURES)
    assert "0,02080" in event_text("ru", alert, FIGURES) and f"61{NBSP}800,00" in event_text("ru", alert, FIGURES)
    short = Alert(1, "holdings_short", {"asset": "BTC", "held": 0.04161834, "expected": 0.05})
    assert "holds 0.04161834, less than the 0.05" in event_text("en", short, FIGURES)

"""Prices and quantities as a market writes them: on its tick and lot (core.precision), in
the user's language (bot.i18n.format). Every price or quantity of a symbol a user reads goes
through a `Figures`; the composition root builds the one of the run from the market data."""

from __future__ import annotations

from collections.abc import Callable

from bot.i18n.format import amount, money, price
from core.precision import MarketPrecision

PrecisionOf = Callable[[str], "MarketPrecision | None"]

#: Currencies written as money (two decimals); coins keep their lot's decimals.
CASH = frozenset({"USDT", "USD", "USDC", "BUSD", "FDUSD", "TUSD", "DAI", "EUR", "RUB"})


class Figures:
    """Formats a symbol's prices on its tick and its quantities on its lot; a symbol whose
    precision is unknown keeps the significant-digit forms of bot.i18n.format."""

    def __init__(self, precision_of: PrecisionOf) -> None:
        self._precision_of = precision_of

    def precision(self, symbol: str) -> MarketPrecision | None:
        return self._precision_of(symbol)

    def price(self, symbol: str, value: float | None, language: str) -> str:
        """43,210.57 / 43 210,57 on a 0.01 tick."""
        return price(value, language, self._precision_of(symbol))

    def quantity(self, symbol: str, value: float, language: str) -> str:
        """0.02345 / 0,02345 on a 0.00001 lot."""
        return amount(value, language, self._precision_of(symbol))

    def holding(self, currency: str, value: float, language: str) -> str:
        """A balance: cash as money (8,223.42); a coin as the account holds it, to the 8
        decimals of the exchange's assets (0.04161834 BTC): an account keeps dust below the lot
        step (a buyer's fee is charged in the coin), and cutting it to the lot would hide it."""
        return money(value, language) if currency.upper() in CASH else amount(value, language)


#: For a renderer with no market behind it (a test of wording alone).
PLAIN = Figures(lambda _symbol: None)

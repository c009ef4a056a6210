"""A market's precision: its tick (the step of its prices) and its lot (the step of its
quantities), as the exchange publishes them, or inferred from replayed history.

Live and exchange market data read them from the exchange's markets (ccxt's
`market["precision"]`, in tick-size mode for Binance: PRICE_FILTER.tickSize and
LOT_SIZE.stepSize). Replayed CSV history carries no market description, so the replay
infers them (see `inferred_precision`) and says so (`source="inferred"`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

#: How many of the recorded prices must lie on the inferred tick: the rest are the noise of
#: resampled or averaged prints (the shipped BTC/USD file has 93 % of its prices on 0.1 and
#: 6 % with eight decimals or more).
TICK_COVERAGE = 0.8
MAX_DECIMALS = 8


def step(value: Any) -> Decimal | None:
    """A positive step as a Decimal (from ccxt's float or string); None if unusable."""
    if value is None or isinstance(value, bool):
        return None
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        return None
    return result if result.is_finite() and result > 0 else None


def decimals_of(value: Decimal) -> int:
    """How many decimals a step has: 0.01 -> 2, 0.00001 -> 5, 0.5 -> 1, 10 -> 0."""
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


@dataclass(frozen=True, slots=True)
class MarketPrecision:
    """The tick and the lot of one market; `source` is "exchange" or "inferred"."""

    tick: Decimal
    lot: Decimal
    source: str = "exchange"

    @property
    def price_decimals(self) -> int:
        return decimals_of(self.tick)

    @property
    def amount_decimals(self) -> int:
        return decimals_of(self.lot)

    def price(self, value: float) -> Decimal:
        """`value` on the nearest tick (how an exchange would quote it)."""
        ticks = (Decimal(repr(value)) / self.tick).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        return (ticks * self.tick).quantize(Decimal(1).scaleb(-self.price_decimals))

    def amount(self, value: float) -> Decimal:
        """`value` cut down to whole lots (what an exchange would take of it)."""
        lots = (Decimal(repr(value)) / self.lot).to_integral_value(rounding=ROUND_DOWN)
        return (lots * self.lot).quantize(Decimal(1).scaleb(-self.amount_decimals))


#: ccxt's precision modes (ccxt.base.decimal_to_precision; core imports no ccxt).
DECIMAL_PLACES, SIGNIFICANT_DIGITS, TICK_SIZE = 2, 3, 4


def _ccxt_step(value: Any, mode: int) -> Decimal | None:
    if mode == TICK_SIZE:
        return step(value)
    if mode != DECIMAL_PLACES or value is None or isinstance(value, bool):
        return None  # significant digits give no fixed step
    try:
        places = float(value)
    except (TypeError, ValueError):
        return None
    return Decimal(1).scaleb(-int(places)) if 0 <= places <= 18 and places == int(places) else None


def from_ccxt_market(market: Mapping[str, Any], mode: int = TICK_SIZE) -> MarketPrecision | None:
    """The precision of a ccxt market structure: in tick-size mode (Binance's) precision.price
    is the tick and precision.amount the lot step; in decimal-places mode they count decimals.
    None when either is missing (or the exchange counts significant digits)."""
    precision = market.get("precision") or {}
    tick, lot = _ccxt_step(precision.get("price"), mode), _ccxt_step(precision.get("amount"), mode)
    if tick is None or lot is None:
        return None
    return MarketPrecision(tick, lot)


def _decimals(value: float) -> int:
    """The decimals of a recorded price as written (repr is the shortest exact form): 4220.0 -> 0."""
    text = repr(float(value))
    if "e" in text or "E" in text:
        return MAX_DECIMALS
    fraction = text.partition(".")[2].rstrip("0")
    return min(len(fraction), MAX_DECIMALS)


def inferred_tick(prices: Iterable[float]) -> Decimal | None:
    """The coarsest power-of-ten step that at least TICK_COVERAGE of `prices` lie on; None
    without a finite price."""
    counts = [0] * (MAX_DECIMALS + 1)
    for value in prices:
        if math.isfinite(value):
            counts[_decimals(value)] += 1
    total = sum(counts)
    if total == 0:
        return None
    covered = 0
    for decimals, count in enumerate(counts):
        covered += count
        if covered >= TICK_COVERAGE * total:
            return Decimal(1).scaleb(-decimals)
    return Decimal(1).scaleb(-MAX_DECIMALS)  # pragma: no cover - the loop covers every count


def inferred_lot(typical_price: float) -> Decimal:
    """The lot step inferred from the price level: the largest power of ten whose value at
    `typical_price` is at most one unit of the quote currency (Binance's steps are of that
    order: 0.00001 BTC at 60,000, 0.0001 ETH at 3,000, 0.1 at a few units)."""
    if not math.isfinite(typical_price) or typical_price <= 0:
        return Decimal(1).scaleb(-MAX_DECIMALS)
    exponent = math.floor(-math.log10(typical_price))
    exponent = min(exponent, 8)
    return Decimal(1).scaleb(max(exponent, -MAX_DECIMALS))


def inferred_precision(prices: Iterable[float], typical_price: float) -> MarketPrecision | None:
    """The tick from the decimals the recorded prices carry, the lot from the price level."""
    tick = inferred_tick(prices)
    if tick is None:
        return None
    return MarketPrecision(tick, inferred_lot(typical_price), source="inferred")

"""The fill model shared by the paper exchange and the backtester: market orders fill at
the reference price moved against the trader by the slippage, limit-type orders
(take-profits) at their price; every fill pays `fee_rate` of its notional."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import ExitReason, Side

#: Exits that are market orders (a stop triggers a market sell); targets are limit-type.
MARKET_EXITS = frozenset(
    {ExitReason.STOP_LOSS, ExitReason.BREAK_EVEN, ExitReason.TRAILING_STOP, ExitReason.END_OF_DATA, ExitReason.MANUAL}
)


@dataclass(frozen=True, slots=True)
class FillModel:
    fee_rate: float = 0.001  # fraction of the notional, per fill
    slippage_pct: float = 0.05  # percent of the price, against the trader, market orders only

    def __post_init__(self) -> None:
        if not 0 <= self.fee_rate < 1 or not 0 <= self.slippage_pct < 100:
            raise ValueError("fee_rate must be in [0, 1) and slippage_pct in [0, 100)")

    def market_price(self, order_side: str, price: float) -> float:
        """Fill price of a market (or stop-market) order: `order_side` is 'buy' or 'sell'."""
        if order_side == "buy":
            return price * (1.0 + self.slippage_pct / 100.0)
        if order_side == "sell":
            return price * (1.0 - self.slippage_pct / 100.0)
        raise ValueError(f"order side must be 'buy' or 'sell', not {order_side!r}")

    def exit_price(self, side: Side, reason: ExitReason, trigger: float) -> float:
        """Fill price of an exit of a `side` position: market exits (stops, closes) at the
        trigger moved against the trader, targets at their price."""
        return self.market_price(side.exit_order_side, trigger) if reason in MARKET_EXITS else trigger

    def fee(self, quantity: float, price: float) -> float:
        """Fee in quote currency for filling `quantity` at `price`."""
        return abs(quantity) * price * self.fee_rate

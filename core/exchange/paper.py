"""Paper trading: simulated fills against the market-data feed, with fees and slippage.

Market orders fill at the latest price, stops at their trigger level, both moved against
the trader by the slippage; take-profits fill at their price (the shared FillModel, as in
the backtester). Protective orders are triggered by the position monitor from candle
highs and lows, which passes the trigger price. The per-user virtual
balance lives in the database (users.paper_balance) and is read through `balances`.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable

from core.errors import InsufficientFunds, OrderRejected
from core.models import Balance, OrderRequest, OrderResult, OrderStatus, OrderType
from core.ports import Clock, MarketData, OnSent, PositionRepository, UserRepository
from core.rules.fills import FillModel

FreeBalance = Callable[[int], Awaitable[tuple[float, float]]]  # user id -> (free, total)


class PaperAccounts:
    """Per-user virtual balances: the total is users.paper_balance, and the entry
    notional of open positions is in use."""

    def __init__(self, users: UserRepository, positions: PositionRepository) -> None:
        self._users = users
        self._positions = positions

    async def free_balance(self, user_id: int) -> tuple[float, float]:
        total = await self._users.balance(user_id) or 0.0
        in_use = sum(p.entry_price * p.quantity for p in await self._positions.open_positions(user_id))
        return total - in_use, total


class PaperExchange:
    name = "paper"

    def __init__(
        self,
        market_data: MarketData,
        clock: Clock,
        balances: FreeBalance,
        fills: FillModel,
        quote_currency: str = "USD",
    ) -> None:
        self._market_data = market_data
        self._clock = clock
        self._balances = balances
        self._fills = fills
        self._quote = quote_currency
        self._orders: dict[str, OrderResult] = {}
        self._ids = itertools.count(1)

    async def create_order(self, request: OrderRequest, on_sent: OnSent | None = None) -> OrderResult:
        known = self._orders.get(request.client_order_id)
        if known is not None:
            return known  # the same intent twice is the same order
        if request.amount <= 0:
            raise OrderRejected("amount must be positive")
        if on_sent is not None:
            await on_sent()
        if request.type is OrderType.MARKET:
            price = self._fills.market_price(request.side, await self._market_data.last_price(request.symbol))
        elif request.price is None:
            raise OrderRejected(f"{request.type} order needs a trigger price in paper mode")
        elif request.type is OrderType.STOP_MARKET:  # triggered at the level, fills as a market order
            price = self._fills.market_price(request.side, request.price)
        else:  # take-profit and limit orders fill at their price
            price = request.price
        fee = self._fills.fee(request.amount, price)
        if not request.reduce_only:
            free, _ = await self._balances(request.user_id)
            if price * request.amount + fee > free:
                raise InsufficientFunds(f"needs {price * request.amount + fee:.2f} {self._quote}, {free:.2f} available")
        result = OrderResult(
            client_order_id=request.client_order_id,
            exchange_order_id=f"paper-{next(self._ids)}",
            status=OrderStatus.FILLED,
            amount=request.amount,
            filled=request.amount,
            average_price=price,
            fee=fee,
            fee_currency=self._quote,
            timestamp=self._clock.now(),
        )
        self._orders[request.client_order_id] = result
        return result

    async def fetch_order(self, request: OrderRequest) -> OrderResult | None:
        return self._orders.get(request.client_order_id)

    async def cancel_order(self, request: OrderRequest) -> OrderResult:
        known = self._orders.get(request.client_order_id)
        if known is None:
            raise OrderRejected("unknown order")
        return known  # paper orders fill at once: nothing is left to cancel

    async def fetch_balance(self, user_id: int, currency: str) -> Balance:
        free, total = await self._balances(user_id)
        return Balance(currency=currency, free=free, total=total)

"""What live positions need of the exchange and of the key store, beyond core.ports."""

from __future__ import annotations

from typing import Protocol

from core.models import Balance, OrderRequest, OrderResult, ProtectiveOrders
from core.ports import Exchange, OnSent


class LiveExchange(Exchange, Protocol):
    """What live positions need of the exchange beyond the Exchange port."""

    async def create_protective_oco(
        self,
        stop: OrderRequest,
        take_profit: OrderRequest,
        list_client_order_id: str | None = None,
        current_price: float | None = None,
        on_sent: OnSent | None = None,
    ) -> ProtectiveOrders: ...

    async def fetch_open_orders(self, user_id: int, symbol: str) -> list[OrderResult]: ...

    async def fetch_balances(self, user_id: int) -> list[Balance]: ...

    async def tradable_amount(self, symbol: str, amount: float, price: float) -> float: ...

    async def last_price(self, symbol: str) -> float: ...


class OrderStream(Protocol):
    """An account's user-data stream (issue 12): order updates as the exchange reports them,
    at no request weight. REST stays the truth; an update only says where to look first."""

    async def open_stream(self, user_id: int) -> None:
        """Connect and subscribe; returns once the exchange has confirmed the subscription
        (updates from then on are kept for `watch_orders`). Raises as watch_orders does."""
        ...

    async def watch_orders(self, user_id: int) -> list[OrderResult]:
        """Wait for the next order updates of this user's account, all symbols, each
        normalised as fetch_order normalises it. Raises core.errors' exchange errors
        (transient or permanent, as ccxt_errors maps them) when the stream fails."""
        ...

    async def close_stream(self, user_id: int) -> None:
        """Close this user's stream (after a disconnect, or when the account goes)."""
        ...


class Keyring(Protocol):
    async def has(self, user_id: int) -> bool: ...

"""Users' trading accounts: /connect, /disconnect, /balance.

Paper mode: the account is the virtual balance, nothing to connect. Live mode: each user
links their own exchange account with an API key and secret, checked with a balance call
before it is stored (encrypted, by the KeyStore). Chosen once, in the composition root.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from core.errors import AuthenticationFailed, UserError
from core.models import Balance
from core.ports import PositionRepository, UserRepository

# Printable ASCII without spaces; Binance keys are 64 letters and digits.
_KEY_SHAPE = re.compile(r"^[\x21-\x7e]{8,256}$")


@dataclass(frozen=True, slots=True)
class AccountView:
    """What /balance shows: where the money is and how much of each currency."""

    mode: str  # "paper" or "live"
    exchange: str
    balances: list[Balance]


class AccountService(Protocol):
    async def connect(self, user_id: int, exchange: str, api_key: str, secret: str) -> AccountView: ...

    async def disconnect(self, user_id: int) -> int:
        """Forget the user's key; returns how many positions are still open."""

    async def balance(self, user_id: int) -> AccountView: ...


class KeyStore(Protocol):
    async def save(self, user_id: int, api_key: str, secret: str) -> None: ...

    async def delete(self, user_id: int) -> bool: ...

    async def has(self, user_id: int) -> bool: ...


class AccountExchange(Protocol):
    async def check_credentials(self, api_key: str, secret: str) -> list[Balance]: ...

    async def fetch_balances(self, user_id: int) -> list[Balance]: ...


class PaperAccountService:
    """Paper mode: the virtual balance; there is nothing to connect."""

    def __init__(self, users: UserRepository, positions: PositionRepository, quote: str) -> None:
        self._users = users
        self._positions = positions
        self._quote = quote

    async def connect(self, user_id: int, exchange: str, api_key: str, secret: str) -> AccountView:
        raise UserError("connect_paper_mode")

    async def disconnect(self, user_id: int) -> int:
        raise UserError("connect_paper_mode")

    async def balance(self, user_id: int) -> AccountView:
        total = await self._users.balance(user_id)
        if total is None:
            raise UserError("not_registered")
        in_use = sum(p.entry_price * p.quantity for p in await self._positions.open_positions(user_id))
        return AccountView("paper", "paper", [Balance(self._quote, total - in_use, total)])


class ExchangeAccountService:
    """Live mode: each user's own account on the exchange."""

    def __init__(
        self,
        *,
        exchange_id: str,
        quote: str,
        exchange: AccountExchange,
        keys: KeyStore,
        users: UserRepository,
        positions: PositionRepository,
        forget_client: Callable[[int], Awaitable[None]],
    ) -> None:
        """`forget_client`: drop the user's cached exchange client (their keys changed)."""
        self._exchange_id = exchange_id
        self._quote = quote
        self._exchange = exchange
        self._keys = keys
        self._users = users
        self._positions = positions
        self._forget = forget_client

    async def connect(self, user_id: int, exchange: str, api_key: str, secret: str) -> AccountView:
        """Check the key with a balance call, then store it encrypted. Nothing is stored
        when the exchange refuses it."""
        if await self._users.get(user_id) is None:
            raise UserError("not_registered")
        if exchange.strip().lower() != self._exchange_id:
            raise UserError("connect_wrong_exchange", exchange=self._exchange_id)
        if not (_KEY_SHAPE.match(api_key) and _KEY_SHAPE.match(secret)):
            raise UserError("connect_usage", exchange=self._exchange_id)
        try:
            balances = await self._exchange.check_credentials(api_key, secret)
        except AuthenticationFailed:
            raise UserError("connect_rejected") from None  # the exchange's text could quote the request
        await self._keys.save(user_id, api_key, secret)
        await self._forget(user_id)
        await self._users.reset_marks(user_id)  # a new account: its peak and day start are its own
        await self._users.set_balance(user_id, await self._account_balance(user_id, balances))
        return AccountView("live", self._exchange_id, balances)

    async def disconnect(self, user_id: int) -> int:
        if not await self._keys.delete(user_id):
            raise UserError("not_connected")
        await self._forget(user_id)
        return len(await self._positions.open_positions(user_id))

    async def balance(self, user_id: int) -> AccountView:
        if not await self._keys.has(user_id):
            raise UserError("live_connect_first")
        balances = await self._exchange.fetch_balances(user_id)
        await self._users.record_balance(user_id, await self._account_balance(user_id, balances))
        return AccountView("live", self._exchange_id, balances)

    async def _account_balance(self, user_id: int, balances: list[Balance]) -> float:
        quote = next((b.total for b in balances if b.currency == self._quote), 0.0)
        return await live_balance(self._positions, user_id, quote)


async def live_balance(positions: PositionRepository, user_id: int, quote_total: float) -> float:
    """The balance a live user's signals are sized from and the risk limits measure: the
    account's quote currency (free and locked) as just read, plus the cost of the open
    positions (bought with that currency), the same convention as paper balances."""
    at_cost = sum(p.entry_price * p.quantity for p in await positions.open_positions(user_id))
    return quote_total + at_cost

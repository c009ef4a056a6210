"""ccxt's answers as the project's errors: the error classes the adapter adds to
core.errors, the HTTP answer captured per call (status, headers, body), and the mapping of
ccxt's exceptions onto core.errors (retryable or final)."""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass, field

import ccxt

from core.errors import (
    AuthenticationFailed,
    ExchangeError,
    ExchangeUnavailable,
    FinalExchangeError,
    InsufficientFunds,
    OrderRejected,
    RateLimited,
    UnknownSymbol,
)
from core.exchange.ccxt_config import ExchangeProfile


class MissingCredentials(AuthenticationFailed):
    """The user has no API key for this exchange: nothing was sent."""

    def __init__(self, user_id: int) -> None:
        super().__init__(f"user {user_id} has no API credentials for this exchange")
        self.user_id = user_id


class OrderNotFound(FinalExchangeError):
    """The exchange does not know this order (Binance -2013 / -2011)."""


class DuplicateClientOrderId(OrderRejected):
    """The exchange already has an open order with this client order id (Binance -2010)."""


@dataclass(slots=True)
class ResponseNote:
    """The HTTP answer to one gateway call, captured for Retry-After and usage headers."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def header_int(self, name: str) -> int | None:
        value = self.header(name)
        return int(value) if value is not None and value.strip().isdigit() else None

    def retry_after(self) -> float | None:
        value = self.header("retry-after")
        try:
            return float(value) if value is not None else None
        except ValueError:  # an HTTP date: rare enough to fall back to the default pause
            return None

    def error_code(self) -> int | None:
        try:
            payload = json.loads(self.body) if self.body else None
        except ValueError:
            return None
        code = payload.get("code") if isinstance(payload, dict) else None
        return code if isinstance(code, int) else None


# The current call's note. A context variable, because one ccxt client serves many
# concurrent calls and `last_response_headers` would mix them up.
RESPONSE: ContextVar[ResponseNote | None] = ContextVar("atra_ccxt_response", default=None)


def map_error(exc: ccxt.BaseError, note: ResponseNote, profile: ExchangeProfile) -> ExchangeError:
    """ccxt's exception as one of the project's, keeping ccxt's text."""
    text = f"{type(exc).__name__}: {exc}"
    code = note.error_code()
    if code in profile.auth_error_codes or isinstance(exc, ccxt.AuthenticationError):
        # ccxt raises DDoSProtection for -2015 once a client has authenticated before
        return AuthenticationFailed(text)
    if isinstance(exc, ccxt.DDoSProtection) or note.status in (418, 429):
        return RateLimited(text, retry_after=note.retry_after())
    if isinstance(exc, (ccxt.NetworkError, ccxt.OperationFailed)):
        return ExchangeUnavailable(text)
    if isinstance(exc, ccxt.InsufficientFunds):
        return InsufficientFunds(text)
    if isinstance(exc, ccxt.BadSymbol):
        return UnknownSymbol(text)
    if isinstance(exc, ccxt.OrderNotFound):
        return OrderNotFound(text)
    if isinstance(exc, ccxt.InvalidOrder) and profile.duplicate_order_message in str(exc):
        return DuplicateClientOrderId(text)
    if isinstance(
        exc,
        (
            ccxt.InvalidOrder,
            ccxt.BadRequest,
            ccxt.OperationRejected,
            ccxt.NotSupported,
            ccxt.ArgumentsRequired,
        ),
    ):
        return OrderRejected(text)
    # An unclassified answer: treat as transient, so an order's fate is looked up.
    return ExchangeUnavailable(text)

"""The project's exception hierarchy. Few classes, caught in few places.

`UserError` carries a message key of the bot's catalogue and its parameters, so core
stays free of any language: the bot renders it in the user's own language.
"""

from __future__ import annotations

from typing import Any


class AtraError(Exception):
    """Base of every error the project raises on purpose."""


class ConfigError(AtraError):
    """A setting is missing or malformed: fatal at start."""


class UserError(AtraError):
    """A refusal to show the user: `key` names a catalogue message."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params

    def __repr__(self) -> str:
        return f"UserError({self.key!r}, {self.params!r})"


class ExchangeError(AtraError):
    """Anything that went wrong talking to an exchange."""


class RetryableExchangeError(ExchangeError):
    """Transient: the same idempotent call may succeed later."""


class ExchangeUnavailable(RetryableExchangeError):
    """Network error, timeout, 5xx, maintenance."""


class OrderOutcomeUnknown(ExchangeUnavailable):
    """The send failed and the lookups failed too: the order may or may not exist.

    Keep it as submitting and resolve it with `fetch_order` later; never resend it blindly.
    """

    def __init__(self, client_order_id: str, cause: str) -> None:
        super().__init__(f"order {client_order_id}: outcome unknown ({cause})")
        self.client_order_id = client_order_id


class RateLimited(RetryableExchangeError):
    """429/418 or the exchange's own rate-limit error."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class FinalExchangeError(ExchangeError):
    """The exchange said no: sending it again will not help."""


class OrderRejected(FinalExchangeError):
    """Invalid order: precision, limits, bad symbol, wrong parameters."""


class InsufficientFunds(FinalExchangeError):
    pass


class AuthenticationFailed(FinalExchangeError):
    pass


class UnknownSymbol(FinalExchangeError):
    pass

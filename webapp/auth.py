"""Telegram Mini App sign-in: verify `initData` exactly as Telegram documents it.

Telegram opens the Mini App with `initData`, a query string it signs with the bot's token:
`hash` is the hex HMAC-SHA-256 of the data-check-string (every other field as `key=value`,
URL-decoded, sorted by key, joined by line feeds) under the secret key
HMAC-SHA-256(key="WebAppData", msg=bot_token). Nobody without the token can make one, so
a valid `initData` proves who the user is; `auth_date` bounds how long it is accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl

#: How long a signed initData is accepted after Telegram issued it.
MAX_AGE = timedelta(days=1)
#: Telegram's clocks and ours may differ a little; an auth_date further ahead is refused.
FUTURE_SKEW = timedelta(minutes=5)
MAX_INIT_DATA = 8192


class AuthError(Exception):
    """initData is missing, malformed, forged or too old. `reason` is a short code."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class InitData:
    """The verified fields the dashboard uses."""

    user_id: int
    language_code: str | None
    auth_date: datetime
    hash: str
    first_name: str = ""


def secret_key(bot_token: str) -> bytes:
    return hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()


def _fields(raw: str) -> dict[str, str]:
    if not raw or len(raw) > MAX_INIT_DATA:
        raise AuthError("missing" if not raw else "too_long")
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise AuthError("malformed") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise AuthError("malformed")  # a repeated key: which one was signed?
    return fields


def verify_init_data(raw: str, bot_token: str, now: datetime, max_age: timedelta = MAX_AGE) -> InitData:
    """The verified user of `raw`, or AuthError. The signature is checked before any
    field is trusted; the comparison takes constant time."""
    fields = _fields(raw)
    received = fields.pop("hash", "")
    if not received:
        raise AuthError("unsigned")
    check = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
    expected = hmac.new(secret_key(bot_token), check.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, received.lower()):
        raise AuthError("bad_signature")
    try:
        auth_date = datetime.fromtimestamp(int(fields["auth_date"]), tz=now.tzinfo)
        user = json.loads(fields["user"])
        user_id = int(user["id"])
    except (KeyError, ValueError, TypeError):
        raise AuthError("malformed") from None
    if auth_date > now + FUTURE_SKEW:
        raise AuthError("from_the_future")
    if now - auth_date > max_age:
        raise AuthError("expired")
    language = user.get("language_code")
    return InitData(
        user_id=user_id,
        language_code=language if isinstance(language, str) else None,
        auth_date=auth_date,
        hash=received.lower(),
        first_name=str(user.get("first_name") or "")[:64],
    )

"""initData verification against Telegram's documented algorithm. The signed strings are
made in tests/webapp/signing.py with hmac/hashlib, independently of webapp.auth."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote, urlencode

import pytest

from tests.webapp.signing import sign_init_data
from webapp.auth import AuthError, verify_init_data

TOKEN = "123456789:AAFakeTokenForOfflineTests_abcdefghij"
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)


def at(moment: datetime) -> float:
    return moment.timestamp()


def reason(raw: str, token: str = TOKEN, now: datetime = NOW) -> str:
    with pytest.raises(AuthError) as error:
        verify_init_data(raw, token, now)
    return error.value.reason


def test_a_hand_computed_vector() -> None:
    # The data-check-string and both HMACs, written out step by step as Telegram's docs say.
    user = '{"id":42,"first_name":"Ann","language_code":"ru"}'
    fields = {"auth_date": str(int(at(NOW - timedelta(hours=1)))), "query_id": "AAHq", "user": user}
    check = f"auth_date={fields['auth_date']}\nquery_id=AAHq\nuser={user}"
    secret = hmac.new(b"WebAppData", TOKEN.encode(), hashlib.sha256).digest()
    digest = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    raw = urlencode({**fields, "hash": digest}, quote_via=quote)
    verified = verify_init_data(raw, TOKEN, NOW)
    assert verified.user_id == 42 and verified.language_code == "ru" and verified.first_name == "Ann"
    assert verified.hash == digest and verified.auth_date == NOW - timedelta(hours=1)


def test_fields_telegram_adds_are_signed_too() -> None:
    raw = sign_init_data(TOKEN, 7, auth_date=at(NOW), extra={"chat_type": "private", "signature": "abc-_"})
    assert verify_init_data(raw, TOKEN, NOW).user_id == 7


def test_forged_hash_is_refused() -> None:
    raw = sign_init_data(TOKEN, 7, auth_date=at(NOW))
    fields = dict(parse_qsl(raw))
    fields["hash"] = "0" * 64
    assert reason(urlencode(fields)) == "bad_signature"


def test_another_user_id_with_the_old_hash_is_refused() -> None:
    raw = sign_init_data(TOKEN, 7, auth_date=at(NOW))
    forged = raw.replace("%22id%22%3A7%2C", "%22id%22%3A8%2C")
    assert forged != raw
    assert reason(forged) == "bad_signature"


def test_signed_with_another_bot_token_is_refused() -> None:
    raw = sign_init_data("987654321:AAnotherBotsTokenXXXXXXXXXXXXXXXXX", 7, auth_date=at(NOW))
    assert reason(raw) == "bad_signature"


def test_older_than_a_day_is_refused_and_just_under_is_accepted() -> None:
    assert reason(sign_init_data(TOKEN, 7, auth_date=at(NOW - timedelta(days=1, seconds=1)))) == "expired"
    assert verify_init_data(sign_init_data(TOKEN, 7, auth_date=at(NOW - timedelta(hours=23, minutes=59))), TOKEN, NOW)


def test_from_the_future_is_refused() -> None:
    assert reason(sign_init_data(TOKEN, 7, auth_date=at(NOW + timedelta(hours=1)))) == "from_the_future"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", "missing"),
        ("user=%7B%7D&auth_date=1", "unsigned"),
        ("a=1&a=2&hash=00", "malformed"),
        ("not a query", "malformed"),
        ("x" * 9000, "too_long"),
    ],
)
def test_malformed_input_gets_a_reason(raw: str, expected: str) -> None:
    assert reason(raw) == expected


def test_a_signed_string_without_a_user_is_refused() -> None:
    fields = {"auth_date": str(int(at(NOW))), "query_id": "AAHq"}
    check = "\n".join(f"{k}={fields[k]}" for k in sorted(fields))
    secret = hmac.new(b"WebAppData", TOKEN.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    assert reason(urlencode(fields)) == "malformed"

"""The catalogue is complete in both languages; rendering formats and splits safely."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.i18n import CATALOGUE, LANGUAGES, language_for, placeholders, t
from bot.render import MAX_MESSAGE, amount, price, signal_text, split_message
from core.events import SignalIssued


@pytest.mark.parametrize("key", sorted(CATALOGUE))
def test_every_message_in_every_language_with_same_placeholders(key: str) -> None:
    entry = CATALOGUE[key]
    assert set(entry) == set(LANGUAGES)
    assert all(entry[lang].strip() for lang in LANGUAGES)
    assert placeholders(entry["en"]) == placeholders(entry["ru"])


def test_language_from_telegram_code() -> None:
    assert language_for("ru") == "ru"
    assert language_for("ru-RU") == "ru"
    assert language_for("de") == "en"
    assert language_for(None) == "en"


def test_parameters_are_escaped() -> None:
    text = t("en", "bad_side", value="<b>x</b>&")
    assert "&lt;b&gt;x&lt;/b&gt;&amp;" in text and "<b>x" not in text


def test_price_and_amount_formats() -> None:
    assert price(63250.5) == "63 250.50"
    assert price(1.23456) == "1.23456"
    assert price(0.52825) == "0.52825"
    assert price(0.000123456) == "0.000123456"
    assert price(100.1234567) == "100.123"
    assert price(90.0) == "90"
    assert amount(0.12500000) == "0.125"
    assert amount(25.0) == "25"


def test_signal_message_shows_every_level() -> None:
    event = SignalIssued(
        user_id=1,
        user_signal_id=7,
        symbol="BTC/USDT",
        timeframe="1h",
        side="long",
        entry=100.0,
        stop=90.0,
        tp1=110.0,
        tp2=120.0,
        quantity=10.0,
        expires_at=datetime(2024, 1, 1, 13, tzinfo=UTC),
        source="engine",
        strength=1.0,
        regime=None,
    )
    text = signal_text("ru", event)
    for fragment in ("BTC/USDT", "ЛОНГ", "100", "90", "110", "120", "10.00%", "10", "2024-01-01 13:00"):
        assert fragment in text


def test_split_keeps_entries_whole_and_under_the_limit() -> None:
    entries = [f"entry {i} " + "x" * 300 for i in range(40)]
    messages = split_message("header", entries)
    assert len(messages) > 1
    assert all(len(m) <= MAX_MESSAGE for m in messages)
    joined = "\n\n".join(messages)
    assert all(e in joined for e in entries)
    assert messages[0].startswith("header")
    huge = split_message("h", ["y" * 10_000])
    assert all(len(m) <= MAX_MESSAGE for m in huge)

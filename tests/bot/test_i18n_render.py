"""Messages are escaped, rendered in the user's language and split safely (the catalogue's
completeness: test_i18n_catalogue.py; number formats: test_i18n_format.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.figures import PLAIN
from bot.i18n import language_for, t
from bot.render import MAX_MESSAGE, signal_text, split_message
from core.events import SignalIssued


def test_language_from_telegram_code() -> None:
    assert language_for("ru") == "ru"
    assert language_for("ru-RU") == "ru"
    assert language_for("de") == "en"
    assert language_for(None) == "en"


def test_parameters_are_escaped() -> None:
    text = t("en", "bad_side", value="<b>x</b>&")
    assert "&lt;b&gt;x&lt;/b&gt;&amp;" in text and "<b>x" not in text


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
    russian = signal_text("ru", event, PLAIN)
    for fragment in ("BTC/USDT", "ЛОНГ", "Вход: <b>100</b>", "Стоп-лосс: 90 (10,00% от входа)", "TP1: 110", "TP2: 120"):
        assert fragment in russian
    # 10 units at 100 = 1 000 in the quote currency; valid until 13:00 on 1 January 2024
    assert "Размер позиции: 10 (≈ 1\u00a0000,00)" in russian and "Действует до 01.01.2024 13:00 UTC" in russian
    english = signal_text("en", event, PLAIN)
    assert "Stop-loss: 90 (10.00% from the entry)" in english and "Size: 10 (≈ 1,000.00)" in english
    assert "Valid until 2024-01-01 13:00 UTC" in english


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


def test_balance_is_written_like_every_other_amount() -> None:
    from bot.render import balance_text
    from core.models import Balance
    from core.trading.accounts import AccountView

    view = AccountView("live", "binance", [Balance("USDT", 8223.42081405, 8300.0), Balance("BTC", 0.00123456, 0.5)])
    english, russian = balance_text("en", view, PLAIN), balance_text("ru", view, PLAIN)
    # Cash to the cent, grouped; a coin to its 8 decimals, trailing zeros dropped.
    assert "USDT: 8,223.42 free · 8,300.00 total" in english and "BTC: 0.00123456 free · 0.5 total" in english
    assert "USDT: 8\u00a0223,42 свободно · 8\u00a0300,00 всего" in russian and "BTC: 0,00123456 свободно" in russian
    assert "8223.42081405" not in english

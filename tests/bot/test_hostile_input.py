"""Hostile input over the wire (issue 15, items 8 and 9): buttons with Unicode digits, admin
numbers in exponent, Unicode or underscore form, absurd limits and levels far from the
market. Each gets a short answer and changes nothing; nothing is logged as an error."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from bot.i18n import t
from core.models import Limits
from core.trading.admin import LIMIT_RANGES, parse_decimal
from tests.bot.harness import ADMIN, ALICE, RunningBot
from tests.bot.test_flow import subscribe

STALE = t("en", "button_stale", escape=False)


@pytest.mark.parametrize(
    "data",
    ["sig:c:²", "sig:s:٣", "sig:l:²", "sig:x:1_0", "sig:l:", "pos:c:５", "pos:y:¹²", "hist:²", "hist:٣", "sig:c:1_0"],
)
async def test_buttons_with_unicode_digits_are_stale_not_errors(
    bot: RunningBot, caplog: pytest.LogCaptureFixture, data: str
) -> None:
    await subscribe(bot, ALICE)
    query = bot.fake.inject_callback(ALICE, data, strict=False)
    await bot.fake.wait_for(lambda: bot.fake.answers.get(query))
    assert bot.fake.answers[query]["text"] == STALE[:200]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize(
    ("command", "answer"),
    [
        ("/signal BTC/USDT long sl=1e-300 tp=1e300", "not a valid price"),
        ("/signal BTC/USDT long sl=inf tp=110", "not a valid price"),
        ("/signal BTC/USDT long sl=٩٠ tp=١١٠", "not a valid price"),
        ("/signal BTC/USDT long sl=９０ tp=110", "not a valid price"),
        ("/signal BTC/USDT long sl=9_0 tp=110", "not a valid price"),
        ("/signal BTC/USDT long sl=0.0001 tp=110", "too far from the price"),  # 99.99 % below
        ("/signal BTC/USDT long sl=90 tp=1000000", "too far from the price"),
        ("/signal BTC/USDT long sl=99.99999 tp=110", "too close"),  # a stop 0.00001 % away
    ],
)
async def test_manual_signals_need_plain_prices_near_the_market(bot: RunningBot, command: str, answer: str) -> None:
    await subscribe(bot, ALICE)
    assert answer in await bot.reply_to(ADMIN, command)
    assert await bot.services.trading.active_signals(ALICE) == []


async def test_a_sane_manual_signal_still_goes_out(bot: RunningBot) -> None:
    await subscribe(bot, ALICE)
    assert "published" in (await bot.reply_to(ADMIN, "/signal BTC/USDT long sl=90,5 tp=110,120")).lower()
    (active,) = await bot.services.trading.active_signals(ALICE)
    assert active.levels.stop == 90.5


@pytest.mark.parametrize(
    ("name", "value", "answer"),
    [
        ("risk_per_trade_pct", "1e-300", "not a valid number"),
        ("max_drawdown_pct", "1e-320", "not a valid number"),
        ("max_drawdown_pct", "0.00001", "must be 0.1…100"),
        ("risk_per_trade_pct", "0.001", "must be 0.01…10"),
        ("risk_per_trade_pct", "50", "must be 0.01…10"),
        ("max_open_positions", "٣", "not a valid whole number"),
        ("max_open_positions", "５", "not a valid whole number"),
        ("max_open_positions", "1_0", "not a valid whole number"),
        ("max_open_positions", "101", "must be 0…100"),
        ("kelly_min_trades", "0", "must be 1…10000"),
        ("max_correlation", "nan", "not a valid number"),
    ],
)
async def test_every_limit_is_bounded_and_ascii(bot: RunningBot, name: str, value: str, answer: str) -> None:
    before = await bot.services.admin.limits()
    assert answer in await bot.reply_to(ADMIN, f"/setlimit {name} {value}")
    assert await bot.services.admin.limits() == before


def test_every_limit_has_a_range_that_holds_its_default() -> None:
    defaults = Limits()
    for field in dataclasses.fields(Limits):
        low, high = LIMIT_RANGES[field.name]
        assert low <= getattr(defaults, field.name) <= high, field.name


def test_decimals_are_ascii_digits_only() -> None:
    assert parse_decimal("0.5") == parse_decimal("0,5") == 0.5 and parse_decimal("-2") == -2.0
    for text in ("٣", "５", "1e5", "1_000", "inf", "nan", " 1", "+1", "", "1.", ".5", "0x10"):
        assert parse_decimal(text) is None, text

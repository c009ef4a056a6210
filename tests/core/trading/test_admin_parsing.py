"""Admin input validation: limits and manual signals."""

from __future__ import annotations

import pytest

from bot.handlers.admin import parse_signal_args
from core.errors import UserError
from core.models import Side
from core.trading.admin import parse_limit


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("max_open_positions", "5", 5),
        ("max_open_positions", "0", 0),
        ("risk_per_trade_pct", "1.5", 1.5),
        ("risk_per_trade_pct", "2,5", 2.5),
        ("max_correlation", "0", 0.0),
        ("probation_min_r", "-0,5", -0.5),  # an average R may be below zero
        ("probation_hold", "1", 1),
        ("probation_trades", "0", 0),  # probation off
    ],
)
def test_valid_limits(name: str, raw: str, expected: float) -> None:
    value = parse_limit(name, raw)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("name", "raw", "key"),
    [
        ("max_open_positions", "abc", "limit_not_number"),
        ("max_open_positions", "2.5", "limit_not_number"),
        ("max_open_positions", "-1", "limit_out_of_range"),
        ("risk_per_trade_pct", "-0.5", "limit_out_of_range"),
        ("risk_per_trade_pct", "0", "limit_out_of_range"),
        ("risk_per_trade_pct", "150", "limit_out_of_range"),
        ("risk_per_trade_pct", "nan", "limit_not_number"),
        ("risk_per_trade_pct", "inf", "limit_not_number"),
        ("max_correlation", "1.5", "limit_out_of_range"),
        ("probation_min_r", "-5.5", "limit_out_of_range"),
        ("probation_hold", "2", "limit_out_of_range"),
        ("no_such_limit", "1", "limit_unknown"),
    ],
)
def test_invalid_limits(name: str, raw: str, key: str) -> None:
    with pytest.raises(UserError) as error:
        parse_limit(name, raw)
    assert error.value.key == key


def test_signal_arguments() -> None:
    assert parse_signal_args(["btc/usdt", "LONG", "sl=90", "tp=110,120"]) == (
        "BTC/USDT",
        Side.LONG,
        90.0,
        [110.0, 120.0],
    )
    assert parse_signal_args(["ETH/USDT", "short", "tp=40", "sl=55.5"]) == ("ETH/USDT", Side.SHORT, 55.5, [40.0])


@pytest.mark.parametrize(
    ("args", "key"),
    [
        ([], "signal_usage"),
        (["BTC/USDT", "long", "sl=90"], "signal_usage"),
        (["BTC/USDT", "up", "sl=90", "tp=110"], "bad_side"),
        (["BTC/USDT", "long", "sl=abc", "tp=110"], "bad_number"),
        (["BTC/USDT", "long", "sl=-5", "tp=110"], "bad_number"),
        (["BTC/USDT", "long", "sl=90", "tp=110,120,130"], "too_many_targets"),
        (["BTC/USDT", "long", "sl=90", "sl=110"], "signal_usage"),
        (["BTC/USDT", "long", "stop=90", "tp=110"], "signal_usage"),
    ],
)
def test_bad_signal_arguments(args: list[str], key: str) -> None:
    with pytest.raises(UserError) as error:
        parse_signal_args(args)
    assert error.value.key == key

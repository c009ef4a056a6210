"""Numbers, money, percentages, durations and times per language (bot/i18n/format.py).
Expected strings are written out by hand: English groups with ',' and uses '.', Russian
groups with a no-break space (U+00A0) and uses ','."""

from __future__ import annotations

import math
from datetime import datetime

from bot.i18n.format import amount, compact, date_time, day_time, money, number, percent, price, seconds, signed_money

NB = "\u00a0"


def test_number_groups_and_decimal_mark() -> None:
    assert number(1234.56, "en") == "1,234.56"
    assert number(1234.56, "ru") == f"1{NB}234,56"
    assert number(-1234567.891, "en") == "-1,234,567.89"
    assert number(-1234567.891, "ru") == f"-1{NB}234{NB}567,89"
    assert number(999.0, "ru", 0) == "999" and number(1000.0, "ru", 0) == f"1{NB}000"
    assert number(0.25, "en", 1, signed=True) == "+0.2"  # .25 is exact: half to even
    assert number(math.inf, "en") == "∞" and number(math.nan, "ru") == "—"


def test_price_precision_by_size() -> None:
    assert price(63250.5, "en") == "63,250.50"
    assert price(63250.5, "ru") == f"63{NB}250,50"
    assert price(1.23456, "en") == "1.23456" and price(1.23456, "ru") == "1,23456"
    assert price(0.000123456, "ru") == "0,000123456"
    assert price(100.1234567, "en") == "100.123" and price(100.1234567, "ru") == "100,123"
    assert price(90.0, "ru") == "90"
    assert price(None, "en") == "—" and price(math.nan, "ru") == "—"


def test_amount_keeps_up_to_eight_decimals() -> None:
    assert amount(0.125, "en") == "0.125" and amount(0.125, "ru") == "0,125"
    assert amount(25.0, "ru") == "25" and amount(0.0, "en") == "0"
    assert amount(12345.5, "en") == "12,345.5" and amount(12345.5, "ru") == f"12{NB}345,5"
    assert amount(0.000000014, "en") == "0.00000001"


def test_money_and_signed_money() -> None:
    assert money(10_147.85, "en") == "10,147.85" and money(10_147.85, "ru") == f"10{NB}147,85"
    assert money(0.5, "ru") == "0,50"
    assert signed_money(147.85, "en") == "+147.85" and signed_money(-88.13, "ru") == "-88,13"
    assert signed_money(0.0, "en") == "0.00"


def test_percent_and_seconds() -> None:
    assert percent(10.0, "en") == "10.00%" and percent(10.0, "ru") == "10,00%"
    assert percent(1.4785, "en", signed=True) == "+1.48%" and percent(-3.5, "ru", signed=True) == "-3,50%"
    assert seconds(1.5, "en", 1) == "1.5s" and seconds(1.5, "ru", 1) == f"1,5{NB}с"
    assert seconds(1234.0, "en") == "1,234s"


def test_compact_drops_trailing_zeros_and_never_uses_an_exponent() -> None:
    assert compact(0.5, "ru") == "0,5" and compact(2.0, "en") == "2"
    assert compact(1234567.0, "en") == "1,234,570"  # six significant digits
    assert compact(0.00001, "en") == "0.00001"


def test_dates_and_times() -> None:
    moment = datetime(2024, 1, 31, 13, 5)
    assert date_time(moment, "en") == "2024-01-31 13:05" and date_time(moment, "ru") == "31.01.2024 13:05"
    assert day_time(moment, "en") == "01-31 13:05" and day_time(moment, "ru") == "31.01 13:05"


def test_an_unknown_language_is_written_as_english() -> None:
    assert number(1234.5, "de") == "1,234.50"
    assert date_time(datetime(2024, 1, 31, 13, 5), "de") == "2024-01-31 13:05"

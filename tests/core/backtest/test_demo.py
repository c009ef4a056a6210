"""`make demo` reads the sample candles shipped in data/ohlcv and prints the engine's signals."""

from __future__ import annotations

import re

import pytest

from core.backtest import demo

SIGNAL_LINE = re.compile(r"^2019-02-\d\d \d\d:00 BTC/USD +(long|short) +[\d.]+ +[\d.]+ +[\d.]+ +[\d.]+ +[\d.]+%$")


def test_demo_finds_the_sample_candles_and_their_signals(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main(["--symbols", "BTC/USD", "--start", "2019-02-18", "--days", "7"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ATRA engine demo: BTC/USD 1h, 2019-02-18 .. 2019-02-25")
    signals = [line for line in out.splitlines() if SIGNAL_LINE.match(line)]
    count = re.search(r"^(\d+) signal\(s\)", out, re.M)
    assert count is not None and signals and int(count.group(1)) == len(signals)
    # the default playbook's BTC/USD breakout long on the 13:00 candle that tests/bot/test_process.py trades
    assert signals[0].startswith("2019-02-18 13:00 BTC/USD   long")

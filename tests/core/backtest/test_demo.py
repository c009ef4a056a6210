"""`make demo` reads the sample candles shipped in data/ohlcv and prints the engine's signals."""

from __future__ import annotations

import pytest

from core.backtest import demo


def test_demo_finds_the_sample_candles_and_their_signal(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main(["--symbols", "BTC/USD", "--start", "2019-02-18", "--days", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ATRA engine demo: BTC/USD 1h, 2019-02-18 .. 2019-02-19")
    # the default playbook's BTC/USD breakout long on the 13:00 candle that tests/bot/test_process.py trades
    assert any(line.startswith("2019-02-18 13:00 BTC/USD   long") for line in out.splitlines())

"""`make demo` reads the sample candles shipped in data/ohlcv and prints the engine's signals."""

from __future__ import annotations

import pytest

from core.backtest import demo


def test_demo_finds_the_sample_candles_and_their_signal(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main(["--symbols", "BTC/USD", "--start", "2019-03-04", "--days", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ATRA engine demo: BTC/USD 1h, 2019-03-04 .. 2019-03-05")
    # the BTC/USD short on the 03:00 candle that tests/bot/test_process.py also trades
    assert any(line.startswith("2019-03-04 03:00 BTC/USD   short") for line in out.splitlines())

"""`make demo` reads the sample candles shipped in data/ohlcv and runs the engine over them."""

from __future__ import annotations

import pytest

from core.backtest import demo


def test_demo_finds_the_sample_candles(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main(["--symbols", "BTC/USD,ETH/USD", "--start", "2019-03-04", "--days", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # Without the files the header lists no symbol and no candidate is ever judged ("none").
    assert lines[0] == "ATRA engine demo: BTC/USD, ETH/USD 1h, 2019-03-04 .. 2019-03-05"
    assert "candidates rejected by reason: none" not in lines[-1]  # 24 candles per symbol judged

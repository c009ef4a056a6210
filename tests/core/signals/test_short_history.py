"""Warm-up is counted in time, not candles: every playbook trades on 1h, 4h and 1d
markets that have only 500 candles of history, in the backtester and in the bot's
engine (a market listed recently, or an exchange serving 500 candles)."""

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from core.backtest.simulation import BacktestConfig, decide_frames, run_backtest
from core.clock import ManualClock
from core.exchange.replay import ReplayMarketData
from core.signals.engine import EngineConfig, SignalEngine
from core.signals.playbooks import PLAYBOOKS, playbook
from core.timeframes import timeframe_delta

HISTORY = 500
TIMEFRAMES = ("1h", "4h", "1d")
NAMES = sorted(name for name in PLAYBOOKS if name != "sma_cross")
SYMBOLS = [f"S{i}/USD" for i in range(5)]


def v_shaped_market(timeframe: str, seed: int) -> pd.DataFrame:
    """500 candles: 200 falling, 300 rising, with a 50-candle swing and noise (seeded),
    so trends, breakouts, momentum turns and pullbacks all happen."""
    rng = np.random.default_rng(seed)
    t = np.arange(HISTORY, dtype=float)
    trend = np.where(t < 200, -0.003 * t, -0.6 + 0.004 * (t - 200))
    close = 100.0 * np.exp(trend + 0.05 * np.sin(2 * np.pi * t / 50) + np.cumsum(rng.normal(0, 0.006, HISTORY)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.004, HISTORY)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.004, HISTORY)))
    index = pd.date_range("2021-01-04", periods=HISTORY, freq=timeframe_delta(timeframe), tz="UTC").as_unit("us")
    return pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": rng.lognormal(0, 0.5, HISTORY)},
        index=index,
    )


def markets(timeframe: str) -> dict[str, pd.DataFrame]:
    return {symbol: v_shaped_market(timeframe, seed) for seed, symbol in enumerate(SYMBOLS)}


@pytest.mark.parametrize("timeframe", TIMEFRAMES)
@pytest.mark.parametrize("name", NAMES)
def test_the_backtester_trades_with_500_candles_of_history(name, timeframe):
    chosen = playbook(name)
    assert chosen.warmup(timeframe) < HISTORY - 10
    result = run_backtest(markets(timeframe), chosen, BacktestConfig(timeframe=timeframe))
    assert result.metrics.n_trades >= 1


def test_the_regime_baseline_is_thirty_days_whatever_the_timeframe():
    regime = playbook("hybrid").regime
    assert [regime.baseline_candles(tf) for tf in TIMEFRAMES] == [(720, 240), (180, 60), (30, 10)]
    assert playbook("hybrid").warmup("4h") == 210  # EMA 200 (+ slack) is the longest need on 4h


def write_market(directory, timeframe: str) -> dict[str, pd.DataFrame]:
    frames = markets(timeframe)
    for symbol, frame in frames.items():
        out = frame.copy()
        out.index = out.index.strftime("%Y-%m-%d %H:%M:%S")
        out.rename_axis("timestamp").to_csv(directory / f"{symbol.replace('/', '')}-{timeframe}.csv")
    return frames


@pytest.mark.parametrize("timeframe", TIMEFRAMES)
@pytest.mark.parametrize("name", NAMES)
async def test_the_engine_signals_with_500_candles_of_history(tmp_path, name, timeframe):
    """The bot's engine on a market whose whole history is 500 candles (the higher
    timeframe resampled from them) signals exactly where the backtester's decisions do."""
    frames = write_market(tmp_path, timeframe)
    chosen = playbook(name)
    decided = decide_frames(frames, chosen, timeframe)
    accepted = sorted(
        {(stamp, symbol) for symbol, f in decided.items() for stamp in f.index[(f["side"] != 0) & (f["reason"] == "")]}
    )
    assert accepted
    for stamp, symbol in accepted[-3:]:
        clock = ManualClock((stamp + timeframe_delta(timeframe) + timedelta(minutes=1)).to_pydatetime())
        market = ReplayMarketData(tmp_path, clock, SYMBOLS, timeframe)
        engine = SignalEngine(market, timeframe, clock, EngineConfig(playbook=chosen))
        result = await engine.scan([symbol])
        assert [(s.symbol, s.candle_time) for s in result.signals] == [(symbol, stamp.to_pydatetime())]

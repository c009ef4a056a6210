from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.clock import ManualClock
from core.errors import ConfigError
from core.exchange.replay import ReplayMarketData, load_csv, resample
from core.ports import Candidate, ModelOpinion
from core.records import playbook_of
from core.signals.engine import EngineConfig, SignalEngine, SignalPipeline, default_higher_timeframe
from core.signals.playbooks import FILTER_NAMES, hybrid_playbook

DATA = Path(__file__).resolve().parents[3] / "data" / "ohlcv"
# the seeds' hybrid playbook with all its filters and fixed targets (the engine's default is another)
SEEDS_HYBRID = hybrid_playbook(filters=FILTER_NAMES, exit="targets")
DECISION_COLUMNS = ["side", "strength", "reason", "regime", "entry", "stop", "tp1", "tp2", "atr_multiplier",
                    "stop_type", "htf_trend", "ema_200", "atr_14", "adx_14", "volume_ratio"]  # fmt: skip


@pytest.fixture(scope="module")
def btc() -> pd.DataFrame:
    return load_csv(DATA / "BTCUSD-1h.csv").iloc[:2500]


@pytest.fixture(scope="module")
def decided(btc) -> pd.DataFrame:
    return SignalPipeline(SEEDS_HYBRID, "1h").decide(btc, resample(btc, "4h"))


def test_decided_frame_has_signals_with_levels(decided):
    accepted = decided[(decided["side"] != 0) & (decided["reason"] == "")]
    assert len(accepted) >= 5
    longs = accepted[accepted["side"] > 0]
    assert (longs["stop"] < longs["entry"]).all() and (longs["tp2"] > longs["tp1"]).all()
    assert set(accepted["stop_type"]) == {"atr"}


def test_last_row_of_the_whole_run_equals_the_run_cut_there(btc, decided):
    """No look-ahead: row k-1 of one vectorised run over all candles is exactly what a
    run over the first k candles (with its own, partly formed, 4h candles) decides."""
    pipeline = SignalPipeline(SEEDS_HYBRID, "1h")
    accepted = np.flatnonzero((decided["side"] != 0) & (decided["reason"] == ""))
    rejected = np.flatnonzero((decided["side"] != 0) & (decided["reason"] != ""))
    rows = sorted({*accepted[:6].tolist(), *rejected[-4:].tolist(), 900, 1501, 2002, 2499})
    for row in rows:
        cut = btc.iloc[: row + 1]
        alone = pipeline.decide(cut, resample(cut, "4h")).iloc[-1][DECISION_COLUMNS]
        whole = decided.iloc[row][DECISION_COLUMNS]
        pd.testing.assert_series_equal(alone, whole, check_names=False, obj=f"row {row}")


def test_default_higher_timeframe():
    assert default_higher_timeframe("1h") == "4h"
    assert default_higher_timeframe("30m") == "4h"  # 2h is not on the ladder
    assert default_higher_timeframe("4h") == "1d"


class RecordingMarketData:
    """Replay market data that records what the engine asked for."""

    def __init__(self, inner: ReplayMarketData) -> None:
        self.inner = inner
        self.calls: list[tuple[str, str, int]] = []

    def symbols(self) -> Sequence[str]:
        return self.inner.symbols()

    async def candles(self, symbol: str, timeframe: str, limit: int) -> pd.DataFrame:
        self.calls.append((symbol, timeframe, limit))
        return await self.inner.candles(symbol, timeframe, limit)

    async def last_price(self, symbol: str) -> float:
        return await self.inner.last_price(symbol)


def replay_engine(decision_time: pd.Timestamp, models=(), lookback: int = 100_000):
    """An engine whose clock stands just after the candle opened at `decision_time` closed."""
    clock = ManualClock((decision_time + timedelta(hours=1, minutes=5)).to_pydatetime())
    market = RecordingMarketData(ReplayMarketData(DATA, clock, ["BTC/USD", "ETH/USD"], "1h"))
    config = EngineConfig(lookback=lookback, higher_lookback=100_000, playbook=SEEDS_HYBRID)
    return SignalEngine(market, "1h", clock, config, models), market


async def test_scan_signals_what_the_vectorised_run_decided(decided):
    """The live scan (last closed candle, 4h candles from the market-data port) and the
    backtester's whole-history run decide the same on the same candle."""
    row = decided[(decided["side"] != 0) & (decided["reason"] == "")].iloc[2]
    engine, market = replay_engine(row.name)
    result = await engine.scan(["BTC/USD"])
    assert [s.candle_time for s in result.signals] == [row.name.to_pydatetime()]
    signal = result.signals[0]
    assert (signal.levels.entry, signal.levels.stop, signal.levels.tp1, signal.levels.tp2) == (
        row["entry"],
        row["stop"],
        row["tp1"],
        row["tp2"],
    )
    assert signal.regime == row["regime"] and signal.strength == row["strength"]
    assert signal.meta["stop_type"] == "atr"
    assert playbook_of(signal.source, signal.meta) == "hybrid"  # what the track record groups it by
    assert ("BTC/USD", "4h", 100_000) in market.calls
    assert result.rejections == {} and result.symbols == 1 and result.finished_at is not None


async def test_scan_counts_rejections_and_errors(decided):
    row = decided[(decided["side"] != 0) & (decided["reason"] == "adx_weak")].iloc[0]
    engine, _ = replay_engine(row.name)
    result = await engine.scan(["BTC/USD", "DOGE/USD"])
    assert result.signals == [] and result.rejections["adx_weak"] == 1
    assert "DOGE/USD" in result.errors
    await engine.scan(["BTC/USD"])
    assert engine.rejections["adx_weak"] == 2  # cumulative


async def test_not_enough_data_early_in_the_file():
    engine, _ = replay_engine(pd.Timestamp("2017-10-05", tz="UTC"))
    result = await engine.scan(["BTC/USD"])
    assert result.rejections == {"not_enough_data": 1}


class FakeModel:
    def __init__(self, name: str, passed: bool, factor: float = 1.0) -> None:
        self.name, self.passed, self.factor = name, passed, factor
        self.batches: list[int] = []

    def assess(self, candidates: Sequence[Candidate]) -> list[ModelOpinion]:
        self.batches.append(len(candidates))
        return [ModelOpinion(self.passed, "low_probability", self.factor) for _ in candidates]


async def test_models_filter_and_scale_candidates(decided):
    row = decided[(decided["side"] != 0) & (decided["reason"] == "")].iloc[2]
    halve = FakeModel("gru", passed=True, factor=0.5)
    engine, _ = replay_engine(row.name, models=[halve])
    result = await engine.scan(["BTC/USD"])
    assert halve.batches == [1] and result.signals[0].strength == pytest.approx(row["strength"] * 0.5)

    veto = FakeModel("lgbm", passed=False)
    engine, _ = replay_engine(row.name, models=[veto])
    result = await engine.scan(["BTC/USD"])
    assert result.signals == [] and result.rejections == {"low_probability": 1}


def test_lookback_below_the_warm_up_is_a_config_error():
    clock = ManualClock(pd.Timestamp("2018-01-01", tz="UTC").to_pydatetime())
    market = ReplayMarketData(DATA, clock, ["BTC/USD"], "1h")
    # the hybrid playbook's warm-up on 1h: 10 days of regime baseline (240 candles) + 15 for ATR
    with pytest.raises(ConfigError, match="warm-up 256"):
        SignalEngine(market, "1h", clock, EngineConfig(lookback=250, playbook=SEEDS_HYBRID))

"""Wall time of the ML filters in one scan of 100 symbols, with the shipped models.

Run from the repository root:  python -m bench.bench_models [--models DIR]

Loads the models the bot loads (`ml.runtime.load_active_models(MODEL_DIR)`), then:
1. model inference alone: `assess` of the success filter (features included) and of the
   GRU check on 100 engine candidates, each with the 1000-candle frame a scan fetches;
   timed with 1 and with 2 torch intra-op threads (the bot runs with 1);
2. a whole scan as the bot runs it: `SignalEngine.scan` of 100 symbols (in-memory market
   data cut so that every symbol's last candle is an engine signal, the worst case for
   the models), with `runtime.models`;
3. the event loop meanwhile: the worst delay of a 5 ms ticker while the models run in a
   worker thread (as the engine runs them), and while whole scans run, before and after
   `gc.collect(); gc.freeze()` (a full collection of the ~300k objects torch, pandas and
   the rest leave after import stops every thread for ~150 ms; freezing them at start-up,
   as the bot's composition root should, leaves the collector only the scans' garbage).
Target: under 1 s per scan of 100 symbols on 2 cores, with both models.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from core.backtest.data import load_candles
from core.clock import ManualClock
from core.exchange.replay import resample
from core.ports import Candidate, SignalModel
from core.signals.engine import EngineConfig, SignalEngine, SignalPipeline, run_models
from core.signals.filters import PASS
from core.signals.playbooks import hybrid_playbook
from ml.runtime import load_active_models

DATA = Path("data/ohlcv")
SOURCES = ("BTC/USD", "ETH/USD", "LTC/USD", "XRP/USD", "EOS/USD")
SYMBOLS = 100
LOOKBACK = 1000  # the engine's default candles per scan
REPEATS = 10


class CutMarketData:
    """Symbol i serves a source's candles up to one of that source's signal candles."""

    def __init__(self, cuts: dict[str, pd.DataFrame]) -> None:
        self._hourly = cuts
        self._higher = {symbol: resample(frame, "4h") for symbol, frame in cuts.items()}

    def symbols(self) -> Sequence[str]:
        return list(self._hourly)

    async def candles(self, symbol: str, timeframe: str, limit: int) -> pd.DataFrame:
        frames = self._hourly if timeframe == "1h" else self._higher
        frame = frames[symbol]
        if timeframe == "4h":  # only 4h candles closed by the last 1h candle's close
            last_close = self._hourly[symbol].index[-1] + pd.Timedelta(hours=1)
            frame = frame[frame.index + pd.Timedelta(hours=4) <= last_close]
        return frame.iloc[-limit:]

    async def last_price(self, symbol: str) -> float:
        return float(self._hourly[symbol]["close"].iloc[-1])


def signal_cuts() -> tuple[dict[str, pd.DataFrame], list[Candidate]]:
    """100 (symbol -> candles ending at a signal) and the matching 100 candidates."""
    pipeline = SignalPipeline(hybrid_playbook(), "1h")
    cuts: dict[str, pd.DataFrame] = {}
    candidates: list[Candidate] = []
    per_source = SYMBOLS // len(SOURCES)
    for source in SOURCES:
        candles = load_candles(DATA, source, "1h")
        frame = pipeline.decide(candles, resample(candles, "4h"))
        rows = np.flatnonzero((frame["side"] != 0).to_numpy() & (frame["reason"] == PASS).to_numpy())
        rows = rows[rows >= LOOKBACK][-per_source:]
        for k, row in enumerate(rows):
            symbol = f"{source.split('/')[0]}{k}/USD"
            cuts[symbol] = candles.iloc[row + 1 - LOOKBACK : row + 1]
            candidate = pipeline.candidate(symbol, frame, int(row))
            candidates.append(
                Candidate(
                    symbol,
                    candidate.timeframe,
                    candidate.side,
                    candidate.frame.iloc[-LOOKBACK:],
                    candidate.levels,
                    candidate.regime,
                    candidate.strength,
                )
            )
    return cuts, candidates


def time_models(models: Sequence[SignalModel], candidates: list[Candidate]) -> None:
    for model in models:
        model.assess(candidates)  # warm-up
    per_model: dict[str, list[float]] = {model.name: [] for model in models}
    totals = []
    for _ in range(REPEATS):
        scan_start = time.perf_counter()
        for model in models:
            start = time.perf_counter()
            model.assess(candidates)
            per_model[model.name].append(time.perf_counter() - start)
        totals.append(time.perf_counter() - scan_start)
    for name, times in per_model.items():
        print(f"{name:>18}: median {statistics.median(times) * 1000:7.1f} ms, max {max(times) * 1000:7.1f} ms")
    print(
        f"{'both models':>18}: median {statistics.median(totals) * 1000:7.1f} ms, "
        f"max {max(totals) * 1000:7.1f} ms for {len(candidates)} candidates"
    )


class Ticker:
    """A 5 ms ticker on the event loop; `worst` is its largest delay in ms."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Ticker:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._task is not None
        await self._task

    async def _run(self) -> None:
        while not self._stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            self.delays.append((time.perf_counter() - before - 0.005) * 1000)

    @property
    def worst(self) -> float:
        return max(self.delays, default=0.0)


async def models_lag(models: Sequence[SignalModel], candidates: list[Candidate]) -> None:
    worst = []
    for _ in range(REPEATS):
        async with Ticker() as ticker:
            await asyncio.to_thread(run_models, models, candidates)
        worst.append(ticker.worst)
    print(
        f"{'event loop':>18}: worst ticker delay while both models ran in a worker thread: "
        f"median {statistics.median(worst):.1f} ms, max {max(worst):.1f} ms over {REPEATS} runs"
    )


async def time_scans(engine: SignalEngine, symbols: list[str], label: str) -> None:
    """Whole scans, and the worst delay of a 5 ms ticker on the loop during each."""
    await engine.scan(symbols)  # warm-up
    times, worst, signals, vetoes = [], [], 0, 0
    for _ in range(REPEATS):
        async with Ticker() as ticker:
            start = time.perf_counter()
            result = await engine.scan(symbols)
            times.append(time.perf_counter() - start)
        worst.append(ticker.worst)
        signals = len(result.signals)
        vetoes = sum(n for reason, n in result.rejections.items() if reason.startswith(("lightgbm", "gru")))
    print(
        f"{'whole scan':>18}: median {statistics.median(times) * 1000:7.1f} ms, max {max(times) * 1000:7.1f} ms "
        f"for {len(symbols)} symbols ({signals + vetoes} reached the models, {vetoes} vetoed; target < 1000 ms)"
    )
    print(
        f"{'event loop':>18}: worst ticker delay per scan {label}: median {statistics.median(worst):.1f} ms, "
        f"max {max(worst):.1f} ms"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_models")
    parser.add_argument("--models", type=Path, default=Path("models"))
    args = parser.parse_args(argv)
    clock = ManualClock(datetime.now(UTC))
    started = time.perf_counter()
    runtime = load_active_models(args.models, clock, "1h")
    print(f"loaded in {(time.perf_counter() - started) * 1000:.0f} ms: " + "; ".join(runtime.describe()[:1]))
    if not runtime.active:
        raise SystemExit("\n".join(runtime.describe()))
    cuts, candidates = signal_cuts()
    models = [slot.current for slot in (runtime.success, runtime.price) if slot.current is not None]
    for threads in (1, 2):
        torch.set_num_threads(threads)
        print(f"model inference, torch intra-op threads: {threads}")
        time_models(models, candidates)
    torch.set_num_threads(1)
    asyncio.run(models_lag(models, candidates))
    engine = SignalEngine(CutMarketData(cuts), "1h", clock, EngineConfig(lookback=LOOKBACK), runtime.models)
    print("scan as the bot runs it (1 torch thread):")
    asyncio.run(time_scans(engine, list(cuts), "(gc as after import)"))
    gc.collect()
    gc.freeze()
    asyncio.run(time_scans(engine, list(cuts), "(after gc.freeze())"))


if __name__ == "__main__":
    main()

"""Wall time of one scan's model inference: 100 symbols, both ML filters.

Run from the repository root:  python -m bench.bench_models

Trains small models on synthetic candles first (phase 1 has no engine candidates yet),
then times `SuccessFilter.assess` (feature extraction included) and `PriceFilter.assess`
(one GRU forward pass, window 60, hidden 32) on 100 candidates, several times. It also runs
the scan as the engine will, in a worker thread, and reports how late a 5 ms ticker on the
event loop ran meanwhile. Target: under 1 s per scan on 2 cores. Inference is timed with 1
and with 2 torch intra-op threads; the bot should run with 1 (see the printed figures).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime

import torch

from core.models import Side
from core.ports import Candidate, SignalModel
from ml.filters import PriceFilter, SuccessFilter
from ml.price_model import PriceInputSpec
from ml.train_price import PriceTrainingConfig, train_price_model
from ml.train_success import SuccessTrainingConfig, train_success_model
from tests.ml.factories import PIPELINE_FEATURES, candles, pipeline_dataset, toy_candidate

SYMBOLS = 100
CANDLES_PER_FRAME = 200
REPEATS = 15
CREATED_AT = datetime(2025, 3, 1, tzinfo=UTC)


def build_filters() -> list[SignalModel]:
    started = time.perf_counter()
    history = {f"H{i}/USDT": candles(1500, seed=i) for i in range(3)}
    success, _ = train_success_model(pipeline_dataset(history), CREATED_AT, SuccessTrainingConfig())
    spec = PriceInputSpec(window=60, horizon=1, indicator_columns=("rsi",), price_level_columns=("sma_10",))
    price, report = train_price_model(
        history, spec, CREATED_AT, PriceTrainingConfig(epochs=3, sample_stride=2)
    )
    print(f"trained both models in {time.perf_counter() - started:.1f} s")
    print(report.summary())
    return [SuccessFilter(success, PIPELINE_FEATURES), PriceFilter(price)]


def scan_candidates() -> list[Candidate]:
    return [
        toy_candidate(
            f"S{i}/USDT", candles(CANDLES_PER_FRAME, seed=1000 + i), Side.LONG if i % 2 else Side.SHORT
        )
        for i in range(SYMBOLS)
    ]


def assess_all(filters: list[SignalModel], candidates: list[Candidate]) -> None:
    for model in filters:
        opinions = model.assess(candidates)
        assert len(opinions) == len(candidates)


def time_filters(filters: list[SignalModel], candidates: list[Candidate]) -> None:
    assess_all(filters, candidates)  # warm-up
    per_model: dict[str, list[float]] = {model.name: [] for model in filters}
    totals = []
    for _ in range(REPEATS):
        scan_start = time.perf_counter()
        for model in filters:
            start = time.perf_counter()
            model.assess(candidates)
            per_model[model.name].append(time.perf_counter() - start)
        totals.append(time.perf_counter() - scan_start)
    for name, times in per_model.items():
        print(
            f"{name:>16}: median {statistics.median(times) * 1000:7.1f} ms, max {max(times) * 1000:7.1f} ms"
        )
    print(
        f"{'scan total':>16}: median {statistics.median(totals) * 1000:7.1f} ms, "
        f"max {max(totals) * 1000:7.1f} ms for {SYMBOLS} symbols (target < 1000 ms)"
    )


async def loop_lag(filters: list[SignalModel], candidates: list[Candidate]) -> float:
    """Largest delay of a 5 ms ticker while a scan runs in a worker thread."""
    lag = 0.0

    async def ticker(stop: asyncio.Event) -> None:
        nonlocal lag
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            lag = max(lag, time.perf_counter() - before - 0.005)

    stop = asyncio.Event()
    task = asyncio.create_task(ticker(stop))
    for _ in range(3):
        await asyncio.to_thread(assess_all, filters, candidates)
    stop.set()
    await task
    return lag


def main() -> None:
    filters = build_filters()
    candidates = scan_candidates()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        print(f"torch intra-op threads: {threads}")
        time_filters(filters, candidates)
    torch.set_num_threads(1)
    lag = asyncio.run(loop_lag(filters, candidates))
    print(f"{'event loop':>16}: worst ticker delay {lag * 1000:.1f} ms while scans ran in a worker thread")


if __name__ == "__main__":
    main()

"""Throughput of the full engine in the backtester on the repo's sample data.

    python -m bench.bench_backtest [--data data/ohlcv] [--repeat 3]

Prints candles per second for runs of the default playbook and of the seeds' hybrid on
the five sample symbols at 1h: the whole sample (2017-10..2019-03) and one year
(2018-04..2019-03, indicators warmed up on the months before). CSV loading is timed
apart. Not a test.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pandas as pd

from core.backtest.data import load_candles
from core.backtest.simulation import BacktestConfig, run_backtest
from core.signals.playbooks import DEFAULT_PLAYBOOK, Playbook, playbook

ROOT = Path(__file__).resolve().parents[1]
SYMBOLS = ("BTC/USD", "ETH/USD", "LTC/USD", "XRP/USD", "EOS/USD")


def timed_runs(
    candles: dict[str, pd.DataFrame], chosen: Playbook, config: BacktestConfig, repeat: int
) -> tuple[float, int, int]:
    """Median wall time of `repeat` runs, with the candles and trades of the last one."""
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = run_backtest(candles, chosen, config)
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result.candles, result.metrics.n_trades


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "ohlcv")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    started = time.perf_counter()
    candles = {symbol: load_candles(args.data, symbol, "1h") for symbol in SYMBOLS}
    print(f"load {len(SYMBOLS)} CSV files: {time.perf_counter() - started:.2f} s")

    year = BacktestConfig(
        start=pd.Timestamp("2018-04-01", tz="UTC"), end=pd.Timestamp("2019-03-31 23:00", tz="UTC")
    )
    runs = {"whole sample": BacktestConfig(), "one year, 2018-04..2019-03": year}
    for name in (DEFAULT_PLAYBOOK, "hybrid_seeds"):
        for label, config in runs.items():
            seconds, simulated, trades = timed_runs(candles, playbook(name), config, args.repeat)
            print(
                f"{name}, {label}: {simulated:,} candles, {trades} trades in {seconds:.2f} s "
                f"(median of {args.repeat}) = {simulated / seconds:,.0f} candles/s"
            )


if __name__ == "__main__":
    main()

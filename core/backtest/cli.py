"""`python -m core.backtest`: one backtest from the command line.

    python -m core.backtest [--data data/ohlcv] [--symbols BTC/USD,ETH/USD,...] [--timeframe 1h]
        [--start ISO] [--end ISO] [--strategy NAME] [--shorts] [--fee 0.001] [--slippage 0.05]
        [--balance 10000] [--json FILE] [--plot FILE.png]

Without flags it backtests the bot's default playbook on the sample data. Models are
not core's business (core imports no ml): `python -m ml.backtest` is the same command
with `--models DIR`, which passes `ml.registry.load_models` in as `load_models`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from core.backtest.data import SAMPLE_DIR, SAMPLE_SYMBOLS, load_markets, parse_time
from core.backtest.report import format_report, plot, write_json
from core.backtest.simulation import BacktestConfig, NoCandles, run_backtest
from core.ports import SignalModel
from core.rules.fills import FillModel
from core.signals.playbooks import DEFAULT_PLAYBOOK, PLAYBOOKS, playbook
from core.timeframes import timeframe_seconds

#: Builds the models a backtest runs with from a model directory (supplied by ml).
ModelLoader = Callable[[Path], Sequence[SignalModel]]


def parser(prog: str = "python -m core.backtest") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SAMPLE_DIR, help="directory of <SYMBOL>-<tf>.csv files")
    parser.add_argument("--symbols", default=",".join(SAMPLE_SYMBOLS), help="comma-separated, e.g. BTC/USD,ETH/USD")
    parser.add_argument("--timeframe", default="1h")
    parser.add_argument("--start", help="ISO time (UTC) of the first decision candle")
    parser.add_argument("--end", help="ISO time (UTC) of the last candle, inclusive")
    parser.add_argument("--strategy", default=DEFAULT_PLAYBOOK, choices=sorted(PLAYBOOKS), help="playbook name")
    parser.add_argument("--shorts", action="store_true", help="trade short signals too (not on spot)")
    parser.add_argument("--fee", type=float, default=0.001, help="fee rate per fill")
    parser.add_argument("--slippage", type=float, default=0.05, help="market-order slippage, percent")
    parser.add_argument("--balance", type=float, default=10_000.0)
    ml = parser.add_mutually_exclusive_group()
    ml.add_argument("--no-ml", action="store_true", help="no ML models (the default without --models)")
    ml.add_argument("--models", type=Path, help="directory of trained models (python -m ml.backtest only)")
    parser.add_argument("--json", type=Path, help="write metrics and trades as JSON")
    parser.add_argument("--plot", type=Path, help="write the equity curve as PNG")
    return parser


def main(argv: Sequence[str] | None = None, load_models: ModelLoader | None = None) -> int:
    """Run one backtest; `load_models` enables `--models` (see the module docstring)."""
    args = parser().parse_args(argv)
    if args.models and load_models is None:
        raise SystemExit("--models needs the ML package: run python -m ml.backtest with the same arguments")
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
    try:
        timeframe_seconds(args.timeframe)
    except ValueError as exc:
        raise SystemExit(str(exc)) from exc
    models = list(load_models(args.models)) if load_models is not None and args.models else []
    try:
        candles = load_markets(args.data, symbols, args.timeframe)
    except FileNotFoundError as exc:
        raise SystemExit(str(exc)) from exc
    config = BacktestConfig(
        timeframe=args.timeframe,
        start=parse_time(args.start, end=False),
        end=parse_time(args.end, end=True),
        initial_equity=args.balance,
        fills=FillModel(fee_rate=args.fee, slippage_pct=args.slippage),
    )
    chosen = playbook(args.strategy)
    if args.shorts:
        chosen = dataclasses.replace(chosen, long_only=False)
    try:
        result = run_backtest(candles, chosen, config, models, progress=sys.stderr.isatty())
    except NoCandles as exc:
        raise SystemExit(str(exc)) from exc
    print(f"{chosen.label} on {', '.join(symbols)} {args.timeframe}" + (" with models" if models else ""))
    print(format_report(result))
    if args.json:
        write_json(result, args.json)
    if args.plot:
        plot(result, args.plot)
    return 0

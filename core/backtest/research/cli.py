"""`python -m core.backtest.research` (`make research`): walk-forward research of the
playbooks on the sample data, printed as a table and written as JSON and PNG.

    python -m core.backtest.research [--data data/ohlcv] [--symbols ...] [--timeframes 1h,4h]
        [--playbooks hybrid,donchian,tsmom] [--train-months 6] [--test-months 2] [--step-months 2]
        [--fee 0.001] [--slippage 0.05] [--json FILE] [--plot FILE.png] [--no-switches]

Every choice (parameters, filters on or off, the exit style) is made on a train window
and scored on the test window after it; the test windows are stitched. Fees 0.1 % per
fill and the bot's slippage (0.05 % on market orders) by default.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.backtest.data import SAMPLE_DIR, SAMPLE_SYMBOLS, load_markets
from core.backtest.research.report import format_study, plot, write_json
from core.backtest.research.spaces import PlaybookSpace, spaces
from core.backtest.research.study import run_study
from core.backtest.research.walkforward import Window, rolling_windows
from core.rules.fills import FillModel
from core.timeframes import timeframe_delta


def parser(prog: str = "python -m core.backtest.research") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=SAMPLE_DIR)
    parser.add_argument("--symbols", default=",".join(SAMPLE_SYMBOLS))
    parser.add_argument("--timeframes", default="1h,4h", help="comma-separated, e.g. 30m,1h,4h")
    parser.add_argument("--playbooks", default=",".join(spaces()), help="comma-separated names")
    parser.add_argument("--train-months", type=int, default=6)
    parser.add_argument("--test-months", type=int, default=2)
    parser.add_argument("--step-months", type=int, default=2)
    parser.add_argument("--fee", type=float, default=0.001, help="fee rate per fill")
    parser.add_argument("--slippage", type=float, default=0.05, help="market-order slippage, percent")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes for the backtests (1: in-process)")
    parser.add_argument("--json", type=Path, help="write the research as JSON")
    parser.add_argument("--plot", type=Path, help="write the out-of-sample equity curves as PNG")
    return parser


def _names(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@dataclass(frozen=True, slots=True)
class Setup:
    markets: dict[str, dict[str, pd.DataFrame]]  # timeframe -> symbol -> candles
    windows: list[Window]
    fills: FillModel
    spaces: list[PlaybookSpace]


def setup(args: argparse.Namespace) -> Setup:
    """Candles, windows, fills and playbooks from the parsed arguments (SystemExit with a
    short message on bad input)."""
    known = spaces()
    chosen = _names(args.playbooks)
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise SystemExit(f"unknown playbooks {unknown}; choose from {sorted(known)}")
    try:
        timeframes = _names(args.timeframes)
        for timeframe in timeframes:
            timeframe_delta(timeframe)
        markets = {tf: load_markets(args.data, _names(args.symbols), tf) for tf in timeframes}
    except (ValueError, FileNotFoundError) as exc:
        raise SystemExit(str(exc)) from exc
    finest = markets[min(timeframes, key=timeframe_delta)]
    first = min(frame.index[0] for frame in finest.values())
    end = max(frame.index[-1] for frame in finest.values()) + timeframe_delta(min(timeframes, key=timeframe_delta))
    windows = rolling_windows(first, end, args.train_months, args.test_months, args.step_months)
    if not windows:
        raise SystemExit(f"the data {first:%Y-%m-%d}..{end:%Y-%m-%d} is too short for one train and test window")
    fills = FillModel(fee_rate=args.fee, slippage_pct=args.slippage)
    return Setup(markets, windows, fills, [known[name] for name in chosen])


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    ready = setup(args)
    study = run_study(ready.markets, ready.spaces, ready.windows, ready.fills, sys.stderr.isatty(), args.jobs)
    print(format_study(study))
    if args.json:
        write_json(study, args.json)
    if args.plot:
        plot(study, args.plot)
    return 0

"""Does ML help? The engine backtested on a period after the models' training data, with
no model, each model alone and both, in one table.

    python -m ml.evaluate --data data/ohlcv --symbols BTC/USD,ETH/USD,LTC/USD,XRP/USD,EOS/USD \
        --models models --start 2019-01-01 --end 2019-03-31 [--timeframe 1h] [--json FILE]

Every run is `core.backtest.simulation.run_backtest` with the same candles, playbook, fills and
limits; only `models` differs. The period must start after the set's training data ended
(the labels' last candle and the GRU's last candle), unless `--allow-overlap` says
otherwise, in which case the table is marked as in-sample.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.backtest.data import load_candles
from core.backtest.simulation import BacktestConfig, BacktestResult, NoCandles, run_backtest
from core.ports import SignalModel
from core.rules.fills import FillModel
from core.signals.playbooks import DEFAULT_PLAYBOOK, PLAYBOOKS, playbook
from ml.cli import parse_symbols, parse_time
from ml.errors import ModelsUnavailable
from ml.registry import ModelSet, engine_models, open_model_set

#: Every model veto is a category starting with this (ml_success_*, ml_price_*, ml_no_active_model).
MODEL_REASON_PREFIX = "ml_"
VARIANTS = ("no ML", "success model only", "price model only", "both models")
COLUMNS = ("trades", "win rate %", "expectancy %", "profit factor", "max drawdown %", "Sharpe", "return %")


@dataclass(frozen=True, slots=True)
class Row:
    variant: str
    result: BacktestResult

    def values(self) -> tuple[float, ...]:
        m = self.result.metrics
        return (
            float(m.n_trades),
            m.win_rate,
            m.expectancy_pct,
            m.profit_factor,
            m.max_drawdown_pct,
            m.sharpe,
            m.total_return_pct,
        )


def training_end(model_set: ModelSet) -> pd.Timestamp:
    """The last candle either model learnt from."""
    ends = [model_set.metadata(kind).data_end for kind in ("success", "price")]
    known = [pd.Timestamp(end) for end in ends if end is not None]
    if not known:
        raise ValueError(f"{model_set.directory.name} does not say which data it was trained on")
    return max(known)


def variants(models: Sequence[SignalModel]) -> list[tuple[str, list[SignalModel]]]:
    success, price = models
    return list(zip(VARIANTS, ([], [success], [price], [success, price]), strict=True))


def evaluate(
    candles: dict[str, pd.DataFrame], strategy: str, config: BacktestConfig, models: Sequence[SignalModel]
) -> list[Row]:
    """One backtest per variant, in the order of VARIANTS."""
    return [Row(name, run_backtest(candles, playbook(strategy), config, chosen)) for name, chosen in variants(models)]


def model_vetoes(result: BacktestResult) -> int:
    """Candidates the models rejected (counted by the engine under their ml_* reasons)."""
    return sum(count for reason, count in result.rejections.items() if reason.startswith(MODEL_REASON_PREFIX))


def _cell(value: float, column: str) -> str:
    if column == "trades":
        return str(int(value))
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf"
    return f"{value:.3f}" if column == "expectancy %" else f"{value:.2f}"


def format_table(rows: Sequence[Row]) -> str:
    """A Markdown table, one row per variant."""
    header = ["variant", *COLUMNS]
    body = [[row.variant, *(_cell(v, c) for v, c in zip(row.values(), COLUMNS, strict=True))] for row in rows]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = [cells[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ":" if i else "-" * (w + 2) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), rule, *(line(cells) for cells in body)])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml.evaluate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="directory of <SYMBOL>-<tf>.csv files")
    parser.add_argument("--symbols", required=True, help="comma-separated, e.g. BTC/USD,ETH/USD")
    parser.add_argument("--models", type=Path, required=True, help="MODEL_DIR or one set directory")
    parser.add_argument("--start", required=True, help="ISO time (UTC) of the first decision candle")
    parser.add_argument("--end", help="ISO time (UTC) of the last candle, inclusive")
    parser.add_argument("--timeframe", default="1h")
    parser.add_argument("--strategy", choices=sorted(PLAYBOOKS), help="playbook (default: the one the set filters)")
    parser.add_argument("--fee", type=float, default=0.001, help="fee rate per fill")
    parser.add_argument("--slippage", type=float, default=0.05, help="market-order slippage, percent")
    parser.add_argument("--balance", type=float, default=10_000.0)
    parser.add_argument("--allow-overlap", action="store_true", help="allow a period the models trained on")
    parser.add_argument("--json", type=Path, help="write the table's figures as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    symbols = parse_symbols(args.symbols)
    start, end = parse_time(args.start), parse_time(args.end, end=True)
    assert start is not None  # --start is required
    try:
        model_set = open_model_set(args.models, args.timeframe)
    except ModelsUnavailable as exc:
        raise SystemExit(f"ml.evaluate: no usable models in {args.models}: {exc}") from exc
    trained_until = training_end(model_set)
    in_sample = start <= trained_until
    if in_sample and not args.allow_overlap:
        raise SystemExit(
            f"ml.evaluate: --start {start.isoformat()} is not after the models' training data "
            f"(last candle {trained_until.isoformat()}); pass --allow-overlap to run anyway"
        )
    try:
        candles = {symbol: load_candles(args.data, symbol, args.timeframe) for symbol in symbols}
    except FileNotFoundError as exc:
        raise SystemExit(str(exc)) from exc
    config = BacktestConfig(
        timeframe=args.timeframe,
        start=start,
        end=end,
        initial_equity=args.balance,
        fills=FillModel(fee_rate=args.fee, slippage_pct=args.slippage),
    )
    strategy = args.strategy or str(model_set.training.get("strategy") or DEFAULT_PLAYBOOK)
    try:
        rows = evaluate(candles, strategy, config, engine_models(model_set))
    except NoCandles as exc:
        raise SystemExit(str(exc)) from exc
    period = rows[0].result.equity.index
    print(
        f"{playbook(strategy).label} on {', '.join(symbols)} {args.timeframe}, "
        f"{period[0]:%Y-%m-%d %H:%M} .. {period[-1]:%Y-%m-%d %H:%M} UTC; models {model_set.directory.name} "
        f"trained on candles up to {trained_until:%Y-%m-%d %H:%M}"
        + (" (IN-SAMPLE: the period overlaps the training data)" if in_sample else "")
    )
    print(format_table(rows))
    vetoes = ", ".join(f"{row.variant} {model_vetoes(row.result)}" for row in rows[1:])
    print(f"signals before the models: {rows[0].result.signals}; vetoed by the models: {vetoes}")
    if args.json:
        payload = {row.variant: dict(zip(COLUMNS, row.values(), strict=True)) for row in rows}
        args.json.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m ml.research` (`make research`): the walk-forward research of
`python -m core.backtest.research`, then the ML success filter walked forward on the
same folds over the default playbook's candidates.

For each fold the filter is trained on the train window's candidates only (realised R
under the bot's exits), its threshold calibrated there (top `--pass-fraction` of its
out-of-fold probabilities), and it filters the test window's signals in the
backtester. Two rows: the default playbook (its configuration fixed, as the bot runs
it) on the test windows without the filter and with it, and the verdict that decides
whether a model set is active by default (`ml.lift`).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pandas as pd

from core.backtest.research.cli import parser, setup
from core.backtest.research.report import format_study, markdown, plot, row, write_json
from core.backtest.research.runs import INITIAL_EQUITY, FoldRun, WalkForward, stitch
from core.backtest.research.study import run_study
from core.backtest.research.walkforward import Window
from core.backtest.simulation import BacktestConfig, decide_frames, simulate
from core.ports import SignalModel
from core.rules.fills import FillModel
from core.signals.playbooks import DEFAULT_PLAYBOOK, Playbook, playbook
from ml.dataset import CandidateScope, LabelConfig, build_dataset
from ml.lift import FoldSuccessFilter, LiftVerdict, fold_filters, walk_forward_lift
from ml.spec import candidate_features
from ml.train_success import SuccessTrainingConfig


def _fold_runs(
    frames: Mapping[str, pd.DataFrame],
    chosen: Playbook,
    timeframe: str,
    windows: Sequence[Window],
    fills: FillModel,
    models: Sequence[Sequence[SignalModel]],
) -> list[FoldRun]:
    base = BacktestConfig(timeframe=timeframe, initial_equity=INITIAL_EQUITY, fills=fills)
    runs = []
    for window, fold_models in zip(windows, models, strict=True):
        test = replace(base, start=window.test_start, end=window.test_end - pd.Timedelta(1, "us"))
        result = simulate(frames, chosen, test, fold_models)
        runs.append(FoldRun(result.trades, result.equity, result.exposure_pct))
    return runs


def ml_study(
    candles: Mapping[str, pd.DataFrame],
    timeframe: str,
    windows: Sequence[Window],
    fills: FillModel,
    pass_fraction: float,
) -> tuple[WalkForward, WalkForward, LiftVerdict]:
    """(without the filter, with it, the verdict) for the default playbook on `timeframe`."""
    chosen = playbook(DEFAULT_PLAYBOOK)
    config = SuccessTrainingConfig(num_threads=1)
    dataset = build_dataset(candles, chosen, timeframe, candidate_features(), CandidateScope.ACCEPTED,
                            LabelConfig(fills=fills))  # fmt: skip
    verdict = walk_forward_lift(dataset.samples, config, pass_fraction, windows)
    features = candidate_features().table
    filters = [
        [] if fold is None else [FoldSuccessFilter(fold, features)]
        for fold in fold_filters(dataset.samples, windows, config, pass_fraction)
    ]
    frames = decide_frames(candles, chosen, timeframe)
    labels = [chosen.label] * len(windows)
    configs = [()] * len(windows)
    without = stitch(_fold_runs(frames, chosen, timeframe, windows, fills, [[]] * len(windows)), labels, configs)
    with_filter = stitch(_fold_runs(frames, chosen, timeframe, windows, fills, filters), labels, configs)
    return without, with_filter, verdict


def format_ml(name: str, without: WalkForward, with_filter: WalkForward, verdict: LiftVerdict) -> str:
    rows = [row(f"{name} (fixed default)", without.summary), row(f"{name} + success filter (walk-forward)",
                                                                 with_filter.summary)]  # fmt: skip
    state = "on" if verdict.active else "off"
    return f"{markdown(rows)}\n\nsuccess filter by default: {state}, {verdict.reason()}"


def main(argv: Sequence[str] | None = None) -> int:
    cli = parser("python -m ml.research")
    cli.add_argument("--ml-timeframe", default="1h", help="timeframe of the ML filter's walk-forward")
    cli.add_argument("--pass-fraction", type=float, default=0.5, help="share of candidates the filter passes")
    args = cli.parse_args(argv)
    ready = setup(args)
    study = run_study(ready.markets, ready.spaces, ready.windows, ready.fills, sys.stderr.isatty(), args.jobs)
    print(format_study(study))
    if args.ml_timeframe not in ready.markets:
        raise SystemExit(f"--ml-timeframe {args.ml_timeframe} is not among --timeframes")
    candles = ready.markets[args.ml_timeframe]
    without, with_filter, verdict = ml_study(candles, args.ml_timeframe, ready.windows, ready.fills, args.pass_fraction)
    name = f"{DEFAULT_PLAYBOOK} {args.ml_timeframe}"
    table = format_ml(name, without, with_filter, verdict)
    print(f"\nML success filter on the default playbook, same folds:\n\n{table}")
    extra: dict[str, Any] = {
        "ml": {
            "playbook": playbook(DEFAULT_PLAYBOOK).label,
            "timeframe": args.ml_timeframe,
            "without": without.summary.to_dict(),
            "with_filter": with_filter.summary.to_dict(),
            "verdict": verdict.to_json(),
        }
    }
    if args.json:
        write_json(study, args.json, extra)
    if args.plot:
        plot(study, args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

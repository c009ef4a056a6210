"""Backtests of every configuration of a playbook's grid, and walk-forward results
stitched from them. Every run is the backtester's (`decide_frames` once, `simulate` per
window): the research has no rules of its own.

Per configuration: one continuous run over the whole sample (its trades are what the
train windows are judged on, each window seeing only the trades inside it) and one run
per test window, starting flat with the same equity and closing what is open at the
window's end. Sizing is proportional to equity, so a test window's curve scales to any
starting equity: the stitched curve chains them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from core.backtest.research.spaces import PlaybookSpace
from core.backtest.research.stats import Summary, summarize
from core.backtest.research.walkforward import Chooser, Config, Window, choose_per_window, plateau_chooser
from core.backtest.simulation import BacktestConfig, decide_frames, simulate
from core.ports import SignalModel
from core.risk.portfolio import ClosedTrade
from core.rules.fills import FillModel

INITIAL_EQUITY = 10_000.0


@dataclass(frozen=True, slots=True)
class FoldRun:
    """One configuration on one test window."""

    trades: list[ClosedTrade]
    equity: pd.Series  # from INITIAL_EQUITY, marked per candle
    exposure_pct: float


@dataclass(frozen=True, slots=True)
class ConfigRuns:
    config: Config
    label: str
    history: list[ClosedTrade]  # the continuous run over the whole sample
    folds: list[FoldRun]  # one per window


def evaluate_config(
    space: PlaybookSpace,
    config: Config,
    candles: Mapping[str, pd.DataFrame],
    timeframe: str,
    windows: Sequence[Window],
    fills: FillModel,
    models: Sequence[SignalModel] = (),
) -> ConfigRuns:
    """The continuous run and every test-window run of one configuration."""
    playbook = space.build(config)
    frames = decide_frames(candles, playbook, timeframe)
    base = BacktestConfig(timeframe=timeframe, initial_equity=INITIAL_EQUITY, fills=fills)
    history = simulate(frames, playbook, base, models).trades
    folds = []
    for window in windows:
        test = dataclasses.replace(base, start=window.test_start, end=window.test_end - pd.Timedelta(1, "us"))
        result = simulate(frames, playbook, test, models)
        folds.append(FoldRun(result.trades, result.equity, result.exposure_pct))
    return ConfigRuns(config, playbook.label, history, folds)


@dataclass(frozen=True, slots=True)
class WalkForward:
    """Test windows of the configurations chosen on their train windows, stitched."""

    chosen: list[Config]
    labels: list[str]
    returns_pct: list[float]  # per trade, after fees
    equity: pd.Series
    summary: Summary


def stitch(runs: Sequence[FoldRun], labels: Sequence[str], chosen: Sequence[Config]) -> WalkForward:
    """Chain the folds' runs: each starts where the previous one ended."""
    level = INITIAL_EQUITY
    curves: list[pd.Series] = []
    returns: list[float] = []
    pnls: list[float] = []
    exposure_weighted, candles = 0.0, 0
    for run in runs:
        scale = level / INITIAL_EQUITY
        curve = run.equity * scale
        start = pd.Series([level], index=[run.equity.index[0] - pd.Timedelta(seconds=1)])
        curves += [start, curve] if not curves else [curve]
        returns += [t.pnl_pct for t in run.trades]
        pnls += [t.pnl * scale for t in run.trades]
        exposure_weighted += run.exposure_pct * len(run.equity)
        candles += len(run.equity)
        level = float(curve.iloc[-1])
    equity = pd.concat(curves)
    summary = summarize(returns, pnls, equity, exposure_weighted / candles if candles else 0.0)
    return WalkForward(list(chosen), list(labels), returns, equity, summary)


def walk_forward(
    space: PlaybookSpace, runs: Mapping[Config, ConfigRuns], windows: Sequence[Window], choose: Chooser | None = None
) -> WalkForward:
    """Choose on each train window (the plateau by default), score on its test window."""
    choose = choose or plateau_chooser(space.grid, space.default)
    allowed = set(space.grid.configs())
    history = {config: r.history for config, r in runs.items() if config in allowed}
    chosen = choose_per_window(windows, history, choose)
    folds = [runs[config].folds[i] for i, config in enumerate(chosen)]
    return stitch(folds, [runs[config].label for config in chosen], chosen)


def fixed(runs: ConfigRuns) -> WalkForward:
    """One configuration on every test window (no choice: a reference, or the default)."""
    return stitch(runs.folds, [runs.label] * len(runs.folds), [runs.config] * len(runs.folds))

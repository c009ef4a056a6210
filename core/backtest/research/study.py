"""The whole research: every playbook's grid on every timeframe, walked forward, each
switch (filter, exit style) measured by forcing it one way then the other, the
benchmarks beside, and what the evidence recommends as the defaults.

A switch earns its place when the walk-forward with it forced on has a higher
out-of-sample expectancy than with it forced off (everything else still chosen on the
train windows); the exit style likewise (fixed targets against the trailing exit). The
recommended numbers are the plateau choice over the whole sample's trades, with the
switches so set: for a deployment all of the sample is past, and a longer history
chooses more steadily than the last six months alone (the walk-forward rows, not this
choice, are the out-of-sample result).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from tqdm import tqdm

from core.backtest.research.benchmarks import Benchmark, buy_and_hold, daily, trend_reference
from core.backtest.research.pool import evaluate_all
from core.backtest.research.runs import INITIAL_EQUITY, ConfigRuns, WalkForward, walk_forward
from core.backtest.research.spaces import PlaybookSpace
from core.backtest.research.walkforward import Config, Window, plateau_chooser, trades_within
from core.rules.fills import FillModel
from core.timeframes import timeframe_delta


@dataclass(frozen=True, slots=True)
class PlaybookStudy:
    playbook: str
    timeframe: str
    walk_forward: WalkForward  # every choice made on the train windows
    switches: dict[str, dict[Any, WalkForward]]  # axis -> forced value -> walk-forward
    recommended: Config
    recommended_label: str


@dataclass(frozen=True, slots=True)
class Study:
    windows: list[Window]
    playbooks: list[PlaybookStudy]
    benchmarks: list[Benchmark]
    configurations: int
    seconds: float


def _expectancy(result: WalkForward) -> float:
    value = result.summary.expectancy_pct
    return value if math.isfinite(value) else -math.inf


def recommend(
    space: PlaybookSpace,
    runs: Mapping[Config, ConfigRuns],
    switches: Mapping[str, Mapping[Any, WalkForward]],
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> Config:
    """Each switch at the value with the higher out-of-sample expectancy (on a tie a
    filter stays off), then the plateau choice on the trades between `start` and `end`."""
    restricted = space
    for axis, by_value in switches.items():
        ranked = sorted(by_value.items(), key=lambda item: (_expectancy(item[1]), _prefer_off(item[0])), reverse=True)
        restricted = restricted.restricted(axis, ranked[0][0])
    history = {config: trades_within(r.history, start, end) for config, r in runs.items()}
    return plateau_chooser(restricted.grid, restricted.default)(history)


def _prefer_off(value: Any) -> int:
    """Tie-break: a filter that does not raise the expectancy stays off."""
    return 1 if value is False else 0


def study_playbook(
    space: PlaybookSpace, timeframe: str, runs: Mapping[Config, ConfigRuns], windows: Sequence[Window]
) -> PlaybookStudy:
    """The walk-forward, the switches and the recommendation from every configuration's runs."""
    switches = {
        axis: {value: walk_forward(space.restricted(axis, value), runs, windows) for value in space.grid.axes[axis]}
        for axis in space.switches
    }
    chosen = recommend(space, runs, switches, windows[0].train_start, windows[-1].test_end)
    result = walk_forward(space, runs, windows)
    return PlaybookStudy(space.name, timeframe, result, switches, chosen, runs[chosen].label)


def run_study(
    markets: Mapping[str, Mapping[str, pd.DataFrame]],
    spaces: Sequence[PlaybookSpace],
    windows: Sequence[Window],
    fills: FillModel,
    progress: bool = True,
    jobs: int = 1,
) -> Study:
    """`markets`: timeframe -> symbol -> candles. Benchmarks on daily candles of the
    finest timeframe given. `jobs` worker processes run the backtests."""
    started = time.perf_counter()
    total = sum(len(s.grid.configs()) for s in spaces) * len(markets)
    runs: dict[tuple[str, str], dict[Config, ConfigRuns]] = {}
    with tqdm(total=total, unit="config", file=sys.stderr, disable=not progress) as bar:
        for (name, timeframe, config), result in evaluate_all(spaces, markets, windows, fills, jobs):
            runs.setdefault((name, timeframe), {})[config] = result
            bar.set_postfix_str(f"{name} {timeframe}", refresh=False)
            bar.update()
    studies = [study_playbook(s, tf, runs[(s.name, tf)], windows) for tf in markets for s in spaces]
    finest = min(markets, key=lambda tf: timeframe_delta(tf))
    days = daily(markets[finest])
    start, end = windows[0].test_start, windows[-1].test_end
    benchmarks = [
        buy_and_hold(days, start, end, INITIAL_EQUITY, fills),
        trend_reference(days, start, end, INITIAL_EQUITY, fills),
    ]
    return Study(list(windows), studies, benchmarks, total, time.perf_counter() - started)

"""Walk-forward windows and the choice made on each train window.

Rolling windows: train on `train_months`, test on the `test_months` right after, move
both by `step_months`. A test window never overlaps its train window, and every choice
for it is made from trades that entered and exited inside the train window (a trade
still open at the train window's end is not seen: its exit lies in the test window).

The choice is a plateau, not a peak: each configuration of a grid is scored on the
train trades (a t-statistic of the per-trade returns, so a few lucky trades do not
win), and the configuration whose own score averaged with its neighbours' (one step
along one ordered axis) is best is chosen.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from core.risk.portfolio import ClosedTrade

#: A configuration: (axis, value) pairs in the grid's axis order (hashable, ordered).
Config = tuple[tuple[str, Any], ...]


@dataclass(frozen=True, slots=True)
class Window:
    """One fold: [train_start, train_end) then [test_start, test_end), ends exclusive."""

    index: int
    train_start: pd.Timestamp
    train_end: pd.Timestamp
    test_start: pd.Timestamp
    test_end: pd.Timestamp

    def describe(self) -> dict[str, str]:
        return {
            "train": f"{self.train_start:%Y-%m-%d}..{self.train_end - pd.Timedelta(days=1):%Y-%m-%d}",
            "test": f"{self.test_start:%Y-%m-%d}..{self.test_end - pd.Timedelta(days=1):%Y-%m-%d}",
        }


def rolling_windows(
    first: pd.Timestamp, end: pd.Timestamp, train_months: int = 6, test_months: int = 2, step_months: int = 2
) -> list[Window]:
    """Every fold whose test window ends by `end` (exclusive), the first training from
    `first` (taken to the start of its day)."""
    if min(train_months, test_months, step_months) <= 0:
        raise ValueError("train, test and step must be positive numbers of months")
    start = first.normalize()
    windows: list[Window] = []
    for k in itertools.count():
        train_start = start + pd.DateOffset(months=k * step_months)
        train_end = train_start + pd.DateOffset(months=train_months)
        test_end = train_end + pd.DateOffset(months=test_months)
        if test_end > end:
            return windows
        windows.append(Window(k, train_start, train_end, train_end, test_end))
    raise AssertionError("unreachable")


def trades_within(trades: Iterable[ClosedTrade], start: pd.Timestamp, end: pd.Timestamp) -> list[ClosedTrade]:
    """Trades that entered at or after `start` and exited before `end`."""
    return [t for t in trades if start <= pd.Timestamp(t.entry_time) and pd.Timestamp(t.exit_time) < end]


def trade_score(trades: Sequence[ClosedTrade], min_trades: int = 10) -> float:
    """t-statistic of the per-trade returns after fees, mean / sd x sqrt(n); -inf with
    fewer than `min_trades` trades (not enough to judge), 0 for identical returns."""
    if len(trades) < min_trades:
        return -math.inf
    returns = np.array([t.pnl_pct for t in trades])
    sd = returns.std(ddof=1)
    return float(returns.mean() / sd * math.sqrt(len(returns))) if sd > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Grid:
    """The choices of a playbook: each axis's values in order; `ordered` axes (numbers)
    make neighbours for the plateau, the others (switches, exit styles) do not."""

    axes: Mapping[str, tuple[Any, ...]]
    ordered: frozenset[str] = field(default_factory=frozenset)

    def configs(self) -> list[Config]:
        names = list(self.axes)
        return [tuple(zip(names, values, strict=True)) for values in itertools.product(*self.axes.values())]

    def neighbours(self, config: Config) -> list[Config]:
        """Configurations one step away along one ordered axis."""
        out = []
        for position, (name, value) in enumerate(config):
            if name not in self.ordered:
                continue
            values = self.axes[name]
            at = values.index(value)
            for step in (at - 1, at + 1):
                if 0 <= step < len(values):
                    moved = list(config)
                    moved[position] = (name, values[step])
                    out.append(tuple(moved))
        return out

    def restricted(self, axis: str, value: Any) -> Grid:
        """The same grid with `axis` fixed to `value`."""
        return Grid({**self.axes, axis: (value,)}, self.ordered)


def plateau_choice(grid: Grid, scores: Mapping[Config, float], fallback: Config) -> Config:
    """The eligible configuration (finite score) with the best mean score over itself and
    its neighbours (a neighbour without a finite score counts as 0, no edge); `fallback`
    when none is eligible. Ties go to the earlier configuration in grid order."""
    best, best_value = fallback, -math.inf
    for config in grid.configs():
        own = scores.get(config, -math.inf)
        if not math.isfinite(own):
            continue
        around = [scores.get(n, -math.inf) for n in grid.neighbours(config)]
        value = float(np.mean([own, *(s if math.isfinite(s) else 0.0 for s in around)]))
        if value > best_value:
            best, best_value = config, value
    return best


Chooser = Callable[[Mapping[Config, Sequence[ClosedTrade]]], Config]


def choose_per_window(
    windows: Sequence[Window], history: Mapping[Config, Sequence[ClosedTrade]], choose: Chooser
) -> list[Config]:
    """For each window, `choose` from each configuration's trades inside its train
    window only (see `trades_within`)."""
    chosen = []
    for window in windows:
        start, end = window.train_start, window.train_end
        chosen.append(choose({config: trades_within(trades, start, end) for config, trades in history.items()}))
    return chosen


def plateau_chooser(grid: Grid, fallback: Config, min_trades: int = 10) -> Chooser:
    """`plateau_choice` over `trade_score`s: the walk-forward's default chooser."""

    allowed = set(grid.configs())

    def choose(seen: Mapping[Config, Sequence[ClosedTrade]]) -> Config:
        scores = {config: trade_score(trades, min_trades) for config, trades in seen.items() if config in allowed}
        return plateau_choice(grid, scores, fallback)

    return choose

"""Every configuration's backtests, in one process or spread over worker processes.

Workers receive the candles, windows and fills once (the pool's initializer) and then
only (playbook name, timeframe, configuration) per task; a playbook is rebuilt in the
worker from the registry of research spaces by its name, so only registered spaces run
in parallel (any space runs in-process with `jobs=1`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pandas as pd

from core.backtest.research.runs import ConfigRuns, evaluate_config
from core.backtest.research.spaces import PlaybookSpace, spaces
from core.backtest.research.walkforward import Config, Window
from core.rules.fills import FillModel

Task = tuple[str, str, Config]  # playbook, timeframe, configuration

#: What the initializer hands a worker process (its own copy: nothing is shared back).
_worker: dict[str, Any] = {}


def _init(markets: Mapping[str, Mapping[str, pd.DataFrame]], windows: Sequence[Window], fills: FillModel) -> None:
    _worker.update(markets=markets, windows=windows, fills=fills, spaces=spaces())


def _run(task: Task) -> tuple[Task, ConfigRuns]:
    name, timeframe, config = task
    space = _worker["spaces"][name]
    return task, evaluate_config(space, config, _worker["markets"][timeframe], timeframe, _worker["windows"],
                                 _worker["fills"])  # fmt: skip


def evaluate_all(
    chosen: Sequence[PlaybookSpace],
    markets: Mapping[str, Mapping[str, pd.DataFrame]],
    windows: Sequence[Window],
    fills: FillModel,
    jobs: int = 1,
) -> Iterator[tuple[Task, ConfigRuns]]:
    """Each (task, runs) as it finishes (in task order with one job)."""
    tasks = [(s.name, tf, config) for tf in markets for s in chosen for config in s.grid.configs()]
    registered = spaces()
    parallel = jobs > 1 and all(s.name in registered and s.grid == registered[s.name].grid for s in chosen)
    if not parallel:
        by_name = {s.name: s for s in chosen}
        for name, timeframe, config in tasks:
            runs = evaluate_config(by_name[name], config, markets[timeframe], timeframe, windows, fills)
            yield (name, timeframe, config), runs
        return
    with ProcessPoolExecutor(jobs, initializer=_init, initargs=(markets, windows, fills)) as pool:
        yield from pool.map(_run, tasks, chunksize=2)

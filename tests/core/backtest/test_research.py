"""The research's plumbing: folds stitched by compounding, the chosen configuration's
test window used for each fold, benchmarks worked by hand, and a small study end to end
through the real backtester."""

import json

import numpy as np
import pandas as pd
import pytest

from core.backtest.data import SAMPLE_DIR, load_markets
from core.backtest.research.benchmarks import buy_and_hold, trend_reference
from core.backtest.research.report import format_study, plot, write_json
from core.backtest.research.runs import ConfigRuns, FoldRun, stitch, walk_forward
from core.backtest.research.spaces import PlaybookSpace, spaces
from core.backtest.research.study import run_study
from core.backtest.research.walkforward import Grid, rolling_windows
from core.risk.portfolio import ClosedTrade
from core.rules.fills import FillModel


def curve(start: str, values: list[float]) -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="D", tz="UTC"))


def closed(pnl: float, pnl_pct: float) -> ClosedTrade:
    at = pd.Timestamp("2018-01-01", tz="UTC").to_pydatetime()
    return ClosedTrade("X/USD", "long", at, 1.0, at, 1.0, 1.0, pnl, pnl_pct, "tp1", 0.0)


def test_folds_are_stitched_by_compounding():
    first = FoldRun([closed(1_000.0, 10.0)], curve("2018-01-01", [10_000.0, 11_000.0]), 50.0)
    second = FoldRun([closed(-500.0, -5.0)], curve("2018-01-03", [9_500.0, 9_500.0]), 0.0)
    result = stitch([first, second], ["a", "b"], [(("k", 1),), (("k", 2),)])
    # the second fold starts from 11 000: its -5 % is -550 in the stitched curve
    assert result.equity.tolist() == [10_000.0, 10_000.0, 11_000.0, 10_450.0, 10_450.0]
    assert result.summary.return_pct == pytest.approx(4.5)
    assert result.summary.profit_factor == pytest.approx(1_000.0 / 550.0)
    assert result.summary.expectancy_pct == pytest.approx(2.5)
    assert result.summary.max_drawdown_pct == pytest.approx(5.0)
    assert result.summary.exposure_pct == pytest.approx(25.0)  # 50 % of 2 candles, 0 % of 2


def test_each_fold_scores_the_configuration_chosen_on_its_train_window():
    windows = rolling_windows(pd.Timestamp("2018-01-01", tz="UTC"), pd.Timestamp("2018-05-01", tz="UTC"), 2, 1, 1)
    assert len(windows) == 2
    grid = Grid({"k": (1, 2)})
    space = PlaybookSpace("toy", grid, lambda config: None, (("k", 1),), ())  # type: ignore[arg-type,return-value]

    def runs_for(k: int, good_in: str) -> ConfigRuns:
        win = pd.Timestamp(good_in, tz="UTC").to_pydatetime()
        history = [ClosedTrade("X", "long", win, 1, win, 1, 1, 10.0 + i, 1.0 + i * 0.1, "tp1", 0) for i in range(12)]
        folds = [FoldRun([closed(float(k), float(k))], curve(str(w.test_start.date()), [10_000.0, 10_000.0 + k]), 0.0)
                 for w in windows]  # fmt: skip
        return ConfigRuns((("k", k),), f"k={k}", history, folds)

    # k=1 traded in January (inside fold 0's train window only), k=2 in March (fold 1's only)
    runs = {(("k", 1),): runs_for(1, "2018-01-15"), (("k", 2),): runs_for(2, "2018-03-15")}
    result = walk_forward(space, runs, windows)
    assert result.chosen == [(("k", 1),), (("k", 2),)]
    assert result.returns_pct == [1.0, 2.0]  # fold 0 scored with k=1's test run, fold 1 with k=2's


def days(opens: list[float], closes: list[float], start: str = "2018-01-01") -> pd.DataFrame:
    index = pd.date_range(start, periods=len(opens), freq="D", tz="UTC")
    return pd.DataFrame({"open": opens, "high": closes, "low": opens, "close": closes, "volume": 1.0}, index=index)


def test_buy_and_hold_worked_by_hand():
    fills = FillModel(fee_rate=0.001, slippage_pct=0.05)
    market = {"A/USD": days([100.0, 105.0, 110.0], [104.0, 109.0, 120.0]), "B/USD": days([10.0] * 3, [10.0] * 3)}
    start, end = pd.Timestamp("2018-01-01", tz="UTC"), pd.Timestamp("2018-01-04", tz="UTC")
    result = buy_and_hold(market, start, end, 1_000.0, fills)
    # A: 500 buys 500 / (100.05 x 1.001) units, sold at 120 x 0.9995 less 0.1 %
    units_a = 500.0 / (100.05 * 1.001)
    back_a = units_a * 120.0 * 0.9995 * 0.999
    units_b = 500.0 / (10.005 * 1.001)
    back_b = units_b * 10.0 * 0.9995 * 0.999
    assert result.equity.iloc[-1] == pytest.approx(back_a + back_b)
    assert result.summary.trades == 2 and result.summary.exposure_pct == 100.0
    assert result.summary.return_pct == pytest.approx((back_a + back_b) / 10.0 - 100.0)


def test_the_trend_reference_holds_after_a_close_above_its_average():
    fills = FillModel(fee_rate=0.0, slippage_pct=0.0)
    # 3-day average; closes 10, 10, 10, 13, 14, 9, 9: above it at day 3 (13 > 11) and 4 (14 > 12.3)
    closes = [10.0, 10.0, 10.0, 13.0, 14.0, 9.0, 9.0]
    opens = [10.0, 10.0, 10.0, 10.0, 13.0, 14.0, 9.0]
    market = {"A/USD": days(opens, closes)}
    start, end = pd.Timestamp("2018-01-01", tz="UTC"), pd.Timestamp("2018-01-08", tz="UTC")
    result = trend_reference(market, start, end, 100.0, fills, sma_days=3)
    # held on days 4 and 5 (decided at the closes of days 3 and 4): bought at 13, sold at day 6's open 9
    assert result.summary.trades == 1
    assert result.summary.expectancy_pct == pytest.approx((9.0 / 13.0 - 1.0) * 100.0)
    assert result.equity.iloc[-1] == pytest.approx(100.0 * 9.0 / 13.0)


def test_a_small_study_end_to_end(tmp_path):
    """Two coins at 4h, one playbook with a two-configuration grid, through the real
    backtester: every fold chosen, the table printed, JSON and PNG written."""
    markets = {"4h": load_markets(SAMPLE_DIR, ["BTC/USD", "ETH/USD"], "4h")}
    full = spaces()["donchian"]
    grid = Grid({"channel_days": (5.0, 10.0), "atr": (5.0,), "mtf": (False,), "exit": ("trail",)},
                frozenset({"channel_days"}))  # fmt: skip
    space = PlaybookSpace("donchian", grid, full.build, grid.configs()[1], ("exit",))
    windows = rolling_windows(pd.Timestamp("2017-10-01", tz="UTC"), pd.Timestamp("2019-04-01", tz="UTC"))
    study = run_study(markets, [space], windows, FillModel(), progress=False)

    [result] = study.playbooks
    assert len(result.walk_forward.chosen) == 6 and set(result.walk_forward.chosen) <= set(grid.configs())
    assert result.walk_forward.summary.trades == len(result.walk_forward.returns_pct) > 0
    assert result.walk_forward.equity.index.is_monotonic_increasing
    assert result.walk_forward.equity.index[1] >= windows[0].test_start
    text = format_study(study)
    assert "donchian 4h" in text and "buy & hold" in text and "trend reference" in text
    write_json(study, tmp_path / "r.json")
    payload = json.loads((tmp_path / "r.json").read_text())
    assert payload["playbooks"][0]["walk_forward"]["summary"]["trades"] == result.walk_forward.summary.trades
    assert len(payload["windows"]) == 6
    plot(study, tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
    assert np.isfinite(result.walk_forward.summary.max_drawdown_pct)


def test_a_worker_rebuilds_the_playbook_by_name_and_runs_the_same_backtests():
    from core.backtest.research import pool
    from core.backtest.research.runs import evaluate_config

    markets = {"4h": load_markets(SAMPLE_DIR, ["BTC/USD"], "4h")}
    windows = rolling_windows(pd.Timestamp("2017-10-01", tz="UTC"), pd.Timestamp("2018-08-01", tz="UTC"))
    space = spaces()["tsmom"]
    pool._init(markets, windows, FillModel())
    task, in_worker = pool._run(("tsmom", "4h", space.default))
    here = evaluate_config(space, space.default, markets["4h"], "4h", windows, FillModel())
    assert task == ("tsmom", "4h", space.default)
    assert in_worker.history == here.history and in_worker.label == here.label
    assert [f.trades for f in in_worker.folds] == [f.trades for f in here.folds]

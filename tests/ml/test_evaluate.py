"""The evaluation command: one table of four backtests, each the backtester's own run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from core.backtest.data import load_candles
from core.backtest.simulation import BacktestConfig, run_backtest
from core.signals.playbooks import hybrid_playbook
from ml.evaluate import COLUMNS, VARIANTS, main, model_vetoes
from ml.registry import load_models
from ml.train import TrainOutcome
from tests.ml.conftest import DATA

ARGS = ["--data", str(DATA), "--symbols", "BTC/USD,ETH/USD,XRP/USD", "--end", "2018-08-15"]


def test_prints_one_table_of_the_four_variants(
    trained: TrainOutcome, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = tmp_path / "table.json"
    code = main([*ARGS, "--models", str(trained.directory.parent), "--start", "2018-07-01", "--json", str(figures)])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    # the playbook the set was trained for (hybrid here), with its variant
    assert out[0].startswith("hybrid(filters=mtf+volume, exit=trail) on BTC/USD, ETH/USD, XRP/USD 1h, 2018-07-01 00:00")
    assert "trained on candles up to 2018-06-30 23:00" in out[0] and "IN-SAMPLE" not in out[0]
    header = [cell.strip() for cell in out[1].strip("|").split("|")]
    assert header == ["variant", *COLUMNS]
    assert [line.split("|")[1].strip() for line in out[3:7]] == list(VARIANTS)
    assert out[7].startswith("signals before the models: ")
    table = json.loads(figures.read_text())
    assert list(table) == list(VARIANTS)

    # The "no ML" row is the plain backtest; "both" is the backtest with both models.
    loaded = {s: load_candles(DATA, s, "1h") for s in ("BTC/USD", "ETH/USD", "XRP/USD")}
    config = BacktestConfig(
        start=pd.Timestamp("2018-07-01", tz="UTC"), end=pd.Timestamp("2018-08-15 23:59:59", tz="UTC")
    )
    plain = run_backtest(loaded, hybrid_playbook(), config)
    both = run_backtest(loaded, hybrid_playbook(), config, load_models(trained.directory))
    assert table["no ML"]["trades"] == plain.metrics.n_trades
    assert table["both models"]["trades"] == both.metrics.n_trades
    assert table["both models"]["win rate %"] == pytest.approx(both.metrics.win_rate, nan_ok=True)
    assert model_vetoes(plain) == 0


def test_refuses_a_period_the_models_trained_on(trained: TrainOutcome, capsys: pytest.CaptureFixture[str]) -> None:
    models = ["--models", str(trained.directory.parent)]
    with pytest.raises(SystemExit, match="is not after the models' training data"):
        main([*ARGS, *models, "--start", "2018-06-01"])
    assert main([*ARGS, *models, "--start", "2018-06-01", "--allow-overlap"]) == 0
    assert "IN-SAMPLE" in capsys.readouterr().out


def test_missing_models_stop_the_command(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no usable models .* is not a directory"):
        main([*ARGS, "--models", str(tmp_path / "absent"), "--start", "2018-07-01"])

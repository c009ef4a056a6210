"""The training CLI on a slice of the sample data: a loadable set with the promised
metadata, the cut-off respected, deterministic for a seed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import torch

from ml.registry import load_models
from ml.spec import PRICE_INPUTS, SUCCESS_FEATURES
from ml.train import TrainOutcome, main, train
from tests.ml.conftest import DATA, SLICE_UNTIL, slice_request


def _manifest(outcome: TrainOutcome) -> dict:
    return json.loads((outcome.directory / "metadata.json").read_text())


def test_the_set_loads_as_the_engines_models(trained: TrainOutcome) -> None:
    models = load_models(trained.directory.parent, timeframe="1h")
    assert [m.name for m in models] == ["lightgbm_success", "gru_price"]
    assert load_models(trained.directory)[0].name == "lightgbm_success"  # a set directory works too
    assert trained.directory.name == "20250301T120000Z"
    assert not (trained.directory.parent / ".incoming").exists()


def test_metadata_says_what_the_set_learnt_from_and_how_well(trained: TrainOutcome) -> None:
    training = _manifest(trained)["training"]
    assert training["timeframe"] == "1h" and training["symbols"] == ["BTC/USD", "ETH/USD", "XRP/USD"]
    assert training["until"] == "2018-07-01T00:00:00+00:00" and training["seed"] == 7
    assert training["data"]["BTC/USD"] == {"first": "2018-01-01T00:00:00+00:00", "last": "2018-06-30T23:00:00+00:00"}
    assert training["dataset"]["samples"] == len(trained.dataset.samples) > 50  # longs only (spot)
    folds = training["success"]["cv_folds"]
    assert len(folds) == 3
    for fold in folds:
        assert {"auc", "logloss", "precision_at_threshold", "pass_rate", "win_rate_passed", "accepted_auc"} <= set(fold)
    price_scores = training["price"]["scores"]
    assert {"val_mae_pct", "naive_mae_pct", "val_direction_accuracy", "persistence_direction_accuracy"} <= set(
        price_scores
    )
    assert {"python", "lightgbm", "torch", "numpy", "pandas", "scikit-learn"} <= set(training["library_versions"])
    assert training["command"].startswith("python -m ml.train --data ")

    success, price = trained.model_set.success.metadata, trained.model_set.price.metadata
    assert success.feature_names == SUCCESS_FEATURES and price.feature_names == PRICE_INPUTS
    assert success.data_end is not None and success.data_end < SLICE_UNTIL
    assert price.data_end is not None and price.data_end < SLICE_UNTIL
    assert {"cv_auc", "cv_logloss", "cv_precision_at_threshold", "val_auc"} <= set(success.scores)
    assert success.params["cv_folds"] == folds
    assert success.params["final_model"] == "refit on every sample"
    # calibrated: the threshold passes the top half of the out-of-fold probabilities, no profit floor
    thresholds = success.params["thresholds"]
    assert thresholds["min_expected_profit"] is None and 0.0 < thresholds["min_win_probability"] < 1.0
    assert success.scores["cv_pass_rate"] == pytest.approx(0.5, abs=0.15)
    assert {"contrarian_direction_accuracy", "best_naive_direction_accuracy", "beats_naive"} <= set(price_scores)
    verdict = training["walk_forward"]
    assert verdict["active"] is False and "reason" in verdict  # half a year holds too few out-of-time candidates


def test_same_seed_same_models(trained: TrainOutcome, tmp_path: Path) -> None:
    again = train(slice_request(tmp_path, created_at=datetime(2025, 3, 2, tzinfo=UTC)))
    for name in ("classifier.txt", "regressor.txt"):
        assert (again.directory / "success" / name).read_bytes() == (trained.directory / "success" / name).read_bytes()
    first = torch.load(trained.directory / "price" / "network.pt", weights_only=True)
    second = torch.load(again.directory / "price" / "network.pt", weights_only=True)
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key])
    assert again.success.fold_scores == trained.success.fold_scores
    np.testing.assert_array_equal(
        np.load(again.directory / "price" / "scaler.npz")["input_mean"],
        np.load(trained.directory / "price" / "scaler.npz")["input_mean"],
    )


def test_cli_prints_the_folds_and_writes_the_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "--data", str(DATA), "--symbols", "BTC/USD,XRP/USD", "--timeframe", "1h", "--strategy", "hybrid",
            "--candidates", "base", "--start", "2018-01-01", "--until", "2018-05-01", "--out", str(tmp_path),
            "--cv-folds", "2", "--gru-epochs", "1", "--gru-stride", "8", "--seed", "3", "--quiet",
            "--created-at", "2025-01-02T03:04:05Z",
        ]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "success model, purged CV per fold:" in out and "precision_at_threshold" in out
    assert "vs no-change" in out and "persistence" in out
    assert (tmp_path / "20250102T030405Z" / "metadata.json").is_file()


def test_cli_refuses_too_few_candidates_with_a_message(tmp_path: Path) -> None:
    # the default playbook (a 20-day breakout, longs only) signals rarely in a falling quarter
    with pytest.raises(SystemExit, match="labelled candidates: too few to train"):
        main(
            [
                "--data", str(DATA), "--symbols", "BTC/USD", "--start", "2018-01-01", "--until", "2018-04-01",
                "--out", str(tmp_path), "--quiet",
            ]
        )  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_too_little_history(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="the engine needs more than"):
        main(
            [
                "--data", str(DATA), "--symbols", "BTC/USD", "--start", "2018-01-01", "--until", "2018-01-10",
                "--out", str(tmp_path), "--quiet",
            ]
        )  # fmt: skip
    assert list(tmp_path.iterdir()) == []

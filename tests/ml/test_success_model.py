"""LightGBM success model: thresholds, save/load round trip, metadata checks."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from ml.errors import FeatureMismatchError, ModelArtifactError
from ml.success_model import SuccessModel, SuccessThresholds
from ml.train_success import train_success_model
from tests.ml.factories import CREATED_AT, SMALL_SUCCESS, SUCCESS_FEATURES, success_dataset


@pytest.fixture(scope="module")
def trained() -> tuple[SuccessModel, object]:
    return train_success_model(success_dataset(), CREATED_AT, SMALL_SUCCESS)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, float]]:
    frame = success_dataset(n=40, seed=99).features
    return [{k: float(v) for k, v in row.items()} for _, row in frame.iterrows()]


@pytest.mark.parametrize(
    ("probability", "profit", "passed", "reason"),
    [
        (0.40, 0.50, True, "ml_success_pass"),
        (0.399, 0.50, False, "ml_success_low_probability"),
        (0.40, 0.49, False, "ml_success_low_profit"),
        (0.10, -1.0, False, "ml_success_low_probability"),  # the probability is checked first
        (0.95, 3.25, True, "ml_success_pass"),
    ],
)
def test_default_thresholds_at_and_around_the_boundary(
    probability: float, profit: float, passed: bool, reason: str
) -> None:
    assert SuccessThresholds().judge(probability, profit) == (passed, reason)


def test_thresholds_are_settable_and_validated() -> None:
    strict = SuccessThresholds(min_win_probability=0.6, min_expected_profit=1.0)
    assert strict.judge(0.59, 2.0)[0] is False
    assert strict.judge(0.6, 1.0)[0] is True
    with pytest.raises(ValueError, match="min_win_probability"):
        SuccessThresholds(min_win_probability=1.5)


def test_model_passes_exactly_at_its_own_threshold(trained, rows) -> None:  # noqa: ANN001
    model, _ = trained
    first = model.predict(rows[0])
    at = model.with_thresholds(SuccessThresholds(first.success_probability, first.expected_profit_pct))
    assert at.predict(rows[0]).passed is True
    above = model.with_thresholds(
        SuccessThresholds(float(np.nextafter(first.success_probability, 1.0)), first.expected_profit_pct)
    )
    verdict = above.predict(rows[0])
    assert verdict.passed is False
    assert verdict.reason == "ml_success_low_probability"
    assert (verdict.success_probability, verdict.expected_profit_pct) == (
        first.success_probability,
        first.expected_profit_pct,
    )


def test_training_scores_show_the_planted_signal(trained) -> None:  # noqa: ANN001
    model, report = trained
    scores = model.metadata.scores
    # success depends on `momentum`; a working pipeline separates the classes well
    assert scores["cv_auc"] > 0.75 and scores["val_auc"] > 0.75
    assert scores["cv_win_rate_passed"] > scores["cv_win_rate_all"]
    assert len(report.fold_scores) == SMALL_SUCCESS.n_splits
    importance = model.feature_importance()
    assert importance["classifier_gain"].idxmax() == "momentum"
    assert report.n_train + report.n_validation < 600  # purging removed the overlapping labels


def test_training_is_deterministic(trained, rows) -> None:  # noqa: ANN001
    model, _ = trained
    again, _ = train_success_model(success_dataset(), CREATED_AT, SMALL_SUCCESS)
    assert [p.success_probability for p in again.predict_batch(rows)] == [
        p.success_probability for p in model.predict_batch(rows)
    ]


def test_save_load_round_trip(trained, rows, tmp_path: Path) -> None:  # noqa: ANN001
    model, _ = trained
    model.save(tmp_path / "success")
    loaded = SuccessModel.load(tmp_path / "success", SUCCESS_FEATURES)
    assert loaded.predict_batch(rows) == model.predict_batch(rows)
    # thresholds calibrated on the out-of-fold probabilities: a probability floor, no profit floor
    assert loaded.thresholds == model.thresholds and model.thresholds.min_expected_profit is None
    assert 0.0 < model.thresholds.min_win_probability < 1.0
    meta = loaded.metadata
    assert meta.feature_names == SUCCESS_FEATURES
    assert meta.created_at == CREATED_AT
    assert meta.data_start == datetime(2024, 1, 1, tzinfo=UTC)
    # 600 hourly decisions from midnight; the last label ends 3 h after the last decision
    assert meta.data_end == datetime(2024, 1, 26, 2, tzinfo=UTC)
    assert meta.library_versions["lightgbm"] == "4.7.0"
    assert set(meta.files) == {"classifier.txt", "regressor.txt", "feature_importance.json"}
    assert meta.scores["cv_auc"] == pytest.approx(model.metadata.scores["cv_auc"])
    saved = json.loads((tmp_path / "success" / "feature_importance.json").read_text())
    assert saved["momentum"]["classifier_gain"] == pytest.approx(
        model.feature_importance().loc["momentum", "classifier_gain"]
    )


def test_saved_thresholds_come_back(trained, tmp_path: Path) -> None:  # noqa: ANN001
    model, _ = trained
    model.with_thresholds(SuccessThresholds(0.55, 1.25)).save(tmp_path / "m")
    assert SuccessModel.load(tmp_path / "m", SUCCESS_FEATURES).thresholds == SuccessThresholds(0.55, 1.25)


@pytest.mark.parametrize(
    "expected",
    [
        ("momentum", "volatility", "noise_a"),  # one fewer
        ("momentum", "volatility", "noise_a", "noise_b", "rsi"),  # one more
        ("volatility", "momentum", "noise_a", "noise_b"),  # same names, other order
    ],
)
def test_load_refuses_other_features(trained, tmp_path: Path, expected: tuple[str, ...]) -> None:  # noqa: ANN001
    model, _ = trained
    model.save(tmp_path / "m")
    with pytest.raises(FeatureMismatchError, match="features do not match"):
        SuccessModel.load(tmp_path / "m", expected)


def test_load_refuses_a_changed_file(trained, tmp_path: Path) -> None:  # noqa: ANN001
    model, _ = trained
    model.save(tmp_path / "m")
    booster = tmp_path / "m" / "classifier.txt"
    booster.write_text(booster.read_text().replace("learning_rate", "learning_rate ", 1))
    with pytest.raises(ModelArtifactError, match="checksum"):
        SuccessModel.load(tmp_path / "m", SUCCESS_FEATURES)


def test_load_refuses_missing_or_foreign_metadata(trained, tmp_path: Path) -> None:  # noqa: ANN001
    model, _ = trained
    with pytest.raises(ModelArtifactError, match="missing"):
        SuccessModel.load(tmp_path, SUCCESS_FEATURES)
    model.save(tmp_path / "m")
    meta_path = tmp_path / "m" / "metadata.json"
    raw = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**raw, "kind": "price"}))
    with pytest.raises(ModelArtifactError, match="holds a 'price' model"):
        SuccessModel.load(tmp_path / "m", SUCCESS_FEATURES)
    meta_path.write_text(json.dumps({**raw, "format_version": 99}))
    with pytest.raises(ModelArtifactError, match="format version 99"):
        SuccessModel.load(tmp_path / "m", SUCCESS_FEATURES)


def test_predict_refuses_wrong_inputs(trained, rows) -> None:  # noqa: ANN001
    model, _ = trained
    missing = dict(rows[0])
    del missing["noise_b"]
    with pytest.raises(ValueError, match=r"missing \['noise_b'\]"):
        model.predict(missing)
    with pytest.raises(ValueError, match=r"unexpected \['typo'\]"):
        model.predict({**rows[0], "typo": 1.0})
    frame = success_dataset(n=3).features
    with pytest.raises(ValueError, match="one row"):
        model.predict(frame)
    assert model.predict(frame.iloc[[1]]) == model.predict_batch(frame)[1]
    assert model.predict_batch([]) == []


def test_nan_features_are_allowed_as_missing_values(trained, rows) -> None:  # noqa: ANN001
    model, _ = trained
    prediction = model.predict({**rows[0], "noise_a": math.nan})
    assert 0.0 <= prediction.success_probability <= 1.0

"""LightGBM success model: probability that a candidate reaches its target before its
stop, and its expected return, with the seeds' pass thresholds.

The model class only predicts, saves and loads; training lives in `ml.train_success`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

from ml.artifacts import ModelMetadata, check_features, read_metadata, require_files, write_metadata
from ml.errors import ModelArtifactError

KIND = "success"
CLASSIFIER_FILE = "classifier.txt"
REGRESSOR_FILE = "regressor.txt"
IMPORTANCE_FILE = "feature_importance.json"

#: Reasons of the success filter's opinions: categories, never numbers (metric labels).
LOW_PROBABILITY = "ml_success_low_probability"
LOW_PROFIT = "ml_success_low_profit"
PASSED = "ml_success_pass"


@dataclass(frozen=True, slots=True)
class SuccessThresholds:
    """A candidate passes when both values reach their minimum (inclusive); no profit
    floor when `min_expected_profit` is None (thresholds calibrated by training have none)."""

    min_win_probability: float = 0.40
    min_expected_profit: float | None = 0.50  # percent

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_win_probability <= 1.0:
            raise ValueError(f"min_win_probability must be in [0, 1], got {self.min_win_probability}")

    def to_json(self) -> dict[str, float | None]:
        return {"min_win_probability": self.min_win_probability, "min_expected_profit": self.min_expected_profit}

    def judge(self, success_probability: float, expected_profit_pct: float) -> tuple[bool, str]:
        """(passed, reason) for one prediction; the reason is a category (the numbers are
        in the prediction): the probability is checked first."""
        if success_probability < self.min_win_probability:
            return False, LOW_PROBABILITY
        if self.min_expected_profit is not None and expected_profit_pct < self.min_expected_profit:
            return False, LOW_PROFIT
        return True, PASSED


@dataclass(frozen=True, slots=True)
class SuccessPrediction:
    """The model's view of one candidate."""

    success_probability: float
    expected_profit_pct: float
    passed: bool
    reason: str


class SuccessModel:
    """A LightGBM classifier (success probability) and regressor (expected return %)."""

    def __init__(
        self,
        classifier: lgb.Booster,
        regressor: lgb.Booster,
        metadata: ModelMetadata,
        thresholds: SuccessThresholds | None = None,
    ) -> None:
        names = tuple(metadata.feature_names)
        for label, booster in (("classifier", classifier), ("regressor", regressor)):
            if tuple(booster.feature_name()) != names:
                raise ModelArtifactError(f"{label} features {booster.feature_name()} differ from metadata")
        self._classifier = classifier
        self._regressor = regressor
        self.metadata = metadata
        self.thresholds = thresholds or _thresholds_from(metadata)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return self.metadata.feature_names

    def with_thresholds(self, thresholds: SuccessThresholds) -> SuccessModel:
        """The same boosters judged by other thresholds."""
        return SuccessModel(self._classifier, self._regressor, self.metadata, thresholds)

    def predict(self, features: Mapping[str, float] | pd.DataFrame) -> SuccessPrediction:
        """Predict one candidate from a feature mapping or a one-row DataFrame."""
        if isinstance(features, pd.DataFrame):
            if len(features) != 1:
                raise ValueError(f"predict takes one row, got {len(features)}; use predict_batch")
            return self.predict_batch(features)[0]
        return self.predict_batch([features])[0]

    def predict_batch(self, rows: pd.DataFrame | Sequence[Mapping[str, float]]) -> list[SuccessPrediction]:
        """Predict many candidates in one call per booster."""
        matrix = self._matrix(rows)
        if len(matrix) == 0:
            return []
        # One thread: a scan is ~100 rows, too few to pay for waking an OpenMP team.
        probabilities = self._classifier.predict(matrix, num_threads=1)
        profits = self._regressor.predict(matrix, num_threads=1)
        predictions = []
        for probability, profit in zip(probabilities, profits, strict=True):
            passed, reason = self.thresholds.judge(float(probability), float(profit))
            predictions.append(SuccessPrediction(float(probability), float(profit), passed, reason))
        return predictions

    def feature_importance(self) -> pd.DataFrame:
        """Gain and split counts per feature, for the classifier and the regressor."""
        return pd.DataFrame(
            {
                "classifier_gain": self._classifier.feature_importance("gain"),
                "classifier_split": self._classifier.feature_importance("split"),
                "regressor_gain": self._regressor.feature_importance("gain"),
                "regressor_split": self._regressor.feature_importance("split"),
            },
            index=pd.Index(self.feature_names, name="feature"),
        )

    def save(self, directory: Path) -> None:
        """Write the boosters as LightGBM text files, the feature importance and
        `metadata.json` into `directory` (created; must not hold a model already)."""
        directory.mkdir(parents=True, exist_ok=False)
        self._classifier.save_model(directory / CLASSIFIER_FILE)
        self._regressor.save_model(directory / REGRESSOR_FILE)
        importance = self.feature_importance().to_dict(orient="index")
        (directory / IMPORTANCE_FILE).write_text(json.dumps(importance, indent=2) + "\n", encoding="utf-8")
        params = {**self.metadata.params, "thresholds": self.thresholds.to_json()}
        metadata = dataclasses.replace(self.metadata, params=params)
        self.metadata = write_metadata(
            directory, metadata, [CLASSIFIER_FILE, REGRESSOR_FILE, IMPORTANCE_FILE]
        )

    @classmethod
    def load(cls, directory: Path, expected_features: Sequence[str]) -> SuccessModel:
        """Load a saved model; refuse it unless its features equal `expected_features`."""
        metadata = read_metadata(directory, KIND)
        require_files(metadata, directory, [CLASSIFIER_FILE, REGRESSOR_FILE])
        check_features(metadata, expected_features)
        try:
            classifier = lgb.Booster(model_file=directory / CLASSIFIER_FILE)
            regressor = lgb.Booster(model_file=directory / REGRESSOR_FILE)
        except lgb.basic.LightGBMError as exc:
            raise ModelArtifactError(f"{directory}: LightGBM cannot read the model: {exc}") from exc
        return cls(classifier, regressor, metadata)

    def _matrix(self, rows: pd.DataFrame | Sequence[Mapping[str, float]]) -> np.ndarray:
        names = self.feature_names
        if isinstance(rows, pd.DataFrame):
            _check_names(names, rows.columns)
            return rows.loc[:, list(names)].to_numpy(dtype=float)
        matrix = np.empty((len(rows), len(names)), dtype=float)
        for i, row in enumerate(rows):
            _check_names(names, row.keys())
            matrix[i] = [row[name] for name in names]
        return matrix


def _check_names(expected: tuple[str, ...], given: object) -> None:
    given_set = set(given)  # type: ignore[call-overload]
    if given_set != set(expected):
        missing = sorted(set(expected) - given_set)
        unexpected = sorted(given_set - set(expected))
        raise ValueError(f"features do not match the model: missing {missing}, unexpected {unexpected}")


def _thresholds_from(metadata: ModelMetadata) -> SuccessThresholds:
    saved = metadata.params.get("thresholds")
    if not isinstance(saved, Mapping):
        raise ModelArtifactError("success model metadata has no thresholds")
    floor = saved.get("min_expected_profit")
    return SuccessThresholds(float(saved["min_win_probability"]), None if floor is None else float(floor))

"""Training of the LightGBM success model with purged validation.

1. Hold out the last `validation_size` of the samples (purged of label overlap). Train
   the classifier and the regressor on the rest with early stopping on that hold-out.
2. Score the method by purged K-fold cross-validation with an embargo, each fold trained
   for the number of rounds early stopping chose in step 1.
3. The kept model: with `refit` off, the one from step 1 (it never saw the hold-out's
   labels, so its `val_*` scores are its own); with `refit` on, the same parameters and
   round counts trained again on every sample, so the newest candidates count too (its
   scores are then the method's: `cv_*`, and `val_*` of the step-1 model).

Scores are written into the model's metadata: `val_*` from the hold-out (slightly
optimistic: it also chose the round count), `cv_*` the mean over the folds, and each
fold's scores in `params["cv_folds"]`. With an evaluation subset (e.g. the candidates the
engine's filters accepted, when training on every base-strategy candidate), the folds are
also scored on that subset alone: `cv_<subset>_*`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score
from tqdm import tqdm

from ml.artifacts import ModelMetadata, library_versions
from ml.purged_cv import PurgedKFold, purged_train_test_indices
from ml.success_model import KIND, SuccessModel, SuccessThresholds


@dataclass(frozen=True, slots=True)
class SuccessDataset:
    """Labelled candidates in time order: one row per candidate."""

    features: pd.DataFrame  # columns = feature names
    success: np.ndarray  # bool
    return_pct: np.ndarray  # realised return, percent
    decision_time: pd.DatetimeIndex  # open time of the decision candle, UTC
    label_end_time: pd.DatetimeIndex  # open time of the candle that decided the outcome

    def __post_init__(self) -> None:
        n = len(self.features)
        sizes = {len(self.success), len(self.return_pct), len(self.decision_time), len(self.label_end_time)}
        if sizes != {n}:
            raise ValueError(f"dataset columns have different lengths: {sorted(sizes | {n})}")
        if self.decision_time.tz is None or self.label_end_time.tz is None:
            raise ValueError("decision_time and label_end_time must be timezone-aware")
        if not self.decision_time.is_monotonic_increasing:
            raise ValueError("samples must be sorted by decision_time")
        if np.any(self.label_end_time < self.decision_time):
            raise ValueError("a label ends before its decision candle")
        if not np.all(np.isfinite(self.return_pct)):
            raise ValueError("return_pct has NaN or infinite values: drop incomplete labels first")

    def __len__(self) -> int:
        return len(self.features)


@dataclass(frozen=True, slots=True)
class SuccessTrainingConfig:
    """Validation layout and LightGBM parameters, kept small for 2 CPU cores."""

    n_splits: int = 5
    purge_gap: int = 1
    embargo_pct: float = 0.01
    validation_size: float = 0.2
    num_boost_round: int = 400
    early_stopping_rounds: int = 30
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_data_in_leaf: int = 20
    feature_fraction: float = 0.9
    bagging_fraction: float = 0.8
    lambda_l2: float = 1.0
    seed: int = 42
    num_threads: int = 2
    refit: bool = False  # keep a model trained on every sample (see the module docstring)
    pass_fraction: float = 0.5  # calibrated threshold: the top share of out-of-fold probabilities passes

    def booster_params(self, objective: str, metric: str) -> dict[str, object]:
        return {
            "objective": objective,
            "metric": metric,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "lambda_l2": self.lambda_l2,
            "seed": self.seed,
            "num_threads": self.num_threads,
            "deterministic": True,
            "force_col_wise": True,
            "verbosity": -1,
        }


@dataclass(frozen=True, slots=True)
class SuccessTrainingReport:
    """What training found: hold-out and cross-validation scores, rounds chosen."""

    scores: dict[str, float]
    fold_scores: list[dict[str, float]]
    best_iteration_classifier: int
    best_iteration_regressor: int
    n_train: int
    n_validation: int


def train_success_model(
    dataset: SuccessDataset,
    created_at: datetime,
    config: SuccessTrainingConfig | None = None,
    thresholds: SuccessThresholds | None = None,
    evaluation_subset: tuple[str, np.ndarray] | None = None,
    progress: bool = False,
) -> tuple[SuccessModel, SuccessTrainingReport]:
    """Train, validate and cross-validate; return the model (metadata filled) and a report.

    `thresholds`: fixed ones; by default they are calibrated on these samples: the
    probability threshold passes the top `config.pass_fraction` of the purged
    out-of-fold probabilities, with no floor on the expected profit (a fixed floor the
    model's outputs rarely reach vetoes everything). `evaluation_subset`: (name, boolean
    mask over the samples) scored on its own in each fold as `cv_<name>_*`."""
    config = config or SuccessTrainingConfig()
    names = [str(name) for name in dataset.features.columns]
    X, y, r = dataset.features.to_numpy(dtype=float), dataset.success.astype(float), dataset.return_pct.astype(float)
    train, validation = purged_train_test_indices(
        len(dataset), config.validation_size, config.purge_gap, dataset.decision_time, dataset.label_end_time
    )
    if len(train) == 0:
        raise ValueError("no training samples remain after purging the validation set")
    classifier = _fit_early_stopped(X, y, train, validation, names, config, "binary", "binary_logloss")
    regressor = _fit_early_stopped(X, r, train, validation, names, config, "regression", "l2")
    rounds = (classifier.current_iteration(), regressor.current_iteration())
    folds = _cross_validate(X, y, r, dataset, names, config, rounds, progress)
    if thresholds is None:
        out_of_fold = np.concatenate([probability for _, probability, _, _ in folds])
        thresholds = SuccessThresholds(float(np.quantile(out_of_fold, 1.0 - config.pass_fraction)), None)
    held = X[validation]
    val_scores = _scores(y[validation], r[validation], _predict(classifier, held), _predict(regressor, held),
                         thresholds)  # fmt: skip
    fold_scores = [
        _fold_scores(y, r, test, p, profit, thresholds, evaluation_subset) | {"n_train": float(n_train)}
        for test, p, profit, n_train in folds
    ]
    if config.refit:
        every = np.arange(len(dataset))
        classifier = _fit(X, y, every, names, config, "binary", "binary_logloss", rounds[0])
        regressor = _fit(X, r, every, names, config, "regression", "l2", rounds[1])
    scores = {f"val_{k}": v for k, v in val_scores.items()}
    scores |= {
        f"cv_{k}": _nanmean([fold[k] for fold in fold_scores])
        for k in fold_scores[0]
        if not k.endswith(("n_train", "n_test"))
    }
    params = {
        "training": asdict(config),
        "best_iteration_classifier": rounds[0],
        "best_iteration_regressor": rounds[1],
        "validation_start": dataset.decision_time[validation[0]].isoformat(),
        "final_model": "refit on every sample" if config.refit else "trained without the hold-out",
        "cv_folds": [{k: _finite_or_none(v) for k, v in fold.items()} for fold in fold_scores],
        "thresholds": thresholds.to_json(),
    }
    model = SuccessModel(classifier, regressor, _metadata(dataset, created_at, names, scores, params), thresholds)
    return model, SuccessTrainingReport(scores, fold_scores, rounds[0], rounds[1], len(train), len(validation))


def _metadata(
    dataset: SuccessDataset, created_at: datetime, names: list[str], scores: dict[str, float], params: dict[str, Any]
) -> ModelMetadata:
    return ModelMetadata(
        kind=KIND,
        created_at=created_at,
        feature_names=tuple(names),
        data_start=dataset.decision_time[0].to_pydatetime(),
        data_end=dataset.label_end_time.max().to_pydatetime(),
        n_samples=len(dataset),
        scores=scores,
        params=params,
        library_versions=library_versions(),
    )


def _cross_validate(
    X: np.ndarray,
    y: np.ndarray,
    r: np.ndarray,
    dataset: SuccessDataset,
    names: list[str],
    config: SuccessTrainingConfig,
    rounds: tuple[int, int],
    progress: bool,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, int]]:
    """Purged K-fold: (test rows, probabilities, expected profits, train size) per fold, each fold's
    models trained with the round counts early stopping chose."""
    out = []
    splitter = PurgedKFold(config.n_splits, config.purge_gap, config.embargo_pct)
    folds = splitter.split(X, timestamps=dataset.decision_time, label_end=dataset.label_end_time)
    bar = tqdm(folds, desc="success CV", total=config.n_splits, unit="fold", disable=not progress, file=sys.stderr)
    for fold_train, fold_test in bar:
        fold_clf = _fit(X, y, fold_train, names, config, "binary", "binary_logloss", rounds[0])
        fold_reg = _fit(X, r, fold_train, names, config, "regression", "l2", rounds[1])
        out.append((fold_test, _predict(fold_clf, X[fold_test]), _predict(fold_reg, X[fold_test]), len(fold_train)))
    return out


def _fold_scores(
    y: np.ndarray,
    r: np.ndarray,
    test: np.ndarray,
    probability: np.ndarray,
    profit: np.ndarray,
    thresholds: SuccessThresholds,
    evaluation_subset: tuple[str, np.ndarray] | None,
) -> dict[str, float]:
    fold = _scores(y[test], r[test], probability, profit, thresholds) | {"n_test": float(len(test))}
    if evaluation_subset is not None:
        label, mask = evaluation_subset
        inside = np.asarray(mask, dtype=bool)[test]
        subset = _scores(y[test][inside], r[test][inside], probability[inside], profit[inside], thresholds)
        fold |= {f"{label}_{k}": v for k, v in subset.items()} | {f"{label}_n_test": float(inside.sum())}
    return fold


def _fit_early_stopped(
    X: np.ndarray,
    target: np.ndarray,
    train: np.ndarray,
    validation: np.ndarray,
    names: list[str],
    config: SuccessTrainingConfig,
    objective: str,
    metric: str,
) -> lgb.Booster:
    train_set = lgb.Dataset(X[train], target[train], feature_name=names, free_raw_data=True)
    valid_set = lgb.Dataset(X[validation], target[validation], reference=train_set)
    booster = lgb.train(
        config.booster_params(objective, metric),
        train_set,
        num_boost_round=config.num_boost_round,
        valid_sets=[valid_set],
        callbacks=[lgb.early_stopping(config.early_stopping_rounds, verbose=False)],
    )
    # Keep only the best rounds, exactly as they will be saved and loaded.
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=booster.best_iteration))


def _fit(
    X: np.ndarray,
    target: np.ndarray,
    rows: np.ndarray,
    names: list[str],
    config: SuccessTrainingConfig,
    objective: str,
    metric: str,
    rounds: int,
) -> lgb.Booster:
    train_set = lgb.Dataset(X[rows], target[rows], feature_name=names, free_raw_data=True)
    return lgb.train(config.booster_params(objective, metric), train_set, num_boost_round=rounds)


def _predict(booster: lgb.Booster, X: np.ndarray) -> np.ndarray:
    return np.asarray(booster.predict(X), dtype=float)


def _scores(
    success: np.ndarray,
    returns: np.ndarray,
    probability: np.ndarray,
    profit: np.ndarray,
    thresholds: SuccessThresholds,
) -> dict[str, float]:
    """Quality of the probabilities and of the filter the thresholds make of them."""
    if len(success) == 0:
        return dict.fromkeys(SCORE_NAMES, math.nan)
    passed = np.array([thresholds.judge(float(p), float(e))[0] for p, e in zip(probability, profit, strict=True)], bool)
    likely = probability >= thresholds.min_win_probability
    both_classes = 0 < success.sum() < len(success)
    return {
        "auc": float(roc_auc_score(success, probability)) if both_classes else math.nan,
        "logloss": float(log_loss(success, probability, labels=[0.0, 1.0])),
        "precision_at_threshold": float(success[likely].mean()) if likely.any() else math.nan,
        "brier": float(np.mean((probability - success) ** 2)),
        "mae_pct": float(np.mean(np.abs(profit - returns))),
        "win_rate_all": float(success.mean()),
        "mean_return_all": float(returns.mean()),
        "pass_rate": float(passed.mean()),
        "win_rate_passed": float(success[passed].mean()) if passed.any() else math.nan,
        "mean_return_passed": float(returns[passed].mean()) if passed.any() else math.nan,
    }


SCORE_NAMES = (
    "auc",
    "logloss",
    "precision_at_threshold",
    "brier",
    "mae_pct",
    "win_rate_all",
    "mean_return_all",
    "pass_rate",
    "win_rate_passed",
    "mean_return_passed",
)


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def scores_table(scores: Mapping[str, float]) -> str:
    """The scores as aligned `name value` lines, for the training CLI's output."""
    width = max(len(name) for name in scores)
    return "\n".join(f"{name:<{width}}  {value:.4f}" for name, value in sorted(scores.items()))

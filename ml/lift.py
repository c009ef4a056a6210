"""Does the success filter earn its place? Its walk-forward lift, out of time.

On rolling windows over the labelled candidates (train 6 months, test the next 2, step
2), a classifier is trained on the train window's candidates only (decided and closed
inside it), its pass threshold calibrated there (the top `pass_fraction` of its purged
out-of-fold probabilities), and it then scores the test window's candidates, which it
never saw. Pooled over the folds:

- the out-of-time AUC of its probabilities against the realised outcome (R > 0);
- the expectancy (mean realised return per trade after fees) of the candidates it
  passes, against all of them.

The set is active by default only when the lift is real: AUC > 0.55 over at least 300
out-of-time candidates, and the expectancy with the filter at least the one without
(`LiftVerdict.active`). Otherwise the bot runs without it and says why.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from core.backtest.research.walkforward import Window, rolling_windows
from core.ports import Candidate, ModelOpinion
from ml.purged_cv import PurgedKFold
from ml.success_model import LOW_PROBABILITY, PASSED
from ml.train_success import SuccessDataset, SuccessTrainingConfig

MIN_AUC = 0.55
MIN_CANDIDATES = 300
MIN_TRAIN = 40  # candidates a fold needs to train on
ROUNDS = 60  # boosting rounds of a fold's classifier (no hold-out to stop on: kept small)


@dataclass(frozen=True, slots=True)
class LiftVerdict:
    auc: float
    candidates: int  # out-of-time candidates scored
    passed: int  # of which the filter passed
    expectancy_with_pct: float
    expectancy_without_pct: float
    folds: int  # folds with enough candidates to train

    @property
    def active(self) -> bool:
        return (
            math.isfinite(self.auc)
            and self.auc > MIN_AUC
            and self.candidates >= MIN_CANDIDATES
            and self.expectancy_with_pct >= self.expectancy_without_pct
        )

    def reason(self) -> str:
        """One line: why the filter is on or off by default."""
        figures = (
            f"out-of-time AUC {self.auc:.3f} over {self.candidates} candidates, expectancy "
            f"{self.expectancy_with_pct:+.2f}% with vs {self.expectancy_without_pct:+.2f}% without"
        )
        if self.active:
            return f"walk-forward lift is real ({figures})"
        missing = []
        if not (math.isfinite(self.auc) and self.auc > MIN_AUC):
            missing.append(f"AUC not above {MIN_AUC}")
        if self.candidates < MIN_CANDIDATES:
            missing.append(f"fewer than {MIN_CANDIDATES} candidates")
        if not self.expectancy_with_pct >= self.expectancy_without_pct:
            missing.append("lower expectancy with it")
        return f"no walk-forward lift ({'; '.join(missing)}: {figures})"

    def to_json(self) -> dict[str, Any]:
        out = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}
        return out | {"active": self.active, "reason": self.reason()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LiftVerdict:
        def number(key: str) -> float:
            value = data.get(key)
            return math.nan if value is None else float(value)

        return cls(
            auc=number("auc"),
            candidates=int(data["candidates"]),
            passed=int(data["passed"]),
            expectancy_with_pct=number("expectancy_with_pct"),
            expectancy_without_pct=number("expectancy_without_pct"),
            folds=int(data["folds"]),
        )


@dataclass(frozen=True, slots=True)
class FoldFilter:
    """One fold's classifier and the threshold calibrated on its train window."""

    booster: lgb.Booster
    threshold: float
    feature_names: tuple[str, ...]

    def probabilities(self, features: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.booster.predict(features.loc[:, list(self.feature_names)].to_numpy(float)), float)


def _booster(X: np.ndarray, y: np.ndarray, names: list[str], config: SuccessTrainingConfig) -> lgb.Booster:
    params = config.booster_params("binary", "binary_logloss") | {"num_threads": 1}
    return lgb.train(params, lgb.Dataset(X, y, feature_name=names), num_boost_round=ROUNDS)


def fit_fold(samples: SuccessDataset, config: SuccessTrainingConfig, pass_fraction: float) -> FoldFilter:
    """Train on `samples`; the threshold passes the top `pass_fraction` of their purged
    out-of-fold probabilities (the model's in-sample probabilities would be overconfident)."""
    names = [str(c) for c in samples.features.columns]
    X, y = samples.features.to_numpy(float), samples.success.astype(float)
    oof = np.full(len(samples), np.nan)
    splitter = PurgedKFold(3, config.purge_gap, config.embargo_pct)
    for train, test in splitter.split(X, timestamps=samples.decision_time, label_end=samples.label_end_time):
        if len(train) and 0 < y[train].sum() < len(train):
            oof[test] = _booster(X[train], y[train], names, config).predict(X[test])
    known = oof[np.isfinite(oof)]
    threshold = float(np.quantile(known, 1.0 - pass_fraction)) if len(known) else 0.5
    return FoldFilter(_booster(X, y, names, config), threshold, tuple(names))


def _subset(samples: SuccessDataset, mask: np.ndarray) -> SuccessDataset:
    rows = np.flatnonzero(mask)
    return SuccessDataset(
        samples.features.iloc[rows].reset_index(drop=True),
        samples.success[rows],
        samples.return_pct[rows],
        samples.decision_time[rows],
        samples.label_end_time[rows],
    )


def fold_filters(
    samples: SuccessDataset, windows: Sequence[Window], config: SuccessTrainingConfig, pass_fraction: float
) -> list[FoldFilter | None]:
    """Each window's filter, trained on its train window only (None: too few candidates)."""
    out: list[FoldFilter | None] = []
    for w in windows:
        inside = (samples.decision_time >= w.train_start) & (samples.label_end_time < w.train_end)
        train = _subset(samples, np.asarray(inside))
        enough = len(train) >= MIN_TRAIN and 0 < train.success.sum() < len(train)
        out.append(fit_fold(train, config, pass_fraction) if enough else None)
    return out


def walk_forward_lift(
    samples: SuccessDataset,
    config: SuccessTrainingConfig | None = None,
    pass_fraction: float = 0.5,
    windows: Sequence[Window] | None = None,
) -> LiftVerdict:
    """The filter's lift on the candidates after each train window (see the module doc)."""
    config = config or SuccessTrainingConfig()
    if windows is None:
        end = samples.label_end_time.max() + pd.Timedelta(seconds=1)
        windows = rolling_windows(samples.decision_time[0], end)
    probabilities, passed, success, returns = [], [], [], []
    filters = fold_filters(samples, windows, config, pass_fraction)
    for w, fold in zip(windows, filters, strict=True):
        test = np.asarray((samples.decision_time >= w.test_start) & (samples.decision_time < w.test_end))
        if fold is None or not test.any():
            continue
        p = fold.probabilities(samples.features.iloc[np.flatnonzero(test)])
        probabilities.append(p)
        passed.append(p >= fold.threshold)
        success.append(samples.success[test])
        returns.append(samples.return_pct[test])
    if not probabilities:
        return LiftVerdict(math.nan, 0, 0, math.nan, math.nan, 0)
    p, ok, y, r = (np.concatenate(x) for x in (probabilities, passed, success, returns))
    auc = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else math.nan
    with_filter = float(r[ok].mean()) if ok.any() else math.nan
    return LiftVerdict(auc, len(y), int(ok.sum()), with_filter, float(r.mean()), sum(f is not None for f in filters))


class FoldSuccessFilter:
    """A fold's classifier as the engine's `SignalModel` (for the research's backtests):
    passes a candidate whose probability reaches the fold's threshold."""

    name = "lightgbm_success"

    def __init__(self, fold: FoldFilter, features_for: Any) -> None:
        self._fold = fold
        self._features_for = features_for

    def assess(self, candidates: Sequence[Candidate]) -> list[ModelOpinion]:
        if not candidates:
            return []
        p = self._fold.probabilities(self._features_for(candidates))
        return [
            ModelOpinion(bool(v >= self._fold.threshold), PASSED if v >= self._fold.threshold else LOW_PROBABILITY,
                         details={"success_probability": float(v)})  # fmt: skip
            for v in p
        ]

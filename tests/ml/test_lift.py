"""The success filter's walk-forward lift: real only with AUC > 0.55 over >= 300
out-of-time candidates and an expectancy with it at least the one without."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ml.lift import LiftVerdict, walk_forward_lift
from ml.train_success import SuccessDataset, SuccessTrainingConfig
from tests.ml.factories import SUCCESS_FEATURES

CONFIG = SuccessTrainingConfig(num_threads=1, seed=3)


def dataset(signal: float, n: int = 1100, seed: int = 0) -> SuccessDataset:
    """A candidate every 12 hours for 550 days; success depends on `momentum` with
    weight `signal` (0: pure noise); winners make +2 %, losers -1 %; each trade lasts 6 h."""
    rng = np.random.default_rng(seed)
    features = pd.DataFrame(rng.normal(size=(n, len(SUCCESS_FEATURES))), columns=list(SUCCESS_FEATURES))
    success = signal * features["momentum"].to_numpy() + rng.normal(size=n) > 0.3
    times = pd.date_range("2018-01-01", periods=n, freq="12h", tz="UTC")
    return SuccessDataset(features, success, np.where(success, 2.0, -1.0), times, times + pd.Timedelta(hours=6))


def test_a_predictive_feature_makes_a_real_lift():
    verdict = walk_forward_lift(dataset(signal=2.0), CONFIG, pass_fraction=0.5)
    assert verdict.folds == 6 and verdict.candidates >= 300
    assert verdict.auc > 0.7
    assert verdict.expectancy_with_pct > verdict.expectancy_without_pct
    assert verdict.active and verdict.reason().startswith("walk-forward lift is real")
    assert verdict.passed == pytest.approx(verdict.candidates / 2, rel=0.25)  # about the top half passes


def test_noise_has_no_lift_and_says_why():
    verdict = walk_forward_lift(dataset(signal=0.0), CONFIG, pass_fraction=0.5)
    assert verdict.candidates >= 300 and abs(verdict.auc - 0.5) < 0.06
    assert not verdict.active and "AUC not above 0.55" in verdict.reason()


@pytest.mark.parametrize(
    ("auc", "candidates", "with_", "without", "active", "why"),
    [
        (0.56, 300, 0.10, 0.10, True, "real"),
        (0.55, 300, 0.30, 0.10, False, "AUC not above 0.55"),
        (0.60, 299, 0.30, 0.10, False, "fewer than 300 candidates"),
        (0.60, 400, 0.05, 0.10, False, "lower expectancy with it"),
        (math.nan, 0, math.nan, math.nan, False, "AUC not above 0.55"),
    ],
)
def test_the_rule_for_a_real_lift(auc, candidates, with_, without, active, why):
    verdict = LiftVerdict(auc, candidates, candidates // 2, with_, without, 6)
    assert verdict.active is active and why in verdict.reason()
    assert LiftVerdict.from_json(verdict.to_json()).reason() == verdict.reason()
    assert verdict.to_json()["active"] is active

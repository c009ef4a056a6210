"""The default model set in models/: valid for this code, trained before 2019, with its
calibrated threshold and its walk-forward verdict (which decides ML_FILTERS=auto)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from core.clock import ManualClock
from core.signals.playbooks import DEFAULT_PLAYBOOK
from ml.registry import engine_registry
from ml.spec import PRICE_INPUTS, SUCCESS_FEATURES

MODELS = Path(__file__).resolve().parents[2] / "models"
SYMBOLS = ["BTC/USD", "ETH/USD", "LTC/USD", "XRP/USD", "EOS/USD"]


def test_the_shipped_set_is_valid_for_this_code_and_left_2019_out() -> None:
    registry = engine_registry(MODELS, ManualClock(datetime(2030, 1, 1, tzinfo=UTC)), "1h")
    status = registry.load()
    assert status.active, status.problems  # features changed? retrain: see ml/README.md
    assert status.problems == ()
    model_set = registry.active()
    assert model_set.success.feature_names == SUCCESS_FEATURES
    assert model_set.price.input_names == PRICE_INPUTS
    until = pd.Timestamp("2019-01-01", tz="UTC")
    assert model_set.training["until"] == until.isoformat()
    assert model_set.training["symbols"] == SYMBOLS and model_set.training["seed"] == 42
    for kind in ("success", "price"):
        end = model_set.metadata(kind).data_end
        assert end is not None and pd.Timestamp(end) < until
    thresholds = model_set.success.thresholds
    assert 0.0 < thresholds.min_win_probability < 1.0 and thresholds.min_expected_profit is None  # calibrated
    assert model_set.training["strategy"] == DEFAULT_PLAYBOOK
    verdict = model_set.training["walk_forward"]
    assert {"auc", "candidates", "active", "reason"} <= verdict.keys()


def test_the_shipped_set_is_small() -> None:
    size = sum(path.stat().st_size for path in MODELS.rglob("*") if path.is_file())
    assert size < 1_000_000

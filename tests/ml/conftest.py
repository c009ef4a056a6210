"""Fixtures on the repository's real sample candles: the candles themselves and one small
model set trained on a slice of them by the training CLI (once per test session)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from core.backtest.data import load_candles
from ml.dataset import CandidateScope
from ml.train import TrainOutcome, TrainRequest, train

DATA = Path(__file__).resolve().parents[2] / "data" / "ohlcv"
SLICE_SYMBOLS = ("BTC/USD", "ETH/USD", "XRP/USD")
SLICE_START = pd.Timestamp("2018-01-01", tz="UTC")
SLICE_UNTIL = pd.Timestamp("2018-07-01", tz="UTC")
SLICE_CREATED_AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def slice_request(out: Path, created_at: datetime = SLICE_CREATED_AT, **changes: object) -> TrainRequest:
    """A small, fast training run: three symbols, half a year, few GRU samples and epochs."""
    fields: dict[str, object] = {
        "data": DATA,
        "symbols": SLICE_SYMBOLS,
        "timeframe": "1h",
        "out": out,
        "start": SLICE_START,
        "until": SLICE_UNTIL,
        "seed": 7,
        # the hybrid's every base-strategy candidate: enough samples for the training mechanics
        # on half a year of a falling market (the default playbook signals far less often)
        "strategy": "hybrid",
        "scope": CandidateScope.BASE,
        "cv_folds": 3,
        "gru_epochs": 2,
        "gru_stride": 4,
        "created_at": created_at,
        "progress": False,
    }
    fields.update(changes)
    return TrainRequest(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def sample_candles() -> dict[str, pd.DataFrame]:
    return {symbol: load_candles(DATA, symbol, "1h") for symbol in ("BTC/USD", "ETH/USD", "XRP/USD", "LTC/USD")}


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainOutcome:
    """A model set trained by `ml.train.train` on the slice, in its own MODEL_DIR."""
    return train(slice_request(tmp_path_factory.mktemp("models")))

"""The runtime the bot uses: loud when models are missing or refused, swaps only for a set
at least as good, retrains in a child process and swaps without a restart."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
import torch

from core.clock import ManualClock
from core.errors import UnknownSymbol
from core.exchange.replay import resample
from core.ports import Candidate
from core.signals.engine import SignalPipeline
from core.signals.filters import PASS
from core.signals.playbooks import hybrid_playbook
from ml.registry import ModelSet, open_model_set, save_model_set
from ml.runtime import NO_MODEL, ModelRuntime, SwappableModel, load_active_models
from ml.train import TrainOutcome
from tests.ml.conftest import SLICE_START, SLICE_UNTIL
from tests.ml.factories import price_model, success_model, with_scores

NOW = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)
RETRAIN_ARGS = ("--cv-folds", "3", "--gru-epochs", "1", "--gru-stride", "8")


class SliceMarketData:
    """Closed candles of the training slice, the newest `limit` of them."""

    def __init__(self, candles: dict[str, pd.DataFrame]) -> None:
        self._candles = {s: c[(c.index >= SLICE_START) & (c.index < SLICE_UNTIL)] for s, c in candles.items()}

    def symbols(self) -> Sequence[str]:
        return list(self._candles)

    async def candles(self, symbol: str, timeframe: str, limit: int) -> pd.DataFrame:
        if symbol not in self._candles or timeframe != "1h":
            raise UnknownSymbol(f"no {symbol} {timeframe}")
        return self._candles[symbol].iloc[-limit:]

    async def last_price(self, symbol: str) -> float:
        return float(self._candles[symbol]["close"].iloc[-1])


@pytest.fixture(scope="module")
def candidates(sample_candles: dict[str, pd.DataFrame]) -> list[Candidate]:
    """Engine candidates after the slice (what a scan hands the models)."""
    candles = sample_candles["XRP/USD"].iloc[:8000]
    pipeline = SignalPipeline(hybrid_playbook(), "1h")
    frame = pipeline.decide(candles, resample(candles, "4h"))
    rows = [i for i in range(len(frame)) if frame["side"].iloc[i] != 0 and frame["reason"].iloc[i] == PASS]
    return [pipeline.candidate("XRP/USD", frame, row) for row in rows[-6:]]


def _model_dir(tmp_path: Path, *sets: Path) -> Path:
    model_dir = tmp_path / "models"
    model_dir.mkdir()
    for directory in sets:
        shutil.copytree(directory, model_dir / directory.name)
    return model_dir


def _staged(tmp_path: Path, trained: TrainOutcome, created_at: datetime, **scores: float) -> Path:
    """The trained set again, as a newer candidate with some scores changed."""
    fresh: ModelSet = open_model_set(trained.directory)
    success = {k: v for k, v in scores.items() if not k.startswith("price_")}
    price = {k.removeprefix("price_"): v for k, v in scores.items() if k.startswith("price_")}
    with_scores(fresh.success, **success)
    with_scores(fresh.price, **price)
    return save_model_set(tmp_path / "staging", fresh.success, fresh.price, created_at, dict(fresh.training))


def test_missing_model_dir_is_loud_and_vetoes(
    tmp_path: Path, candidates: list[Candidate], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        runtime = load_active_models(tmp_path / "absent", ManualClock(NOW), "1h")
    assert not runtime.active
    assert runtime.describe()[0] == "ML models: NONE ACTIVE - the ML filters cannot run"
    assert any("is not a directory" in line for line in runtime.describe())
    assert any(r.levelno == logging.ERROR and "no valid model set" in r.getMessage() for r in caplog.records)
    for model in runtime.models:
        opinions = model.assess(candidates)
        assert [(o.passed, o.reason) for o in opinions] == [(False, NO_MODEL)] * len(candidates)
    assert torch.get_num_threads() == 1


def test_models_whose_features_differ_from_the_code_are_refused(tmp_path: Path) -> None:
    created_at = datetime(2025, 3, 1, 12, tzinfo=UTC)
    toy = save_model_set(tmp_path / "toy", success_model(), price_model(), created_at, {"timeframe": "1h"})
    runtime = load_active_models(_model_dir(tmp_path, toy), ManualClock(NOW), "1h")
    assert not runtime.active
    assert "features do not match the code" in runtime.status().problems[0]


def test_models_of_another_timeframe_are_refused(tmp_path: Path, trained: TrainOutcome) -> None:
    runtime = load_active_models(_model_dir(tmp_path, trained.directory), ManualClock(NOW), "4h")
    assert not runtime.active
    assert "was trained on 1h timeframe, the engine runs on 4h" in runtime.status().problems[0]


def test_active_set_is_served_and_described(tmp_path: Path, trained: TrainOutcome, candidates: list[Candidate]) -> None:
    runtime = load_active_models(_model_dir(tmp_path, trained.directory), ManualClock(NOW), "1h")
    assert runtime.active
    lines = runtime.describe()
    assert lines[0] == "ML models: set 20250301T120000Z"
    assert lines[1].startswith("  success: age 3d 0h, data 2018-01-")
    # the first candidate comes after the hybrid playbook's 1h warm-up (256 candles = 10 days 16 h)
    first = pd.Timestamp(lines[1].split("data ")[1][:10], tz="UTC")
    assert first >= (SLICE_START + pd.Timedelta(hours=255)).floor("D")
    assert lines[2].startswith("  price: age 3d 0h, data 2018-01-01..2018-06-30")
    for model in runtime.models:
        opinions = model.assess(candidates)
        assert len(opinions) == len(candidates)
        assert all(o.reason and o.reason != NO_MODEL for o in opinions)


def test_swap_only_when_at_least_as_good_on_both_models(tmp_path: Path, trained: TrainOutcome) -> None:
    runtime = load_active_models(_model_dir(tmp_path, trained.directory), ManualClock(NOW), "1h")
    auc = trained.model_set.success.metadata.score("cv_auc")
    skill = trained.model_set.price.metadata.score("mae_skill")
    before = runtime.success.current

    worse_auc = runtime.install(_staged(tmp_path, trained, datetime(2025, 3, 2, tzinfo=UTC), cv_auc=auc - 0.01))
    assert not worse_auc.swapped and worse_auc.reason.startswith("kept 20250301T120000Z: success.cv_auc")
    worse_price = runtime.install(
        _staged(tmp_path, trained, datetime(2025, 3, 3, tzinfo=UTC), cv_auc=auc + 0.1, price_mae_skill=skill - 0.01)
    )
    assert not worse_price.swapped and "price.mae_skill" in worse_price.reason
    assert "success.cv_auc" not in worse_price.reason
    assert runtime.success.current is before
    assert runtime.status().set_dir is not None and runtime.status().set_dir.name == "20250301T120000Z"

    as_good = runtime.install(_staged(tmp_path, trained, datetime(2025, 3, 4, tzinfo=UTC)))
    assert as_good.swapped, as_good.reason
    assert runtime.success.current is not before  # the engine's slot now delegates to the new set
    assert isinstance(runtime.models[0], SwappableModel)
    assert runtime.status().set_dir == tmp_path / "models" / "20250304T000000Z"
    again = load_active_models(tmp_path / "models", ManualClock(NOW), "1h")
    assert again.status().set_dir == runtime.status().set_dir  # a restart agrees


async def test_retrain_in_a_child_process_swaps_without_restart(
    tmp_path: Path, sample_candles: dict[str, pd.DataFrame], candidates: list[Candidate]
) -> None:
    runtime = load_active_models(tmp_path / "models", ManualClock(NOW), "1h")
    assert not runtime.active
    market = SliceMarketData({s: sample_candles[s] for s in ("BTC/USD", "ETH/USD")})
    slot = runtime.models[0]
    first, second = await asyncio.gather(
        runtime.retrain(market, ["BTC/USD", "ETH/USD", "DOGE/USD"], lookback=5000, train_args=RETRAIN_ARGS),
        runtime.retrain(market, ["BTC/USD"], train_args=RETRAIN_ARGS),
    )
    assert second.reason == "a retrain is already running" and not second.swapped
    assert first.swapped, first.reason
    assert first.reason.startswith("activated ") and "DOGE/USD" in first.reason  # skipped, and said so
    assert runtime.active and runtime.models[0] is slot
    assert all(o.reason != NO_MODEL for o in slot.assess(candidates))
    assert runtime.describe()[-1].startswith("  last retrain 2025-03-04 12:00 UTC: swapped (activated ")
    assert [p.name for p in (tmp_path / "models" / ".staging").iterdir()] == []
    trained_on = open_model_set(tmp_path / "models").training
    assert trained_on["symbols"] == ["BTC/USD", "ETH/USD"] and trained_on["timeframe"] == "1h"


async def test_a_failed_retrain_changes_nothing(
    tmp_path: Path, trained: TrainOutcome, sample_candles: dict[str, pd.DataFrame]
) -> None:
    runtime = load_active_models(_model_dir(tmp_path, trained.directory), ManualClock(NOW), "1h")
    before = runtime.success.current
    market = SliceMarketData({"BTC/USD": sample_candles["BTC/USD"]})
    result = await runtime.retrain(market, ["BTC/USD"], lookback=200, train_args=RETRAIN_ARGS)
    assert not result.swapped
    assert result.reason.startswith("training failed (exit 1): ml.train: BTC/USD: 200 candles")
    assert runtime.success.current is before and runtime.last_retrain == result
    assert isinstance(runtime, ModelRuntime)

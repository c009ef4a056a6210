"""The SignalModel filters: veto, pass and strength rules, with fake and real models."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import pytest

from core.models import Side, SignalLevels
from core.ports import Candidate, ModelOpinion, SignalModel
from ml.filters import PriceFilter, SuccessFilter
from ml.price_model import PricePrediction
from ml.success_model import SuccessPrediction
from ml.train_success import train_success_model
from tests.ml.factories import (
    CREATED_AT,
    PIPELINE_FEATURES,
    SMALL_SUCCESS,
    candles,
    pipeline_dataset,
    price_model,
    toy_candidate,
)

FRAME = candles(30, seed=1)


def _candidate(side: Side, symbol: str = "AAA/USDT", frame: pd.DataFrame = FRAME) -> Candidate:
    entry = float(frame["close"].iloc[-1])
    sign = side.sign
    levels = SignalLevels(side, entry, entry * (1 - 0.02 * sign), entry * (1 + 0.04 * sign), entry * (1 + 0.05 * sign))
    return Candidate(symbol, "1h", side, frame, levels, regime=None, strength=1.0)


class FakePricePredictor:
    def __init__(self, outcomes: list[PricePrediction | str]) -> None:
        self.outcomes = outcomes
        self.calls: list[int] = []

    def predict_each(self, frames: Sequence[pd.DataFrame]) -> list[PricePrediction | str]:
        self.calls.append(len(frames))
        return self.outcomes[: len(frames)]


class FakeSuccessPredictor:
    def __init__(self, predictions: list[SuccessPrediction]) -> None:
        self.predictions = predictions
        self.rows: list[dict[str, float]] = []

    def predict_batch(self, rows: pd.DataFrame) -> list[SuccessPrediction]:
        self.rows.extend(rows.to_dict(orient="records"))
        return self.predictions[: len(rows)]


@pytest.mark.parametrize(
    ("side", "change", "passed", "factor", "reason"),
    [
        (Side.LONG, -0.4, False, 1.0, "ml_price_against"),
        (Side.SHORT, 0.4, False, 1.0, "ml_price_against"),
        (Side.LONG, 0.2, True, 1.0, "ml_price_neutral"),
        (Side.LONG, -0.2, True, 1.0, "ml_price_neutral"),
        (Side.LONG, 0.45, True, 1.0, "ml_price_neutral"),  # agrees, but not above 0.5 %
        (Side.LONG, 1.0, True, 1.5, "ml_price_agrees"),  # 1 + 1.0 / 2
        (Side.SHORT, -1.2, True, 1.6, "ml_price_agrees"),  # 1 + 1.2 / 2
        (Side.LONG, 3.0, True, 2.0, "ml_price_agrees"),  # confidence capped at 1
    ],
)
def test_price_filter_rules(side: Side, change: float, passed: bool, factor: float, reason: str) -> None:
    opinion = PriceFilter(FakePricePredictor([PricePrediction.from_change(change)])).assess([_candidate(side)])[0]
    assert (opinion.passed, opinion.strength_factor, opinion.reason) == (
        passed,
        pytest.approx(factor),
        reason,
    )
    assert opinion.details["expected_change_pct"] == change


def test_price_filter_vetoes_what_it_cannot_see_and_batches() -> None:
    fake = FakePricePredictor(["needs 61 candles, got 30", PricePrediction.from_change(0.1)])
    opinions = PriceFilter(fake).assess([_candidate(Side.LONG), _candidate(Side.SHORT, "BBB/USDT")])
    assert opinions[0] == ModelOpinion(False, "ml_price_unavailable")
    assert opinions[1].passed is True
    assert fake.calls == [2]  # one call for the whole scan


def test_a_price_filter_without_an_edge_passes_everything_unasked() -> None:
    fake = FakePricePredictor([PricePrediction.from_change(-3.0)])  # a strong SELL, were it asked
    opinions = PriceFilter(fake, veto=False).assess([_candidate(Side.LONG)])
    assert opinions == [ModelOpinion(True, "ml_price_no_edge")] and fake.calls == []


def test_success_filter_maps_predictions_to_opinions() -> None:
    fake = FakeSuccessPredictor(
        [
            SuccessPrediction(0.62, 1.1, True, "ml_success_pass"),
            SuccessPrediction(0.31, 0.9, False, "ml_success_low_probability"),
        ]
    )
    seen: list[str] = []

    def features_for(candidates: Sequence[Candidate]) -> pd.DataFrame:
        seen.extend(c.symbol for c in candidates)
        return pd.DataFrame({"side_long": [1.0 if c.side is Side.LONG else 0.0 for c in candidates]})

    opinions = SuccessFilter(fake, features_for).assess([_candidate(Side.LONG), _candidate(Side.SHORT, "B")])
    assert seen == ["AAA/USDT", "B"]
    assert fake.rows == [{"side_long": 1.0}, {"side_long": 0.0}]
    assert opinions == [
        ModelOpinion(True, "ml_success_pass", details={"success_probability": 0.62, "expected_profit_pct": 1.1}),
        ModelOpinion(
            False,
            "ml_success_low_probability",
            details={"success_probability": 0.31, "expected_profit_pct": 0.9},
        ),
    ]
    assert SuccessFilter(fake, features_for).assess([]) == []


def test_real_models_end_to_end_through_the_signal_model_port() -> None:
    frames = {f"S{i}/USDT": candles(500, seed=20 + i) for i in range(3)}
    dataset = pipeline_dataset(frames)
    assert tuple(dataset.features.columns) == PIPELINE_FEATURES.names
    success, _ = train_success_model(dataset, CREATED_AT, SMALL_SUCCESS)
    price = price_model()
    scan = [toy_candidate(f"N{i}", candles(80, seed=60 + i), Side.LONG if i % 2 else Side.SHORT) for i in range(5)]
    filters: list[SignalModel] = [SuccessFilter(success, PIPELINE_FEATURES.table), PriceFilter(price)]
    by_success, by_price = (f.assess(scan) for f in filters)
    expected = success.predict_batch([PIPELINE_FEATURES(c) for c in scan])
    assert [(o.passed, o.reason) for o in by_success] == [(p.passed, p.reason) for p in expected]
    assert [o.details["expected_change_pct"] for o in by_price] == [
        p.expected_change_pct for p in price.predict_batch([c.frame for c in scan])
    ]

"""The ML filters as the engine sees them: `SignalModel`s (see core.ports).

Both are synchronous and CPU-bound; the engine calls `assess` once per scan for all the
scan's candidates, off the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Protocol

import pandas as pd

from core.models import Side
from core.ports import Candidate, ModelOpinion
from ml.price_model import Direction, PricePrediction
from ml.success_model import SuccessPrediction

log = logging.getLogger(__name__)

#: Features of a scan's candidates, one row per candidate (e.g. `CandidateFeatures.table`).
FeaturesFor = Callable[[Sequence[Candidate]], pd.DataFrame]


class SuccessPredictor(Protocol):
    """What SuccessFilter needs of a model (SuccessModel implements it)."""

    def predict_batch(self, rows: pd.DataFrame) -> list[SuccessPrediction]: ...


class PricePredictor(Protocol):
    """What PriceFilter needs of a model (PriceModel implements it)."""

    def predict_each(self, frames: Sequence[pd.DataFrame]) -> list[PricePrediction | str]: ...


_DIRECTION_SIGN = {Direction.BUY: 1.0, Direction.SELL: -1.0, Direction.NEUTRAL: 0.0}

#: Reasons of the price filter's opinions: categories, never numbers (metric labels).
PRICE_UNAVAILABLE = "ml_price_unavailable"
PRICE_AGAINST = "ml_price_against"
PRICE_AGREES = "ml_price_agrees"
PRICE_NEUTRAL = "ml_price_neutral"
PRICE_NO_EDGE = "ml_price_no_edge"  # the GRU did not beat the naive rules: it is not asked


class SuccessFilter:
    """Vetoes a candidate whose success probability or expected profit is below the
    model's thresholds."""

    name = "lightgbm_success"

    def __init__(self, model: SuccessPredictor, features_for: FeaturesFor) -> None:
        self._model = model
        self._features_for = features_for

    def assess(self, candidates: Sequence[Candidate]) -> list[ModelOpinion]:
        """One opinion per candidate, from one batch of features and one batched prediction."""
        if not candidates:
            return []
        predictions = self._model.predict_batch(self._features_for(candidates))
        return [
            ModelOpinion(
                passed=p.passed,
                reason=p.reason,
                details={
                    "success_probability": p.success_probability,
                    "expected_profit_pct": p.expected_profit_pct,
                },
            )
            for p in predictions
        ]


class PriceFilter:
    """Confirms or vetoes a candidate by the GRU's expected move.

    A long is vetoed when the GRU says SELL, a short when it says BUY; NEUTRAL passes.
    With `veto` off (a GRU that did not beat the naive direction rules out of time) every
    candidate passes and the GRU is not run.
    When the expected move exceeds `strong_move_pct` in the candidate's direction, the
    candidate's strength is multiplied by min(max_strength_factor, 1 + confidence). A
    candidate whose frame cannot feed the GRU (too short, non-finite inputs) is vetoed
    with the reason: the filter never passes what it did not look at.
    """

    name = "gru_price"

    def __init__(
        self,
        model: PricePredictor,
        strong_move_pct: float = 0.5,
        max_strength_factor: float = 2.0,
        veto: bool = True,
    ) -> None:
        self._model = model
        self.veto = veto
        self._strong_move_pct = strong_move_pct
        self._max_strength_factor = max_strength_factor

    def assess(self, candidates: Sequence[Candidate]) -> list[ModelOpinion]:
        """One opinion per candidate; all predictable frames in one forward pass."""
        if not self.veto:
            return [ModelOpinion(passed=True, reason=PRICE_NO_EDGE) for _ in candidates]
        outcomes = self._model.predict_each([c.frame for c in candidates])
        return [self._opinion(c.side, outcome) for c, outcome in zip(candidates, outcomes, strict=True)]

    def _opinion(self, side: Side, outcome: PricePrediction | str) -> ModelOpinion:
        if isinstance(outcome, str):
            log.debug("GRU cannot assess a candidate: %s", outcome)
            return ModelOpinion(passed=False, reason=PRICE_UNAVAILABLE)
        change = outcome.expected_change_pct
        details = {
            "expected_change_pct": change,
            "confidence": outcome.confidence,
            "direction": _DIRECTION_SIGN[outcome.direction],
        }
        against = (side is Side.LONG and outcome.direction is Direction.SELL) or (
            side is Side.SHORT and outcome.direction is Direction.BUY
        )
        if against:
            return ModelOpinion(passed=False, reason=PRICE_AGAINST, details=details)
        if side.sign * change > self._strong_move_pct:
            factor = min(self._max_strength_factor, 1.0 + outcome.confidence)
            return ModelOpinion(True, PRICE_AGREES, strength_factor=factor, details=details)
        return ModelOpinion(passed=True, reason=PRICE_NEUTRAL, details=details)

"""What the engine's models read: the success model's features and the GRU's inputs,
both from the frames `core.signals.engine.SignalPipeline.decide` produces.

These definitions are "the code" a saved model is checked against: the registry refuses
a model whose feature names differ from the ones built here.
"""

from __future__ import annotations

from core.signals.engine import default_higher_timeframe
from core.signals.regime import Regime
from ml.features import CandidateFeatures
from ml.price_model import PriceInputSpec

#: Scale-free indicator columns of the engine's frame, used as they are.
INDICATORS = (
    "rsi_14",
    "adx_14",
    "plus_di",
    "minus_di",
    "volume_ratio",
    "atr_pct",
    "bb_width",
    "htf_trend",  # the multi-timeframe filter's trend: +1 / -1 / 0
)
#: Price levels, as percent distance from the close.
PRICE_LEVELS = ("ema_20", "ema_50", "ema_200", "bb_upper", "bb_lower")
#: Price differences, as percent of the close.
PRICE_DELTAS = ("macd", "macd_hist")
#: Every regime the engine can report, in a fixed order for the one-hot.
REGIMES = tuple(regime.value for regime in Regime)

#: The GRU reads indicators every playbook's frame has (not htf_trend, which only
#: playbooks confirming on a higher timeframe compute).
PRICE_SPEC = PriceInputSpec(
    window=60,
    horizon=4,  # one candle of the confirmation timeframe ahead (4 h on 1 h candles)
    indicator_columns=("rsi_14", "adx_14", "atr_pct", "bb_width"),
    price_level_columns=("ema_20", "ema_50", "ema_200"),
)


def candidate_features() -> CandidateFeatures:
    """The success model's feature vector for an engine candidate."""
    return CandidateFeatures(
        INDICATORS,
        PRICE_LEVELS,
        REGIMES,
        price_delta_columns=PRICE_DELTAS,
        higher_timeframe=default_higher_timeframe,
    )


SUCCESS_FEATURES: tuple[str, ...] = candidate_features().names
PRICE_INPUTS: tuple[str, ...] = PRICE_SPEC.input_names

"""Features use the decision candle and earlier ones only."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from core.models import Side, SignalLevels
from core.ports import Candidate
from ml.features import LOOKBACK, MARKET_FEATURES, CandidateFeatures, market_features
from ml.price_model import price_inputs
from tests.ml.factories import PRICE_SPEC, candles

INDICATORS = ("rsi",)
PRICE_LEVELS = ("sma_10",)


def _scramble_after(frame: pd.DataFrame, last: int, seed: int) -> pd.DataFrame:
    """A copy whose candles after position `last` are replaced by unrelated ones."""
    other = candles(len(frame), seed=seed)
    other.index = frame.index
    changed = frame.copy()
    changed.iloc[last + 1 :] = other.iloc[last + 1 :].to_numpy() * 3.0
    return changed


@pytest.mark.parametrize("decision", [10, 30, 79])
def test_market_features_ignore_later_candles(decision: int) -> None:
    frame = candles(120, seed=5)
    full = market_features(frame, INDICATORS, PRICE_LEVELS)
    changed = market_features(_scramble_after(frame, decision, seed=9), INDICATORS, PRICE_LEVELS)
    pd.testing.assert_frame_equal(changed.iloc[: decision + 1], full.iloc[: decision + 1], check_exact=True)
    assert not changed.iloc[decision + 1 :].equals(
        full.iloc[decision + 1 :]
    )  # the scramble did change later rows
    truncated = market_features(frame.iloc[: decision + 1], INDICATORS, PRICE_LEVELS).iloc[-1]
    np.testing.assert_allclose(
        truncated.to_numpy(), full.iloc[decision].to_numpy(), rtol=1e-12, equal_nan=True
    )


@pytest.mark.parametrize("decision", [5, 40, 99])
def test_gru_inputs_ignore_later_candles(decision: int) -> None:
    frame = candles(120, seed=6)
    full = price_inputs(frame, PRICE_SPEC)
    changed = price_inputs(_scramble_after(frame, decision, seed=10), PRICE_SPEC)
    np.testing.assert_array_equal(changed[: decision + 1], full[: decision + 1])
    np.testing.assert_array_equal(price_inputs(frame.iloc[: decision + 1], PRICE_SPEC), full[: decision + 1])


def test_market_features_by_hand() -> None:
    # Two candles: 100 -> 110, the second opening Tuesday 06:00 UTC.
    frame = pd.DataFrame(
        {
            "open": [99.0, 100.0],
            "high": [101.0, 112.0],
            "low": [98.0, 99.0],
            "close": [100.0, 110.0],
            "volume": [10.0, 30.0],
            "sma_10": [100.0, 105.0],
        },
        index=pd.DatetimeIndex(["2024-01-02 05:00", "2024-01-02 06:00"], tz="UTC"),
    )
    row = market_features(frame, (), PRICE_LEVELS).iloc[-1]
    assert row["ret_1"] == pytest.approx(math.log(1.1) * 100)  # 9.531...
    assert row["range_pct"] == pytest.approx(13 / 110 * 100)
    assert row["body_pct"] == pytest.approx(10.0)
    assert row["hour_sin"] == pytest.approx(1.0)  # 06:00 is a quarter of the day
    assert row["weekday_sin"] == pytest.approx(math.sin(2 * math.pi / 7))  # Tuesday = 1
    assert row["sma_10_rel"] == pytest.approx((105 / 110 - 1) * 100)
    for name in ("ret_4", "ret_24", "volatility_24", "volume_ratio_24"):
        assert math.isnan(row[name])  # not enough history: missing, never invented


def test_candidate_features_are_the_decision_row_plus_the_trade() -> None:
    frame = candles(200, seed=7)
    decision = 150
    features = CandidateFeatures(INDICATORS, PRICE_LEVELS, regimes=("trend", "range"))
    candidate = Candidate(
        symbol="AAA/USDT",
        timeframe="1h",
        side=Side.LONG,
        frame=frame.iloc[: decision + 1],
        levels=SignalLevels(Side.LONG, entry=100.0, stop=98.0, tp1=104.0, tp2=105.0),
        regime="range",
        strength=1.3,
    )
    values = features(candidate)
    assert tuple(values) == features.names
    market = market_features(frame, INDICATORS, PRICE_LEVELS).iloc[decision]
    for name in (*MARKET_FEATURES, "rsi", "sma_10_rel"):
        assert values[name] == pytest.approx(market[name], rel=1e-12)
    # risk 2 on 100 -> 2 %; targets 4 and 5 away -> 2 R and 2.5 R
    assert {k: values[k] for k in ("side_long", "stop_pct", "tp1_r", "tp2_r", "strength")} == {
        "side_long": 1.0,
        "stop_pct": 2.0,
        "tp1_r": 2.0,
        "tp2_r": 2.5,
        "strength": 1.3,
    }
    assert (values["regime_trend"], values["regime_range"]) == (0.0, 1.0)
    assert LOOKBACK == 25


def test_unknown_regime_is_refused() -> None:
    with pytest.raises(ValueError, match="regime 'panic'"):
        CandidateFeatures(regimes=("trend",)).regime_features("panic")

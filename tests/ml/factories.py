"""Small synthetic candles, datasets and models for the ML tests and the benchmark."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from core.models import Side, SignalLevels
from core.ports import Candidate
from ml.features import LOOKBACK, CandidateFeatures
from ml.price_model import PriceInputSpec, PriceModel
from ml.success_model import SuccessModel
from ml.train_price import PriceTrainingConfig, train_price_model
from ml.train_success import SuccessDataset, SuccessTrainingConfig, train_success_model

CREATED_AT = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
PRICE_SPEC = PriceInputSpec(window=20, horizon=1, indicator_columns=("rsi",), price_level_columns=("sma_10",))
SMALL_PRICE = PriceTrainingConfig(hidden_size=8, epochs=2, patience=1, batch_size=128, seed=3)
SMALL_SUCCESS = SuccessTrainingConfig(
    n_splits=3, num_boost_round=60, early_stopping_rounds=10, min_data_in_leaf=10, num_leaves=7
)
SUCCESS_FEATURES = ("momentum", "volatility", "noise_a", "noise_b")


def candles(n: int, seed: int, start: str = "2024-01-01", freq: str = "1h") -> pd.DataFrame:
    """A random walk with mildly autocorrelated returns, a bounded 'rsi' and a 10-candle
    moving average (both computed from past candles only)."""
    rng = np.random.default_rng(seed)
    shocks = rng.normal(0.0, 0.006, n)
    returns = np.empty(n)
    returns[0] = shocks[0]
    for i in range(1, n):
        returns[i] = 0.3 * returns[i - 1] + shocks[i]
    close = 100.0 * np.exp(np.cumsum(returns))
    open_ = np.concatenate([[100.0], close[:-1]])
    spread = np.abs(rng.normal(0.0, 0.003, n)) * close
    frame = pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) + spread,
            "low": np.minimum(open_, close) - spread,
            "close": close,
            "volume": rng.uniform(50.0, 150.0, n),
        },
        index=pd.date_range(start, periods=n, freq=freq, tz="UTC"),
    )
    frame["rsi"] = 50.0 + 40.0 * np.tanh(
        pd.Series(returns, index=frame.index).rolling(5, min_periods=1).sum() * 50
    )
    frame["sma_10"] = frame["close"].rolling(10, min_periods=1).mean()
    return frame


def success_dataset(n: int = 600, seed: int = 0) -> SuccessDataset:
    """Candidates one hour apart whose success depends on `momentum`; labels last 3 hours."""
    rng = np.random.default_rng(seed)
    features = pd.DataFrame(rng.normal(size=(n, len(SUCCESS_FEATURES))), columns=list(SUCCESS_FEATURES))
    success = features["momentum"].to_numpy() + 0.7 * rng.normal(size=n) > 0.3
    return_pct = np.where(success, 2.0, -1.0) + 0.2 * features["volatility"].to_numpy()
    times = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC")
    return SuccessDataset(features, success, return_pct, times, times + pd.Timedelta(hours=3))


def success_model(created_at: datetime = CREATED_AT, seed: int = 0) -> SuccessModel:
    model, _ = train_success_model(success_dataset(seed=seed), created_at, SMALL_SUCCESS)
    return model


def price_model(created_at: datetime = CREATED_AT) -> PriceModel:
    frames = {"AAA/USDT": candles(400, seed=1), "BBB/USDT": candles(400, seed=2)}
    model, _ = train_price_model(frames, PRICE_SPEC, created_at, SMALL_PRICE)
    return model


def with_scores(model: SuccessModel | PriceModel, **scores: float) -> None:
    """Overwrite a trained model's validation scores (to stage registry comparisons)."""
    model.metadata = dataclasses.replace(model.metadata, scores={**model.metadata.scores, **scores})


PIPELINE_FEATURES = CandidateFeatures(("rsi",), ("sma_10",), regimes=("up", "down"))


def toy_candidate(symbol: str, frame: pd.DataFrame, side: Side, strength: float = 1.0) -> Candidate:
    """A candidate on the frame's last candle: stop 1 % away, targets at 2 R and 3 R."""
    entry = float(frame["close"].iloc[-1])
    sign = side.sign
    levels = SignalLevels(
        side, entry, entry * (1 - 0.01 * sign), entry * (1 + 0.02 * sign), entry * (1 + 0.03 * sign)
    )
    regime = "up" if frame["close"].iloc[-1] > frame["sma_10"].iloc[-1] else "down"
    return Candidate(symbol, "1h", side, frame, levels, regime, strength)


def pipeline_dataset(frames: dict[str, pd.DataFrame], every: int = 4, horizon: int = 12) -> SuccessDataset:
    """Labelled toy candidates (long when rsi > 50, else short, every `every` candles):
    what phase 2 builds from the engine's real candidates."""
    parts = []
    for symbol, frame in frames.items():
        decisions = np.arange(LOOKBACK, len(frame) - 1, every)
        candidates = [
            toy_candidate(symbol, frame.iloc[: d + 1], Side.LONG if frame["rsi"].iloc[d] > 50 else Side.SHORT)
            for d in decisions
        ]
        # a toy label: the side's return from the next open to the close `horizon` candles later
        keep = decisions + horizon < len(frame)
        ends = decisions[keep] + horizon
        signs = np.array([c.side.sign for c in candidates])[keep]
        opens, closes = frame["open"].to_numpy(), frame["close"].to_numpy()
        returns = signs * (closes[ends] / opens[decisions[keep] + 1] - 1.0) * 100.0
        rows = pd.DataFrame([PIPELINE_FEATURES(c) for c in candidates])[keep]
        parts.append(
            rows.assign(
                _success=returns > 0,
                _return=returns,
                _time=frame.index[decisions[keep]],
                _end=frame.index[ends],
            )
        )
    table = pd.concat(parts).sort_values("_time", kind="stable")
    return SuccessDataset(
        table[list(PIPELINE_FEATURES.names)].reset_index(drop=True),
        table["_success"].to_numpy(),
        table["_return"].to_numpy(dtype=float),
        pd.DatetimeIndex(table["_time"]),
        pd.DatetimeIndex(table["_end"]),
    )

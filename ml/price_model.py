"""GRU price model: expected change of the close over the next candle(s), from the last
`window` candles of scale-free OHLCV inputs and indicators.

Inputs per candle t use candles t and t - 1 only, so a window of 60 needs 61 candles.
The model class only predicts, saves and loads; training lives in `ml.train_price`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ml.artifacts import ModelMetadata, check_features, read_metadata, require_files, write_metadata
from ml.errors import ModelArtifactError
from ml.features import indicator_feature_names, indicator_matrix

KIND = "price"
NETWORK_FILE = "network.pt"
SCALER_FILE = "scaler.npz"
BASE_INPUTS = ("ret_close", "range_hl", "body", "volume_change")
DIRECTION_BAND_PCT = 0.3  # the seeds' band: BUY above +0.3 %, SELL below -0.3 %
FULL_CONFIDENCE_MOVE_PCT = 2.0  # confidence reaches 1 at a 2 % expected move


class Direction(enum.StrEnum):
    BUY = "BUY"
    SELL = "SELL"
    NEUTRAL = "NEUTRAL"


@dataclass(frozen=True, slots=True)
class PricePrediction:
    """The model's view of one symbol's next move."""

    expected_change_pct: float
    confidence: float  # min(|change| / 2, 1)
    direction: Direction

    @classmethod
    def from_change(cls, change_pct: float, band_pct: float = DIRECTION_BAND_PCT) -> PricePrediction:
        if change_pct > band_pct:
            direction = Direction.BUY
        elif change_pct < -band_pct:
            direction = Direction.SELL
        else:
            direction = Direction.NEUTRAL
        confidence = min(abs(change_pct) / FULL_CONFIDENCE_MOVE_PCT, 1.0)
        return cls(float(change_pct), confidence, direction)


@dataclass(frozen=True, slots=True)
class PriceInputSpec:
    """What the network reads and predicts."""

    window: int = 60
    horizon: int = 1  # predict the close `horizon` candles ahead
    indicator_columns: tuple[str, ...] = ()  # scale-free indicators, used as they are
    price_level_columns: tuple[str, ...] = ()  # price-level indicators, as % from the close

    def __post_init__(self) -> None:
        if self.window < 1 or self.horizon < 1:
            raise ValueError(f"window and horizon must be >= 1, got {self.window}, {self.horizon}")

    @property
    def input_names(self) -> tuple[str, ...]:
        return (*BASE_INPUTS, *indicator_feature_names(self.indicator_columns, self.price_level_columns))

    @property
    def candles_needed(self) -> int:
        return self.window + 1

    @property
    def columns_needed(self) -> tuple[str, ...]:
        return ("open", "high", "low", "close", "volume", *self.indicator_columns, *self.price_level_columns)

    def to_json(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "horizon": self.horizon,
            "indicator_columns": list(self.indicator_columns),
            "price_level_columns": list(self.price_level_columns),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> PriceInputSpec:
        return cls(
            window=int(raw["window"]),
            horizon=int(raw["horizon"]),
            indicator_columns=tuple(raw["indicator_columns"]),
            price_level_columns=tuple(raw["price_level_columns"]),
        )


def price_inputs(frame: pd.DataFrame | Mapping[str, np.ndarray], spec: PriceInputSpec) -> np.ndarray:
    """(n candles, n_inputs) inputs per candle; row 0 is NaN in the change columns.
    `frame`: candles with the columns `spec.columns_needed`, as a DataFrame or as arrays."""
    open_ = np.asarray(frame["open"], dtype=float)
    high = np.asarray(frame["high"], dtype=float)
    low = np.asarray(frame["low"], dtype=float)
    close = np.asarray(frame["close"], dtype=float)
    log_volume = np.log1p(np.asarray(frame["volume"], dtype=float))
    ret_close = np.full(len(close), np.nan)
    ret_close[1:] = np.diff(np.log(close)) * 100.0
    volume_change = np.full(len(close), np.nan)
    volume_change[1:] = np.diff(log_volume)
    base = np.column_stack(
        [ret_close, (high - low) / close * 100.0, (close - open_) / open_ * 100.0, volume_change]
    )
    return np.hstack([base, indicator_matrix(frame, spec.indicator_columns, spec.price_level_columns)])


@dataclass(frozen=True, slots=True)
class Standardizer:
    """Per-column mean and standard deviation, fitted on training rows only."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, rows: np.ndarray) -> Standardizer:
        """Fit on `rows` (n, k); a constant column gets std 1 so it maps to 0."""
        if len(rows) == 0 or not np.all(np.isfinite(rows)):
            raise ValueError("scaler needs at least one row of finite values")
        mean = rows.mean(axis=0)
        std = rows.std(axis=0)
        return cls(mean, np.where(std > 1e-12, std, 1.0))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.std

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return values * self.std + self.mean


class GRUNet(nn.Module):
    """GRU over the window, a linear head on the last hidden state."""

    def __init__(self, n_inputs: int, hidden_size: int = 32, num_layers: int = 1) -> None:
        super().__init__()
        self.gru = nn.GRU(n_inputs, hidden_size, num_layers=num_layers, batch_first=True)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output, _ = self.gru(x)
        return self.head(output[:, -1, :]).squeeze(-1)


class PriceModel:
    """A trained GRUNet with its input spec and scalers."""

    def __init__(
        self,
        network: GRUNet,
        spec: PriceInputSpec,
        input_scaler: Standardizer,
        target_scaler: Standardizer,
        metadata: ModelMetadata,
        band_pct: float = DIRECTION_BAND_PCT,
    ) -> None:
        if metadata.feature_names != spec.input_names:
            raise ModelArtifactError(f"metadata features {metadata.feature_names} != spec {spec.input_names}")
        self.network = network.eval()
        self.spec = spec
        self.input_scaler = input_scaler
        self.target_scaler = target_scaler
        self.metadata = metadata
        self.band_pct = band_pct

    @property
    def input_names(self) -> tuple[str, ...]:
        return self.spec.input_names

    def input_problem(self, frame: pd.DataFrame) -> str | None:
        """Why `frame` cannot be predicted from, or None if it can."""
        return self._window(frame)[1]

    def predict(self, frame: pd.DataFrame) -> PricePrediction:
        """Prediction from one frame's last candles."""
        return self.predict_batch([frame])[0]

    def predict_batch(self, frames: Sequence[pd.DataFrame]) -> list[PricePrediction]:
        """Predictions for many frames in one forward pass. Raises ValueError naming the
        first frame that cannot be predicted from (see `input_problem`)."""
        outcomes = self.predict_each(frames)
        for position, outcome in enumerate(outcomes):
            if isinstance(outcome, str):
                raise ValueError(f"frame {position}: {outcome}")
        return outcomes  # type: ignore[return-value]

    def predict_each(self, frames: Sequence[pd.DataFrame]) -> list[PricePrediction | str]:
        """Per frame, its prediction or the reason it has none (too short, missing or
        non-finite inputs). All predictable frames go through one forward pass."""
        windows: list[np.ndarray] = []
        problems: list[str | None] = []
        for frame in frames:
            window, problem = self._window(frame)
            problems.append(problem)
            if window is not None:
                windows.append(self.input_scaler.transform(window).astype(np.float32))
        changes = iter(self._forward(windows))
        return [
            PricePrediction.from_change(next(changes), self.band_pct) if problem is None else problem
            for problem in problems
        ]

    def _forward(self, windows: list[np.ndarray]) -> list[float]:
        """Expected change % per window, all windows in one forward pass."""
        if not windows:
            return []
        with torch.inference_mode():
            output = self.network(torch.from_numpy(np.stack(windows))).numpy().astype(float)
        return [float(change) for change in self.target_scaler.inverse(output[:, None])[:, 0]]

    def save(self, directory: Path) -> None:
        """Write the state dict, the scalers and `metadata.json` into a new `directory`."""
        directory.mkdir(parents=True, exist_ok=False)
        torch.save(self.network.state_dict(), directory / NETWORK_FILE)
        np.savez(
            directory / SCALER_FILE,
            input_mean=self.input_scaler.mean,
            input_std=self.input_scaler.std,
            target_mean=self.target_scaler.mean,
            target_std=self.target_scaler.std,
        )
        self.metadata = write_metadata(directory, self.metadata, [NETWORK_FILE, SCALER_FILE])

    @classmethod
    def load(cls, directory: Path, expected_inputs: Sequence[str]) -> PriceModel:
        """Load a saved model; refuse it unless its inputs equal `expected_inputs`."""
        metadata = read_metadata(directory, KIND)
        require_files(metadata, directory, [NETWORK_FILE, SCALER_FILE])
        check_features(metadata, expected_inputs)
        try:
            spec = PriceInputSpec.from_json(metadata.params["input_spec"])
            hidden_size = int(metadata.params["network"]["hidden_size"])
            num_layers = int(metadata.params["network"]["num_layers"])
            band_pct = float(metadata.params["band_pct"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelArtifactError(f"{directory}: malformed price model parameters: {exc!r}") from exc
        network = GRUNet(len(spec.input_names), hidden_size, num_layers)
        state = torch.load(directory / NETWORK_FILE, map_location="cpu", weights_only=True)
        try:
            network.load_state_dict(state)
        except RuntimeError as exc:
            raise ModelArtifactError(f"{directory}: weights do not fit the network: {exc}") from exc
        with np.load(directory / SCALER_FILE, allow_pickle=False) as scalers:
            input_scaler = Standardizer(scalers["input_mean"], scalers["input_std"])
            target_scaler = Standardizer(scalers["target_mean"], scalers["target_std"])
        if input_scaler.mean.shape != (len(spec.input_names),) or target_scaler.mean.shape != (1,):
            raise ModelArtifactError(f"{directory}: scaler shapes do not fit the inputs")
        return cls(network, spec, input_scaler, target_scaler, metadata, band_pct)

    def _window(self, frame: pd.DataFrame) -> tuple[np.ndarray | None, str | None]:
        """The unscaled input window of `frame`, or None and the reason it has none."""
        missing = [column for column in self.spec.columns_needed if column not in frame.columns]
        if missing:
            return None, f"frame lacks columns {missing}"
        if len(frame) < self.spec.candles_needed:
            return None, f"needs {self.spec.candles_needed} candles, got {len(frame)}"
        # NumPy views of the tail, not a pandas sub-frame: cheaper, and it lets the event
        # loop's thread take the GIL while this runs in a worker (see ml/README.md).
        needed = self.spec.candles_needed
        tail = {name: frame[name].to_numpy(dtype=float)[-needed:] for name in self.spec.columns_needed}
        window = price_inputs(tail, self.spec)[1:]
        finite = np.isfinite(window)
        if not finite.all():
            bad = [self.input_names[j] for j in np.flatnonzero(~finite.all(axis=0))]
            return None, f"non-finite inputs {bad} in the last {self.spec.window} candles"
        return window, None

"""Training of the GRU price model, deterministic for a given seed.

Samples: for every candle t of every symbol with a full window of finite inputs and a
known target, the window ending at t and the change of the close from t to t + horizon
in percent. The last `validation_fraction` of the samples in time (one cut-off time for
all symbols, so no symbol's validation period is another's training period) validate;
training samples whose target reaches past the first validation candle are purged. The
input scaler and the target scaler are fitted on the candles the training windows cover,
nothing later.

The report compares the network with naive baselines on the validation samples: mean
absolute error against predicting no change (the last close), direction accuracy against
persistence (the last candle's direction), contrarian (its opposite), always "up"
(`up_share`) and always "down" (1 - up_share). `beats_naive` says whether it beats all
four on the validation samples, which come after its training samples: only then may the
GRU veto a signal (`ml.registry.engine_models`).

With `refit`, the kept network is trained again, from the same seed, on every sample
(validation period included) for the number of epochs validation chose, with scalers
fitted on all the candles; the reported scores are those of the validated network.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import torch
from numpy.lib.stride_tricks import sliding_window_view
from tqdm import tqdm

from ml.artifacts import ModelMetadata, library_versions
from ml.price_model import KIND, GRUNet, PriceInputSpec, PriceModel, Standardizer, price_inputs


@dataclass(frozen=True, slots=True)
class PriceTrainingConfig:
    """Network size and optimisation, small enough for 2 CPU cores."""

    hidden_size: int = 32
    num_layers: int = 1
    epochs: int = 10
    patience: int = 3  # epochs without a better validation MAE before stopping
    batch_size: int = 256
    learning_rate: float = 3e-3
    validation_fraction: float = 0.2
    sample_stride: int = 1  # keep every k-th sample per symbol, to bound memory and time
    seed: int = 7
    # One intra-op thread: a GRU this small gains nothing from two, and two OpenMP threads
    # spin-wait badly when the other core is busy (measured: 0.04 s vs 2.6 s for a test fit).
    num_threads: int = 1
    band_pct: float = 0.3
    refit: bool = False  # keep a network trained on every sample (see the module docstring)


@dataclass(frozen=True, slots=True)
class PriceTrainingReport:
    """Validation of the trained network against naive baselines (percent units)."""

    scores: dict[str, float]
    n_train: int
    n_validation: int
    best_epoch: int
    epochs_run: int
    validation_start: datetime

    def summary(self) -> str:
        s = self.scores
        return (
            f"GRU validation on {self.n_validation} samples from {self.validation_start.isoformat()}: "
            f"MAE {s['val_mae_pct']:.4f}% vs no-change {s['naive_mae_pct']:.4f}%; "
            f"direction {s['val_direction_accuracy']:.3f} vs persistence "
            f"{s['persistence_direction_accuracy']:.3f}, contrarian {s['contrarian_direction_accuracy']:.3f}, "
            f"always-up {s['up_share']:.3f}, always-down {1 - s['up_share']:.3f} "
            f"({'beats' if s['beats_naive'] else 'does not beat'} them all: "
            f"{'may veto' if s['beats_naive'] else 'no veto'}); "
            f"outside the ±band {s['band_coverage']:.3f} of the time, right {s['band_hit_rate']:.3f} of those"
        )


@dataclass(frozen=True, slots=True)
class _SymbolSamples:
    inputs: np.ndarray  # (n_candles, n_inputs)
    decisions: np.ndarray  # candle positions t
    targets: np.ndarray  # change of the close t -> t + horizon, percent
    times: pd.DatetimeIndex  # open times of the decision candles
    index: pd.DatetimeIndex  # all candle times


def train_price_model(
    frames: Mapping[str, pd.DataFrame],
    spec: PriceInputSpec,
    created_at: datetime,
    config: PriceTrainingConfig | None = None,
    progress: bool = False,
) -> tuple[PriceModel, PriceTrainingReport]:
    """Train on candles of several symbols (DatetimeIndex, columns as `spec` needs)."""
    config = config or PriceTrainingConfig()
    if not 0.0 < config.validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must be in (0, 1), got {config.validation_fraction}")
    samples = {symbol: _samples(frame, spec, config.sample_stride) for symbol, frame in frames.items()}
    cutoff, train_parts, val_parts, scaler_rows = _split(samples, spec, config.validation_fraction)
    n_train = sum(len(d) for _, d, _ in train_parts)
    n_val = sum(len(d) for _, d, _ in val_parts)

    input_scaler = Standardizer.fit(np.concatenate(scaler_rows))
    y_train = np.concatenate([t for _, _, t in train_parts])
    target_scaler = Standardizer.fit(y_train[:, None])
    X_train = _windows(train_parts, input_scaler, spec.window)
    X_val = _windows(val_parts, input_scaler, spec.window)
    y_val = np.concatenate([t for _, _, t in val_parts])
    last_change = np.concatenate([s.inputs[d, 0] for s, d, _ in val_parts])

    with _deterministic_torch(config.seed, config.num_threads):
        network, best_epoch, epochs_run = _fit(
            X_train,
            target_scaler.transform(y_train),
            X_val,
            y_val,
            target_scaler,
            config,
            len(spec.input_names),
            progress,
        )
    predicted = _predict(network, X_val, target_scaler)
    scores = _scores(predicted, y_val, last_change, config.band_pct)
    if config.refit:
        del X_train, X_val
        network, input_scaler, target_scaler = _refit(samples, spec, config, best_epoch, progress)
    metadata = _metadata(frames, spec, created_at, config, scores, best_epoch, cutoff, n_train + n_val)
    model = PriceModel(network, spec, input_scaler, target_scaler, metadata, config.band_pct)
    report = PriceTrainingReport(scores, n_train, n_val, best_epoch, epochs_run, cutoff.to_pydatetime())
    return model, report


def _metadata(
    frames: Mapping[str, pd.DataFrame],
    spec: PriceInputSpec,
    created_at: datetime,
    config: PriceTrainingConfig,
    scores: dict[str, float],
    best_epoch: int,
    cutoff: pd.Timestamp,
    n_samples: int,
) -> ModelMetadata:
    final = f"refit on every sample for {best_epoch} epochs" if config.refit else "trained without validation"
    return ModelMetadata(
        kind=KIND,
        created_at=created_at,
        feature_names=spec.input_names,
        data_start=min(frame.index[0] for frame in frames.values()).to_pydatetime(),
        data_end=max(frame.index[-1] for frame in frames.values()).to_pydatetime(),
        n_samples=n_samples,
        scores=scores,
        params={
            "input_spec": spec.to_json(),
            "network": {"hidden_size": config.hidden_size, "num_layers": config.num_layers},
            "band_pct": config.band_pct,
            "training": asdict(config),
            "best_epoch": best_epoch,
            "final_model": final,
            "validation_start": cutoff.isoformat(),
            "symbols": sorted(frames),
        },
        library_versions=library_versions(),
    )


Parts = list[tuple["_SymbolSamples", np.ndarray, np.ndarray]]


def _split(
    samples: Mapping[str, _SymbolSamples], spec: PriceInputSpec, validation_fraction: float
) -> tuple[pd.Timestamp, Parts, Parts, list[np.ndarray]]:
    """One cut-off time for every symbol: the last `validation_fraction` of the decision
    times validate; training samples whose target reaches past the cut-off are dropped.
    Returns the cut-off, (samples, decisions, targets) for training and validation, and
    the input rows the training windows cover (what the scaler may see)."""
    all_times = np.sort(np.concatenate([s.times.as_unit("ns").asi8 for s in samples.values()]))
    if len(all_times) < 2:
        raise ValueError("not enough candles to make training and validation samples")
    cutoff = pd.Timestamp(int(all_times[int(len(all_times) * (1 - validation_fraction))]), unit="ns", tz="UTC")
    train_parts: Parts = []
    val_parts: Parts = []
    scaler_rows = []
    for s in samples.values():
        first_val_candle = int(s.index.searchsorted(cutoff))
        is_val = s.times >= cutoff
        is_train = ~is_val & (s.decisions + spec.horizon <= first_val_candle)
        train_parts.append((s, s.decisions[is_train], s.targets[is_train]))
        val_parts.append((s, s.decisions[is_val], s.targets[is_val]))
        scaler_rows.append(s.inputs[_covered_rows(len(s.inputs), s.decisions[is_train], spec.window)])
    n_train = sum(len(d) for _, d, _ in train_parts)
    n_val = sum(len(d) for _, d, _ in val_parts)
    if n_train == 0 or n_val == 0:
        raise ValueError(f"need training and validation samples, got {n_train} and {n_val}")
    return cutoff, train_parts, val_parts, scaler_rows


def _refit(
    samples: Mapping[str, _SymbolSamples],
    spec: PriceInputSpec,
    config: PriceTrainingConfig,
    epochs: int,
    progress: bool,
) -> tuple[GRUNet, Standardizer, Standardizer]:
    """A network trained on every sample for `epochs` epochs, with its scalers."""
    parts = [(s, s.decisions, s.targets) for s in samples.values()]
    scaler_rows = [s.inputs[_covered_rows(len(s.inputs), s.decisions, spec.window)] for s in samples.values()]
    input_scaler = Standardizer.fit(np.concatenate(scaler_rows))
    y_all = np.concatenate([t for _, _, t in parts])
    target_scaler = Standardizer.fit(y_all[:, None])
    X_all = _windows(parts, input_scaler, spec.window)
    fixed = dataclasses.replace(config, epochs=epochs)
    with _deterministic_torch(config.seed, config.num_threads):
        network, _, _ = _fit(
            X_all, target_scaler.transform(y_all), None, y_all, target_scaler, fixed, len(spec.input_names), progress
        )
    return network, input_scaler, target_scaler


def _samples(frame: pd.DataFrame, spec: PriceInputSpec, stride: int) -> _SymbolSamples:
    if not isinstance(frame.index, pd.DatetimeIndex) or frame.index.tz is None:
        raise ValueError("frames need a timezone-aware DatetimeIndex of candle open times")
    if not frame.index.is_monotonic_increasing or not frame.index.is_unique:
        raise ValueError("frame index must be increasing and unique")
    inputs = price_inputs(frame, spec)
    close = frame["close"].to_numpy(dtype=float)
    decisions = np.arange(spec.window, len(frame) - spec.horizon)
    bad_rows = np.concatenate([[0], np.cumsum(~np.isfinite(inputs).all(axis=1))])
    window_ok = bad_rows[decisions + 1] - bad_rows[decisions + 1 - spec.window] == 0
    targets = (close[decisions + spec.horizon] / close[decisions] - 1.0) * 100.0
    keep = window_ok & np.isfinite(targets)
    decisions, targets = decisions[keep][::stride], targets[keep][::stride]
    return _SymbolSamples(inputs, decisions, targets, frame.index[decisions], frame.index)


def _covered_rows(n_rows: int, decisions: np.ndarray, window: int) -> np.ndarray:
    """Mask of the rows inside at least one window ending at `decisions`."""
    marks = np.zeros(n_rows + 1, dtype=np.int64)
    np.add.at(marks, decisions - window + 1, 1)
    np.add.at(marks, decisions + 1, -1)
    return np.cumsum(marks[:-1]) > 0


def _windows(
    parts: list[tuple[_SymbolSamples, np.ndarray, np.ndarray]], scaler: Standardizer, window: int
) -> np.ndarray:
    chunks = []
    for s, decisions, _ in parts:
        scaled = scaler.transform(s.inputs).astype(np.float32)
        view = sliding_window_view(scaled, window, axis=0)  # (n - window + 1, n_inputs, window)
        chunks.append(np.ascontiguousarray(view[decisions - window + 1].transpose(0, 2, 1)))
    return np.concatenate(chunks)


@contextmanager
def _deterministic_torch(seed: int, num_threads: int) -> Iterator[None]:
    """Seed torch, fix its thread count and demand deterministic kernels; restore all after."""
    previous_threads = torch.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(num_threads)
        torch.use_deterministic_algorithms(True)
        try:
            yield
        finally:
            torch.set_num_threads(previous_threads)
            torch.use_deterministic_algorithms(previous_deterministic)


def _fit(
    X_train: np.ndarray,
    y_train_scaled: np.ndarray,
    X_val: np.ndarray | None,
    y_val: np.ndarray,
    target_scaler: Standardizer,
    config: PriceTrainingConfig,
    n_inputs: int,
    progress: bool = False,
) -> tuple[GRUNet, int, int]:
    """Adam on MSE of scaled targets; keep the epoch with the best validation MAE
    (without validation data, `X_val` None: train `config.epochs` epochs, keep the last)."""
    network = GRUNet(n_inputs, config.hidden_size, config.num_layers)
    optimizer = torch.optim.Adam(network.parameters(), lr=config.learning_rate)
    loss_fn = torch.nn.MSELoss()
    inputs = torch.from_numpy(X_train)
    targets = torch.from_numpy(y_train_scaled.astype(np.float32))
    order_rng = torch.Generator().manual_seed(config.seed)
    best_mae, best_state, best_epoch, epochs_run, stale = (
        math.inf,
        copy.deepcopy(network.state_dict()),
        0,
        0,
        0,
    )
    desc = "GRU" if X_val is not None else "GRU refit"
    for epoch in tqdm(range(1, config.epochs + 1), desc=desc, unit="epoch", disable=not progress, file=sys.stderr):
        network.train()
        for batch in torch.randperm(len(inputs), generator=order_rng).split(config.batch_size):
            optimizer.zero_grad()
            loss = loss_fn(network(inputs[batch]), targets[batch])
            loss.backward()
            optimizer.step()
        epochs_run = epoch
        if X_val is None:
            best_epoch = epoch
            continue
        mae = float(np.mean(np.abs(_predict(network, X_val, target_scaler) - y_val)))
        if mae < best_mae:
            best_mae, best_state, best_epoch, stale = mae, copy.deepcopy(network.state_dict()), epoch, 0
        else:
            stale += 1
            if stale >= config.patience:
                break
    if X_val is not None:
        network.load_state_dict(best_state)
    return network.eval(), best_epoch, epochs_run


def _predict(network: GRUNet, X: np.ndarray, target_scaler: Standardizer, batch: int = 4096) -> np.ndarray:
    network.eval()
    with torch.inference_mode():
        scaled = np.concatenate([network(torch.from_numpy(X[i : i + batch])).numpy() for i in range(0, len(X), batch)])
    return target_scaler.inverse(scaled.astype(float)[:, None])[:, 0]


def _scores(predicted: np.ndarray, actual: np.ndarray, last_change: np.ndarray, band_pct: float) -> dict[str, float]:
    moved = actual != 0
    outside_band = np.abs(predicted) > band_pct
    val_mae = float(np.mean(np.abs(predicted - actual)))
    naive_mae = float(np.mean(np.abs(actual)))
    accuracy = _share(np.sign(predicted[moved]) == np.sign(actual[moved]))
    persistence = _share(np.sign(last_change[moved]) == np.sign(actual[moved]))
    contrarian = _share(-np.sign(last_change[moved]) == np.sign(actual[moved]))
    up = _share(actual[moved] > 0)
    best_naive = max(persistence, contrarian, up, 1.0 - up)
    return {
        "val_mae_pct": val_mae,
        "naive_mae_pct": naive_mae,
        "mae_skill": 1.0 - val_mae / naive_mae if naive_mae > 0 else math.nan,
        "val_direction_accuracy": accuracy,
        "persistence_direction_accuracy": persistence,
        "contrarian_direction_accuracy": contrarian,
        "up_share": up,
        "best_naive_direction_accuracy": best_naive,
        # the GRU may veto only where it beats every naive rule out of time (persistence,
        # contrarian, always up, always down); 1.0 yes, 0.0 no
        "beats_naive": float(accuracy > best_naive),
        "band_coverage": _share(outside_band),
        "band_hit_rate": _share(np.sign(predicted[outside_band]) == np.sign(actual[outside_band])),
    }


def _share(hits: np.ndarray) -> float:
    """Fraction of True; NaN when there is nothing to count."""
    return float(hits.mean()) if len(hits) else math.nan

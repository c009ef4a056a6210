"""Train the engine's model set on history and write it to a model directory.

    python -m ml.train --data data/ohlcv --symbols BTC/USD,ETH/USD --timeframe 1h \
        [--start ISO] [--until ISO] --out models [--seed 42] [--strategy NAME] \
        [--candidates accepted|base] [--horizon 720] [--pass-fraction 0.5] [--cv-folds 5] \
        [--gru-epochs 10] [--gru-stride 1] [--threads 2] [--no-refit]

1. Dataset (`ml.dataset`): the playbook's candidates on each symbol's candles before
   `--until` (exclusive), features as the live filter computes them, labelled by the
   trade's realised R under the bot's own entry and exit rules (up to `--horizon` candles).
2. Success model (`ml.train_success`): purged hold-out for early stopping, purged K-fold
   CV scores (per fold: AUC, log loss, precision at the probability threshold, the filter's
   pass rate and the win rate of what it passes), the pass threshold calibrated on the
   out-of-fold probabilities (the top `--pass-fraction` passes), then the final model.
   Its walk-forward lift (`ml.lift`: train 6 months, test the next 2, out of time) decides
   whether the set is active by default (written into the set's manifest).
3. GRU (`ml.train_price`): on every candle of the symbols before `--until`, validated on
   the last 20 % against the no-change and persistence baselines, then the final network.
4. The set is written to `OUT/.incoming/<stamp>` and renamed to `OUT/<stamp>` (atomic; a
   running bot never sees half a set), then opened again as the bot would open it.

Deterministic for the same data, `--seed` and `--threads` (the creation time, and so the
set's name, is the clock's unless `--created-at` is given).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from core.backtest.data import load_candles
from core.signals.playbooks import DEFAULT_PLAYBOOK, PLAYBOOKS, playbook
from ml.artifacts import library_versions
from ml.cli import parse_symbols, parse_time
from ml.dataset import CandidateScope, EngineDataset, LabelConfig, build_dataset
from ml.lift import LiftVerdict, walk_forward_lift
from ml.registry import ModelSet, engine_registry, save_model_set, set_name
from ml.spec import PRICE_SPEC, candidate_features
from ml.train_price import PriceTrainingConfig, PriceTrainingReport, train_price_model
from ml.train_success import SuccessTrainingConfig, SuccessTrainingReport, train_success_model

MIN_SAMPLES = 30  # labelled candidates below which no model is worth training

FOLD_COLUMNS = (
    "auc",
    "logloss",
    "precision_at_threshold",
    "pass_rate",
    "win_rate_passed",
    "win_rate_all",
    "accepted_auc",
    "accepted_win_rate_passed",
)


@dataclass(frozen=True, slots=True)
class TrainRequest:
    """Everything `train` needs; the CLI's arguments."""

    data: Path
    symbols: tuple[str, ...]
    timeframe: str
    out: Path
    start: pd.Timestamp | None = None
    until: pd.Timestamp | None = None
    seed: int = 42
    strategy: str = DEFAULT_PLAYBOOK
    scope: CandidateScope = CandidateScope.ACCEPTED
    horizon: int = 720
    pass_fraction: float = 0.5
    cv_folds: int = 5
    gru_epochs: int = 10
    gru_stride: int = 1
    threads: int = 2
    refit: bool = True
    created_at: datetime | None = None
    progress: bool = True


@dataclass(frozen=True, slots=True)
class TrainOutcome:
    directory: Path
    model_set: ModelSet
    dataset: EngineDataset
    success: SuccessTrainingReport
    price: PriceTrainingReport
    lift: LiftVerdict
    seconds: float


def load_history(request: TrainRequest) -> dict[str, pd.DataFrame]:
    """Candles of every symbol between `start` (inclusive) and `until` (exclusive)."""
    out = {}
    for symbol in request.symbols:
        candles = load_candles(request.data, symbol, request.timeframe)
        if request.start is not None:
            candles = candles[candles.index >= request.start]
        if request.until is not None:
            candles = candles[candles.index < request.until]
        if candles.empty:
            raise ValueError(f"no {symbol} candles between {request.start} and {request.until}")
        out[symbol] = candles
    return out


def train(request: TrainRequest) -> TrainOutcome:
    """Build the dataset, train and validate both models, write the set. Returns what
    was written; raises ValueError / FileNotFoundError on bad input."""
    started = time.perf_counter()
    created_at = (request.created_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    target = request.out / set_name(created_at)
    if target.exists():
        raise ValueError(f"{target} exists already")
    history = load_history(request)
    features = candidate_features()
    dataset = build_dataset(
        history,
        playbook(request.strategy),
        request.timeframe,
        features,
        request.scope,
        LabelConfig(horizon=request.horizon),
        request.until,
        request.progress,
    )
    if len(dataset.samples) < MIN_SAMPLES:
        raise ValueError(f"{len(dataset.samples)} labelled candidates: too few to train (at least {MIN_SAMPLES})")
    subset = ("accepted", dataset.info["accepted"].to_numpy()) if request.scope is CandidateScope.BASE else None
    success_config = SuccessTrainingConfig(
        n_splits=request.cv_folds,
        seed=request.seed,
        num_threads=request.threads,
        refit=request.refit,
        pass_fraction=request.pass_fraction,
    )
    success, success_report = train_success_model(
        dataset.samples, created_at, success_config, evaluation_subset=subset, progress=request.progress
    )
    lift = walk_forward_lift(dataset.samples, success_config, request.pass_fraction)
    price, price_report = train_price_model(
        dataset.frames,
        PRICE_SPEC,
        created_at,
        PriceTrainingConfig(
            epochs=request.gru_epochs, sample_stride=request.gru_stride, seed=request.seed, refit=request.refit
        ),
        progress=request.progress,
    )
    seconds = time.perf_counter() - started
    training = _training_section(request, history, dataset, success_report, price_report, seconds)
    training["walk_forward"] = lift.to_json()
    incoming = request.out / ".incoming"
    written = save_model_set(incoming, success, price, created_at, training)
    os.replace(written, target)
    _remove_if_empty(incoming)
    model_set = engine_registry(request.out, _FixedClock(created_at), request.timeframe).open_set(target)
    return TrainOutcome(target, model_set, dataset, success_report, price_report, lift, seconds)


class _FixedClock:
    def __init__(self, moment: datetime) -> None:
        self._moment = moment

    def now(self) -> datetime:
        return self._moment


def _remove_if_empty(directory: Path) -> None:
    with contextlib.suppress(OSError):  # another run is still writing there
        directory.rmdir()


def _training_section(
    request: TrainRequest,
    history: dict[str, pd.DataFrame],
    dataset: EngineDataset,
    success: SuccessTrainingReport,
    price: PriceTrainingReport,
    seconds: float,
) -> dict[str, Any]:
    return _json_ready(
        {
            "command": "python -m ml.train " + " ".join(_argv(request)),
            "timeframe": request.timeframe,
            "strategy": request.strategy,
            "symbols": list(request.symbols),
            "seed": request.seed,
            "until": request.until.isoformat() if request.until is not None else None,
            "data": {
                symbol: {"first": frame.index[0].isoformat(), "last": frame.index[-1].isoformat()}
                for symbol, frame in history.items()
            },
            "dataset": dataset.summary(),
            "success": {
                "scores": success.scores,
                "cv_folds": success.fold_scores,
                "rounds_classifier": success.best_iteration_classifier,
                "rounds_regressor": success.best_iteration_regressor,
            },
            "price": {
                "scores": price.scores,
                "summary": price.summary(),
                "best_epoch": price.best_epoch,
                "validation_start": price.validation_start.isoformat(),
            },
            "refit": request.refit,
            "library_versions": library_versions(),
            "seconds": round(seconds, 1),
        }
    )


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _argv(request: TrainRequest) -> list[str]:
    args = [
        f"--data {request.data}",
        f"--symbols {','.join(request.symbols)}",
        f"--timeframe {request.timeframe}",
    ]
    if request.start is not None:
        args.append(f"--start {request.start.isoformat()}")
    if request.until is not None:
        args.append(f"--until {request.until.isoformat()}")
    args += [
        f"--out {request.out}",
        f"--seed {request.seed}",
        f"--strategy {request.strategy}",
        f"--candidates {request.scope.value}",
        f"--horizon {request.horizon}",
        f"--pass-fraction {request.pass_fraction}",
        f"--cv-folds {request.cv_folds}",
        f"--gru-epochs {request.gru_epochs}",
        f"--gru-stride {request.gru_stride}",
        f"--threads {request.threads}",
    ]
    return args if request.refit else [*args, "--no-refit"]


# -- report ------------------------------------------------------------------------------
def format_outcome(outcome: TrainOutcome) -> str:
    """What the CLI prints: dataset, CV folds, GRU against its baselines, where it went."""
    summary = outcome.dataset.summary()
    lines = [
        f"dataset: {summary['samples']} labelled {summary['scope']} candidates "
        f"({summary['accepted_by_engine']} accepted by the engine's filters), "
        f"success rate {summary['success_rate']:.3f}, mean return {summary['mean_return_pct']:+.3f}% "
        f"(realised R > 0 under the bot's exits, within {summary['label_horizon']} candles)",
        "",
        "success model, purged CV per fold:",
        "fold " + " ".join(FOLD_COLUMNS),
    ]
    widths = [len(name) for name in FOLD_COLUMNS]
    for number, fold in enumerate(outcome.success.fold_scores, start=1):
        cells = (f"{fold.get(name, math.nan):>{w}.4f}" for name, w in zip(FOLD_COLUMNS, widths, strict=True))
        lines.append(f"{number:>4} " + " ".join(cells))
    scores = outcome.success.scores
    means = (f"{scores.get(f'cv_{name}', math.nan):>{w}.4f}" for name, w in zip(FOLD_COLUMNS, widths, strict=True))
    lines.append("mean " + " ".join(means))
    lines += [
        f"hold-out: auc {scores['val_auc']:.4f}, log loss {scores['val_logloss']:.4f}, "
        f"rounds {outcome.success.best_iteration_classifier} / {outcome.success.best_iteration_regressor}",
        f"success filter by default: {'on' if outcome.lift.active else 'off'}, {outcome.lift.reason()}",
        "",
        outcome.price.summary(),
        "",
        f"wrote {outcome.directory} in {outcome.seconds:.1f} s",
    ]
    return "\n".join(lines)


# -- command line ------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="directory of <SYMBOL>-<tf>.csv files")
    parser.add_argument("--symbols", required=True, help="comma-separated, e.g. BTC/USD,ETH/USD")
    parser.add_argument("--timeframe", default="1h")
    parser.add_argument("--start", help="ISO time (UTC): first candle used")
    parser.add_argument("--until", help="ISO time (UTC): candles opening at or after it are not used")
    parser.add_argument("--out", type=Path, required=True, help="model directory (MODEL_DIR)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--strategy", default=DEFAULT_PLAYBOOK, choices=sorted(PLAYBOOKS), help="playbook filtered")
    parser.add_argument(
        "--candidates",
        default=CandidateScope.ACCEPTED.value,
        choices=[s.value for s in CandidateScope],
        help="accepted: the playbook's signals (default); base: every base-strategy candidate",
    )
    parser.add_argument("--horizon", type=int, default=720, help="candles a labelled trade may stay open")
    parser.add_argument("--pass-fraction", type=float, default=0.5, help="share of candidates the filter passes")
    parser.add_argument("--cv-folds", type=int, default=5)
    parser.add_argument("--gru-epochs", type=int, default=10, help="most GRU epochs (early stopping)")
    parser.add_argument("--gru-stride", type=int, default=1, help="keep every k-th GRU sample")
    parser.add_argument("--threads", type=int, default=2, help="LightGBM threads (the GRU uses one)")
    parser.add_argument("--no-refit", action="store_true", help="keep the validated models, not refits")
    parser.add_argument("--created-at", help="ISO time (UTC) to stamp the set with instead of now")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def request_from(argv: Sequence[str] | None = None) -> TrainRequest:
    args = _parser().parse_args(argv)
    symbols = parse_symbols(args.symbols)
    created_at = parse_time(args.created_at)
    return TrainRequest(
        data=args.data,
        symbols=symbols,
        timeframe=args.timeframe,
        out=args.out,
        start=parse_time(args.start),
        until=parse_time(args.until),
        seed=args.seed,
        strategy=args.strategy,
        scope=CandidateScope(args.candidates),
        horizon=args.horizon,
        pass_fraction=args.pass_fraction,
        cv_folds=args.cv_folds,
        gru_epochs=args.gru_epochs,
        gru_stride=args.gru_stride,
        threads=args.threads,
        refit=not args.no_refit,
        created_at=created_at.to_pydatetime() if created_at is not None else None,
        progress=not args.quiet,
    )


def main(argv: Sequence[str] | None = None) -> int:
    request = request_from(argv)
    torch.set_num_threads(1)
    try:
        outcome = train(request)
    except (ValueError, FileNotFoundError) as exc:
        raise SystemExit(f"ml.train: {exc}") from exc
    print(format_outcome(outcome))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The models as the running bot uses them: loaded from MODEL_DIR at start, swappable
without a restart, retrained on a schedule.

The composition root calls, once:

    runtime = load_active_models(settings.model_dir, clock, settings.timeframe)
    engine = SignalEngine(market_data, timeframe, clock, config, models=runtime.models)

`runtime.models` are two `SwappableModel`s (the success filter, then the GRU check) that
delegate to the active set's filters; a swap replaces what they delegate to, so the engine
keeps its objects and the next scan uses the new models. With no valid set the runtime
is in a loud state: every problem is logged at ERROR, `describe()` starts with
"ML models: NONE ACTIVE", and the models veto every candidate with the reason "no active
model" (fail closed: the engine never sends a signal the configured filters did not see).
An operator who wants the engine without ML builds it with `models=()`.

`await runtime.retrain(market_data, symbols)` (a JobQueue job) fetches fresh closed
candles through the market-data port, trains a new set in a child process
(`python -m ml.train ... --out MODEL_DIR/.staging/<run>`, one LightGBM thread, niced when
`nice` exists), so the event loop and the scan never wait on training, and installs it
with `ModelRegistry.swap_if_better` only when it validates at least as well on every
`SELECTION` metric. One retrain runs at a time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd
import torch

from core.errors import RetryableExchangeError, UnknownSymbol
from core.exchange.replay import symbol_file_stem
from core.ports import Candidate, Clock, MarketData, ModelOpinion, SignalModel
from ml.errors import ModelArtifactError, ModelsUnavailable
from ml.filters import PriceFilter, SuccessFilter
from ml.lift import LiftVerdict
from ml.registry import (
    ModelRegistry,
    RegistryStatus,
    SelectionMetric,
    SwapResult,
    engine_models,
    engine_registry,
)

logger = logging.getLogger(__name__)

#: The veto of a model slot with no valid model (a loud state, counted like any veto).
NO_MODEL = "ml_no_active_model"

PROJECT_ROOT = Path(__file__).resolve().parent.parent
STAGING = ".staging"
#: A retrained set replaces the active one only if it is at least as good on both:
#: the success model's purged-CV AUC and the GRU's MAE skill over the no-change forecast
#: (1 - MAE / no-change MAE; scale-free, so sets validated on calmer or wilder periods
#: compare fairly).
SELECTION = (
    SelectionMetric("success", "cv_auc", higher_is_better=True),
    SelectionMetric("price", "mae_skill", higher_is_better=True),
)


class SwappableModel:
    """A `SignalModel` slot the engine holds for good; it delegates to the current model,
    which `set` replaces atomically (a scan already running finishes with the old one)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._current: SignalModel | None = None

    @property
    def current(self) -> SignalModel | None:
        return self._current

    def set(self, model: SignalModel | None) -> None:
        if model is not None and model.name != self.name:
            raise ValueError(f"slot {self.name} cannot hold model {model.name}")
        self._current = model

    def assess(self, candidates: Sequence[Candidate]) -> list[ModelOpinion]:
        model = self._current  # read once: a swap during this call does not mix sets
        if model is None:
            if candidates:
                logger.error("%s: no active model, vetoing %d candidate(s)", self.name, len(candidates))
            return [ModelOpinion(passed=False, reason=NO_MODEL) for _ in candidates]
        return model.assess(candidates)


@dataclass(frozen=True, slots=True)
class RetrainResult:
    """What one retrain did, for the job's log and /status."""

    started_at: datetime
    finished_at: datetime
    swapped: bool
    reason: str
    active_set: str | None  # name of the active set afterwards
    seconds: float

    def describe(self) -> str:
        verdict = "swapped" if self.swapped else "kept"
        return f"last retrain {self.started_at:%Y-%m-%d %H:%M} UTC: {verdict} ({self.reason})"


class ModelRuntime:
    """The active models of a running bot, their status and their retraining."""

    def __init__(self, registry: ModelRegistry, clock: Clock, timeframe: str) -> None:
        self._registry = registry
        self._clock = clock
        self._timeframe = timeframe
        self.success = SwappableModel(SuccessFilter.name)
        self.price = SwappableModel(PriceFilter.name)
        self.last_retrain: RetrainResult | None = None
        self._retraining = asyncio.Lock()

    @property
    def models(self) -> list[SignalModel]:
        """What the engine is constructed with: `SignalEngine(..., models=runtime.models)`."""
        return [self.success, self.price]

    @property
    def active(self) -> bool:
        return self.success.current is not None

    def load(self) -> RegistryStatus:
        """(Re)scan MODEL_DIR and activate its newest valid set (blocking: a second or so)."""
        status = self._registry.load()
        self._activate()
        return status

    def status(self) -> RegistryStatus:
        """The active set's models with their age now, or why none is active."""
        return self._registry.status()

    def default_verdict(self) -> tuple[bool, str]:
        """Whether the active set filters by default (ML_FILTERS=auto): only when its
        walk-forward lift, written by ml.train into the set's manifest, is real. The reason
        is one line for /status."""
        try:
            training = self._registry.active().training
        except ModelsUnavailable as exc:
            return False, f"no valid model set ({exc})"
        verdict = training.get("walk_forward")
        if not isinstance(verdict, dict):
            return False, "the active set has no walk-forward verdict (trained before it existed: run make models)"
        lift = LiftVerdict.from_json(verdict)
        return lift.active, lift.reason()

    def describe(self) -> list[str]:
        """Lines for /status: the set, each model's age, data and scores, problems, the
        last retrain."""
        lines = self.status().describe()
        if self.active:
            lines.append("  " + self.default_verdict()[1])
        if self.last_retrain is not None:
            lines.append("  " + self.last_retrain.describe())
        return lines

    def install(self, candidate_dir: Path) -> SwapResult:
        """Install a trained set (staged outside MODEL_DIR or in a hidden directory) if it
        is at least as good as the active one, and switch the models to it (blocking)."""
        result = self._registry.swap_if_better(candidate_dir, SELECTION)
        if result.swapped:
            self._activate()
        return result

    async def retrain(
        self,
        market_data: MarketData,
        symbols: Sequence[str],
        lookback: int = 8760,
        seed: int = 42,
        time_limit: float = 3600.0,
        train_args: Sequence[str] = (),
    ) -> RetrainResult:
        """Train a new set on the last `lookback` closed candles of `symbols` in a child
        process and swap it in if it is at least as good. Never raises for a failed
        training: the result says what happened (and the failure is logged at ERROR).
        `train_args`: extra `ml.train` arguments (e.g. `--gru-epochs 3`)."""
        started_at, started = self._clock.now(), time.perf_counter()
        if self._retraining.locked():
            return self._finish(started_at, started, False, "a retrain is already running")
        async with self._retraining:
            run = self._registry.model_dir / STAGING / f"run-{started_at:%Y%m%dT%H%M%S}-{os.getpid()}"
            try:
                swapped, reason = await self._retrain(market_data, symbols, lookback, seed, time_limit, train_args, run)
            finally:
                await asyncio.to_thread(shutil.rmtree, run, True)
        return self._finish(started_at, started, swapped, reason)

    async def _retrain(
        self,
        market_data: MarketData,
        symbols: Sequence[str],
        lookback: int,
        seed: int,
        time_limit: float,
        train_args: Sequence[str],
        run: Path,
    ) -> tuple[bool, str]:
        candles, skipped = await self._fetch(market_data, symbols, lookback)
        if not candles:
            return False, f"no candles to train on ({'; '.join(skipped) or 'no symbols'})"
        await asyncio.to_thread(_write_candles, run / "data", candles, self._timeframe)
        command = [
            *_nice(),
            sys.executable,
            "-m",
            "ml.train",
            "--data",
            str(run / "data"),
            "--symbols",
            ",".join(candles),
            "--timeframe",
            self._timeframe,
            "--out",
            str(run / "out"),
            "--seed",
            str(seed),
            "--threads",
            "1",
            "--quiet",
            *train_args,
        ]
        code, output = await _run(command, time_limit)
        if code != 0:
            logger.error("model retrain failed (exit %s): %s", code, output[-2000:])
            return False, f"training failed (exit {code}): {_last_line(output)}"
        sets = sorted(p for p in (run / "out").iterdir() if not p.name.startswith("."))
        if len(sets) != 1:
            return False, f"training wrote {len(sets)} sets, expected one"
        try:
            result = await asyncio.to_thread(self.install, sets[0])
        except (ModelArtifactError, ValueError) as exc:
            logger.error("retrained set refused: %s", exc)
            return False, f"retrained set refused: {exc}"
        note = f" (skipped: {'; '.join(skipped)})" if skipped else ""
        return result.swapped, result.reason + note

    async def _fetch(
        self, market_data: MarketData, symbols: Sequence[str], lookback: int
    ) -> tuple[dict[str, pd.DataFrame], list[str]]:
        candles, skipped = {}, []
        for symbol in symbols:
            try:
                candles[symbol] = await market_data.candles(symbol, self._timeframe, lookback)
            except (UnknownSymbol, RetryableExchangeError) as exc:
                skipped.append(f"{symbol}: {exc}")
        return candles, skipped

    def _finish(self, started_at: datetime, started: float, swapped: bool, reason: str) -> RetrainResult:
        status = self._registry.status()
        result = RetrainResult(
            started_at,
            self._clock.now(),
            swapped,
            reason,
            status.set_dir.name if status.set_dir else None,
            time.perf_counter() - started,
        )
        self.last_retrain = result
        logger.info("model %s", result.describe())
        return result

    def _activate(self) -> None:
        try:
            success, price = engine_models(self._registry.active())
        except ModelsUnavailable:
            self.success.set(None)
            self.price.set(None)
            return
        self.success.set(success)
        self.price.set(price)


def load_active_models(model_dir: Path, clock: Clock, timeframe: str) -> ModelRuntime:
    """Set torch to one intra-op thread (see ml/README.md), open MODEL_DIR and activate its
    newest valid set for `timeframe`. Never raises for missing or refused models: the
    runtime is then inactive, loudly (ERROR logs, `describe()`, vetoes)."""
    torch.set_num_threads(1)
    runtime = ModelRuntime(engine_registry(Path(model_dir), clock, timeframe), clock, timeframe)
    runtime.load()
    return runtime


def _write_candles(directory: Path, candles: dict[str, pd.DataFrame], timeframe: str) -> None:
    """Candles as the replay files are written (see data/README.md)."""
    directory.mkdir(parents=True, exist_ok=True)
    for symbol, frame in candles.items():
        out = frame[["open", "high", "low", "close", "volume"]].copy()
        out.index = pd.DatetimeIndex(out.index).tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S")
        out.index.name = "timestamp"
        out.to_csv(directory / f"{symbol_file_stem(symbol, timeframe)}.csv")


def _nice() -> list[str]:
    nice = shutil.which("nice")
    return [nice, "-n", "10"] if nice else []


async def _run(command: list[str], time_limit: float) -> tuple[int | None, str]:
    """Run `command` from the project root; (exit code, combined output). A run over
    `time_limit` seconds is killed (exit code None)."""
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(time_limit):
            output, _ = await process.communicate()
    except TimeoutError:
        await _kill(process)
        return None, f"killed after {time_limit:.0f} s"
    except asyncio.CancelledError:  # the bot is stopping: do not leave the trainer behind
        await _kill(process)
        raise
    return process.returncode, output.decode("utf-8", "replace")


async def _kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.kill()
    await process.wait()


def _last_line(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else "no output"

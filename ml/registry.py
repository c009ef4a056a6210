"""The model registry: which trained models the bot uses, and how old they are.

Layout of MODEL_DIR (one directory per model set, named by its UTC creation time):

    MODEL_DIR/
      20250301T120000Z/
        metadata.json          set manifest: format, created_at, sha256 of each model's metadata,
                               and what the set was trained on (`training`: timeframe, symbols,
                               data range, CV folds, GRU report, versions; see ml.train)
        success/               SuccessModel.save: classifier.txt, regressor.txt,
                               feature_importance.json, metadata.json
        price/                 PriceModel.save: network.pt, scaler.npz, metadata.json
      20250201T120000Z/ ...
      .staging/ ...            hidden entries are ignored (candidates, half-copied sets)

The newest set that validates completely is active: manifest readable, every file's
checksum right, both models' features equal to what the code computes (and, when the
registry is given a timeframe, trained on that timeframe). Every set that is skipped, and the
absence of any valid set, is reported in `status().problems` and logged at ERROR. Nothing is
skipped silently.

`load_models(path)` is what `python -m core.backtest.simulation --models DIR` and `ml.evaluate` call:
the engine's two `SignalModel`s from the newest valid set, with the code's features.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from core.ports import Clock, SignalModel
from ml.artifacts import METADATA_FILE, ModelMetadata, sha256_file
from ml.errors import ModelArtifactError, ModelsUnavailable
from ml.filters import PriceFilter, SuccessFilter
from ml.price_model import PriceModel
from ml.spec import PRICE_INPUTS, SUCCESS_FEATURES, candidate_features
from ml.success_model import SuccessModel

logger = logging.getLogger(__name__)

SET_NAME_FORMAT = "%Y%m%dT%H%M%SZ"
SET_FORMAT = "atra.model-set"
SET_FORMAT_VERSION = 1
KINDS = ("success", "price")
_HEADLINE_SCORES = {
    "success": ("cv_auc", "cv_win_rate_passed", "cv_mean_return_passed"),
    "price": ("val_mae_pct", "naive_mae_pct", "val_direction_accuracy"),
}


@dataclass(frozen=True, slots=True)
class ModelSet:
    """A loaded, validated set of models."""

    directory: Path
    created_at: datetime
    success: SuccessModel
    price: PriceModel
    training: Mapping[str, Any] = field(default_factory=dict)  # the manifest's `training` section

    def metadata(self, kind: str) -> ModelMetadata:
        if kind == "success":
            return self.success.metadata
        if kind == "price":
            return self.price.metadata
        raise ValueError(f"unknown model kind {kind!r}; kinds are {KINDS}")


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One active model as `/status` shows it."""

    kind: str
    created_at: datetime
    age: timedelta
    data_start: datetime | None
    data_end: datetime | None
    n_samples: int
    scores: dict[str, float]


@dataclass(frozen=True, slots=True)
class RegistryStatus:
    """Which models are active, or why none are."""

    active: bool
    set_dir: Path | None
    models: tuple[ModelInfo, ...]
    problems: tuple[str, ...]

    def describe(self) -> list[str]:
        """Human-readable lines for logs and the admin's /status."""
        if not self.active:
            lines = ["ML models: NONE ACTIVE - the ML filters cannot run"]
        else:
            assert self.set_dir is not None
            lines = [f"ML models: set {self.set_dir.name}"]
        for info in self.models:
            scores = ", ".join(f"{name} {value:.3f}" for name, value in info.scores.items())
            lines.append(
                f"  {info.kind}: age {_age(info.age)}, data {_day(info.data_start)}..{_day(info.data_end)}, "
                f"{info.n_samples} samples, {scores}"
            )
        lines.extend(f"  problem: {problem}" for problem in self.problems)
        return lines


@dataclass(frozen=True, slots=True)
class SelectionMetric:
    """The score that decides whether a retrained set replaces the active one."""

    kind: str  # "success" or "price"
    score: str  # a key of that model's metadata scores, e.g. "cv_auc"
    higher_is_better: bool = True

    def at_least_as_good(self, candidate: float, active: float) -> bool:
        """NaN never wins; a finite score beats a NaN one."""
        if math.isnan(candidate):
            return False
        if math.isnan(active):
            return True
        return candidate >= active if self.higher_is_better else candidate <= active


@dataclass(frozen=True, slots=True)
class SwapResult:
    swapped: bool
    reason: str
    set_dir: Path | None  # the active set after the call


def save_model_set(
    parent: Path,
    success: SuccessModel,
    price: PriceModel,
    created_at: datetime,
    training: Mapping[str, Any] | None = None,
) -> Path:
    """Write a model set as `parent/<created_at as YYYYmmddTHHMMSSZ>/` and return its path.
    `training` (JSON-ready) is kept in the manifest: what the set was trained on and how.

    Write candidates to a staging directory (hidden or outside MODEL_DIR) and install them
    with `ModelRegistry.swap_if_better`."""
    directory = parent / set_name(created_at)
    directory.mkdir(parents=True, exist_ok=False)
    success.save(directory / "success")
    price.save(directory / "price")
    manifest = {
        "format": SET_FORMAT,
        "format_version": SET_FORMAT_VERSION,
        "created_at": created_at.astimezone(UTC).isoformat(),
        "models": {kind: sha256_file(directory / kind / METADATA_FILE) for kind in KINDS},
        "training": dict(training or {}),
    }
    text = json.dumps(manifest, indent=2, allow_nan=False)
    (directory / METADATA_FILE).write_text(text + "\n", encoding="utf-8")
    return directory


def set_name(created_at: datetime) -> str:
    if created_at.utcoffset() is None:
        raise ValueError("created_at must be timezone-aware")
    return created_at.astimezone(UTC).strftime(SET_NAME_FORMAT)


class ModelRegistry:
    """Finds, validates and serves the newest valid model set in `model_dir`."""

    def __init__(
        self,
        model_dir: Path,
        success_features: Sequence[str],
        price_inputs: Sequence[str],
        clock: Clock,
        timeframe: str | None = None,
    ) -> None:
        self._model_dir = model_dir
        self._success_features = tuple(success_features)
        self._price_inputs = tuple(price_inputs)
        self._clock = clock
        self._timeframe = timeframe
        self._active: ModelSet | None = None
        self._problems: tuple[str, ...] = ("models not loaded yet",)

    def load(self) -> RegistryStatus:
        """Scan `model_dir` and activate its newest valid set. Logs every problem at ERROR."""
        problems: list[str] = []
        active = None
        for directory in self._set_dirs(problems):
            try:
                active = self.open_set(directory)
            except ModelArtifactError as exc:
                problems.append(f"{directory.name} refused: {exc}")
                continue
            break
        if active is None:
            problems.append(f"no valid model set in {self._model_dir}")
        self._active, self._problems = active, tuple(problems)
        for problem in problems:
            logger.error("model registry: %s", problem)
        for line in self.status().describe()[:3]:
            logger.info("%s", line)
        return self.status()

    def status(self) -> RegistryStatus:
        """The active set's models with their age, data range and headline scores."""
        active = self._active
        if active is None:
            return RegistryStatus(False, None, (), self._problems)
        now = self._clock.now()
        models = tuple(_info(kind, active.metadata(kind), now) for kind in KINDS)
        return RegistryStatus(True, active.directory, models, self._problems)

    def active(self) -> ModelSet:
        """The active set; raises ModelsUnavailable (with the reasons) when there is none."""
        if self._active is None:
            raise ModelsUnavailable("; ".join(self._problems))
        return self._active

    @property
    def model_dir(self) -> Path:
        return self._model_dir

    def open_set(self, directory: Path) -> ModelSet:
        """Load and validate one set against the code's features. Raises ModelArtifactError."""
        created_at, training = self._read_manifest(directory)
        trained_on = training.get("timeframe")
        if self._timeframe is not None and trained_on != self._timeframe:
            raise ModelArtifactError(
                f"{directory.name} was trained on {trained_on or 'an unstated'} timeframe, "
                f"the engine runs on {self._timeframe}"
            )
        success = SuccessModel.load(directory / "success", self._success_features)
        price = PriceModel.load(directory / "price", self._price_inputs)
        return ModelSet(directory, created_at, success, price, training)

    def swap_if_better(self, candidate_dir: Path, metric: SelectionMetric | Sequence[SelectionMetric]) -> SwapResult:
        """Install the set at `candidate_dir` if it scores at least as well on `metric`
        (on every one of them, when several are given) as the active set (or if none is
        active). The candidate must validate and be newer than the active set; raises
        ModelArtifactError / ValueError otherwise.

        The scores compared are each set's own validation scores, on the data each was
        trained with: a retrained set is judged on newer data than the active one."""
        visible_in_model_dir = candidate_dir.parent.resolve() == self._model_dir.resolve()
        if visible_in_model_dir and not candidate_dir.name.startswith("."):
            raise ValueError("stage candidate sets outside MODEL_DIR or in a hidden directory")
        metrics = [metric] if isinstance(metric, SelectionMetric) else list(metric)
        if not metrics:
            raise ValueError("swap_if_better needs at least one selection metric")
        candidate = self.open_set(candidate_dir)
        active = self._active
        better, reason = (True, "no set was active") if active is None else _compare(candidate, active, metrics)
        if not better:
            logger.warning("model registry: %s", reason)
            return SwapResult(False, reason, active.directory if active else None)
        installed = self._install(candidate_dir, set_name(candidate.created_at))
        self._active, self._problems = self.open_set(installed), ()
        logger.info("model registry: activated %s (%s)", installed.name, reason)
        return SwapResult(True, f"activated {installed.name}: {reason}", installed)

    def _set_dirs(self, problems: list[str]) -> list[Path]:
        """Candidate set directories, newest first; stray entries become problems."""
        if not self._model_dir.is_dir():
            problems.append(f"MODEL_DIR {self._model_dir} is not a directory")
            return []
        found: list[tuple[datetime, Path]] = []
        for entry in self._model_dir.iterdir():
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            try:
                stamp = datetime.strptime(entry.name, SET_NAME_FORMAT).replace(tzinfo=UTC)
            except ValueError:
                problems.append(f"{entry.name} is not a model set (expected a name like 20250301T120000Z)")
                continue
            found.append((stamp, entry))
        return [path for _, path in sorted(found, reverse=True)]

    def _read_manifest(self, directory: Path) -> tuple[datetime, dict[str, Any]]:
        path = directory / METADATA_FILE
        try:
            manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            created_at = datetime.fromisoformat(manifest["created_at"])
            digests = {kind: manifest["models"][kind] for kind in KINDS}
            fmt, version = manifest["format"], manifest["format_version"]
            training = dict(manifest.get("training") or {})
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ModelArtifactError(f"set manifest {path} is missing or malformed: {exc!r}") from exc
        if (fmt, version) != (SET_FORMAT, SET_FORMAT_VERSION):
            raise ModelArtifactError(
                f"{path}: format {fmt!r} v{version}, this code reads {SET_FORMAT} v{SET_FORMAT_VERSION}"
            )
        for kind, digest in digests.items():
            model_metadata = directory / kind / METADATA_FILE
            if not model_metadata.is_file():
                raise ModelArtifactError(f"{directory.name}: the {kind} model is missing")
            if sha256_file(model_metadata) != digest:
                raise ModelArtifactError(f"{directory.name}: the {kind} model is not the one the manifest lists")
        if created_at.utcoffset() is None:
            raise ModelArtifactError(f"{path}: created_at has no timezone")
        if directory.name != set_name(created_at):
            raise ModelArtifactError(f"{directory.name} does not match its creation time {created_at.isoformat()}")
        return created_at, training

    def _install(self, source: Path, name: str) -> Path:
        target = self._model_dir / name
        if target.exists():
            raise ValueError(f"{target} exists already")
        staging = self._model_dir / f".incoming-{name}"
        shutil.copytree(source, staging)
        os.replace(staging, target)  # atomic within one file system: load() never sees half a set
        return target


def _compare(candidate: ModelSet, active: ModelSet, metrics: Sequence[SelectionMetric]) -> tuple[bool, str]:
    """Whether `candidate` may replace `active` (at least as good on every metric), and why."""
    if candidate.created_at <= active.created_at:
        raise ValueError(f"candidate {candidate.directory.name} is not newer than the active {active.directory.name}")
    better, worse = [], []
    for metric in metrics:
        new = candidate.metadata(metric.kind).score(metric.score)
        old = active.metadata(metric.kind).score(metric.score)
        name = f"{metric.kind}.{metric.score}"
        if metric.at_least_as_good(new, old):
            better.append(f"{name} {new:.4f} vs {old:.4f}")
        else:
            worse.append(f"{name} {new:.4f} vs active {old:.4f}")
    if worse:
        return False, f"kept {active.directory.name}: " + ", ".join(worse)
    return True, ", ".join(better) + f" of {active.directory.name}"


def _info(kind: str, metadata: ModelMetadata, now: datetime) -> ModelInfo:
    scores = {name: metadata.score(name) for name in _HEADLINE_SCORES[kind] if name in metadata.scores}
    return ModelInfo(
        kind,
        metadata.created_at,
        now - metadata.created_at,
        metadata.data_start,
        metadata.data_end,
        metadata.n_samples,
        scores,
    )


def _age(age: timedelta) -> str:
    hours = int(age.total_seconds() // 3600)
    return f"{hours // 24}d {hours % 24}h"


def _day(value: datetime | None) -> str:
    return "?" if value is None else value.date().isoformat()


class _SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def engine_registry(model_dir: Path, clock: Clock, timeframe: str | None = None) -> ModelRegistry:
    """A registry that checks sets against the engine's features (`ml.spec`)."""
    return ModelRegistry(model_dir, SUCCESS_FEATURES, PRICE_INPUTS, clock, timeframe)


def engine_models(model_set: ModelSet) -> list[SignalModel]:
    """The engine's filters on a loaded set, in order: the success filter, then the GRU,
    which may veto only if it beat every naive direction rule out of time (`beats_naive`)."""
    may_veto = model_set.price.metadata.scores.get("beats_naive", 0.0) == 1.0
    return [SuccessFilter(model_set.success, candidate_features().table), PriceFilter(model_set.price, veto=may_veto)]


def open_model_set(path: Path, timeframe: str | None = None) -> ModelSet:
    """The set at `path` (a set directory) or the newest valid set in `path` (a MODEL_DIR),
    checked against the engine's features. Raises ModelsUnavailable with every problem."""
    path = Path(path)
    if (path / METADATA_FILE).is_file():
        try:
            return engine_registry(path.parent, _SystemClock(), timeframe).open_set(path)
        except ModelArtifactError as exc:
            raise ModelsUnavailable(f"{path} refused: {exc}") from exc
    registry = engine_registry(path, _SystemClock(), timeframe)
    registry.load()
    return registry.active()


def load_models(path: Path, timeframe: str | None = None) -> list[SignalModel]:
    """The engine's `SignalModel`s from `path`: a MODEL_DIR (its newest valid set) or one
    set directory. Raises ModelsUnavailable, with every problem found, when there is none."""
    return engine_models(open_model_set(path, timeframe))

"""Metadata of saved models: one `metadata.json` per model directory.

The metadata says what the model is (kind, format version), what it was trained on
(feature names, data range, sample count), how well it validated (scores), how it was
built (parameters, library versions, creation time) and which files belong to it, each
with its SHA-256 so a truncated or swapped file is refused at load.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import platform
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from ml.errors import FeatureMismatchError, ModelArtifactError

METADATA_FILE = "metadata.json"
FORMAT_VERSION = 1
_TRACKED_LIBRARIES = ("lightgbm", "torch", "numpy", "pandas", "scikit-learn")


@dataclass(frozen=True, slots=True)
class ModelMetadata:
    """Everything saved about one trained model besides its weights."""

    kind: str  # "success" or "price"
    created_at: datetime  # timezone-aware UTC
    feature_names: tuple[str, ...]
    data_start: datetime | None
    data_end: datetime | None
    n_samples: int
    scores: Mapping[str, float | None] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    library_versions: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[str, str] = field(default_factory=dict)  # file name -> sha256
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        for name in ("created_at", "data_start", "data_end"):
            value = getattr(self, name)
            if value is not None and value.utcoffset() is None:
                raise ValueError(f"{name} must be timezone-aware, got {value!r}")

    def score(self, name: str) -> float:
        """A validation score by name; NaN when it was undefined (e.g. AUC of one class)."""
        if name not in self.scores:
            raise KeyError(f"{self.kind} model has no score {name!r}; it has {sorted(self.scores)}")
        value = self.scores[name]
        return math.nan if value is None else float(value)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "format_version": self.format_version,
            "created_at": self.created_at.isoformat(),
            "feature_names": list(self.feature_names),
            "data_start": _iso(self.data_start),
            "data_end": _iso(self.data_end),
            "n_samples": self.n_samples,
            "scores": {k: _finite_or_none(v) for k, v in self.scores.items()},
            "params": dict(self.params),
            "library_versions": dict(self.library_versions),
            "files": dict(self.files),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ModelMetadata:
        try:
            return cls(
                kind=str(raw["kind"]),
                format_version=int(raw["format_version"]),
                created_at=datetime.fromisoformat(raw["created_at"]),
                feature_names=tuple(str(name) for name in raw["feature_names"]),
                data_start=_parse_optional(raw["data_start"]),
                data_end=_parse_optional(raw["data_end"]),
                n_samples=int(raw["n_samples"]),
                scores=dict(raw["scores"]),
                params=dict(raw["params"]),
                library_versions=dict(raw["library_versions"]),
                files=dict(raw["files"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelArtifactError(f"malformed model metadata: {exc!r}") from exc


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries a model's files depend on."""
    versions = {"python": platform.python_version()}
    for name in _TRACKED_LIBRARIES:
        versions[name] = importlib_metadata.version(name)
    return versions


def write_metadata(directory: Path, metadata: ModelMetadata, file_names: Iterable[str]) -> ModelMetadata:
    """Write `metadata.json` listing `file_names` (already written) with their hashes."""
    files = {name: sha256_file(directory / name) for name in sorted(file_names)}
    complete = dataclasses.replace(metadata, files=files)
    text = json.dumps(complete.to_json(), indent=2, sort_keys=True, allow_nan=False)
    (directory / METADATA_FILE).write_text(text + "\n", encoding="utf-8")
    return complete


def read_metadata(directory: Path, kind: str) -> ModelMetadata:
    """Read and check a model directory's metadata: kind, format version and the hash of
    every listed file. Raises ModelArtifactError on any problem."""
    path = directory / METADATA_FILE
    if not path.is_file():
        raise ModelArtifactError(f"{path} is missing")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelArtifactError(f"{path} is unreadable: {exc}") from exc
    metadata = ModelMetadata.from_json(raw)
    if metadata.kind != kind:
        raise ModelArtifactError(f"{directory} holds a {metadata.kind!r} model, expected {kind!r}")
    if metadata.format_version != FORMAT_VERSION:
        raise ModelArtifactError(
            f"{directory}: format version {metadata.format_version}, this code reads {FORMAT_VERSION}"
        )
    for name, digest in metadata.files.items():
        file = directory / name
        if not file.is_file():
            raise ModelArtifactError(f"{file} is listed in the metadata but missing")
        if sha256_file(file) != digest:
            raise ModelArtifactError(f"{file} does not match the checksum in its metadata")
    return metadata


def require_files(metadata: ModelMetadata, directory: Path, names: Sequence[str]) -> None:
    """Refuse metadata that does not list (and so did not checksum) a needed file."""
    missing = [name for name in names if name not in metadata.files]
    if missing:
        raise ModelArtifactError(f"{directory}: metadata does not list {missing}")


def check_features(metadata: ModelMetadata, expected: Sequence[str]) -> None:
    """Raise FeatureMismatchError unless the model's features equal `expected`, in order."""
    if tuple(expected) != metadata.feature_names:
        raise FeatureMismatchError(metadata.kind, tuple(expected), metadata.feature_names)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_optional(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _finite_or_none(value: float | None) -> float | None:
    if value is None or not math.isfinite(float(value)):
        return None
    return float(value)

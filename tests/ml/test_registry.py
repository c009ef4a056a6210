"""Model registry: newest valid set, loud problems, status with ages, swap_if_better."""

from __future__ import annotations

import json
import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ml.errors import ModelsUnavailable
from ml.registry import ModelRegistry, SelectionMetric, save_model_set
from tests.ml.factories import PRICE_SPEC, SUCCESS_FEATURES, price_model, success_model, with_scores

OLD = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
NEW = datetime(2025, 3, 2, 12, 0, tzinfo=UTC)
NEWER = datetime(2025, 3, 3, 0, 0, tzinfo=UTC)
NOW = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)
AUC = SelectionMetric("success", "cv_auc", higher_is_better=True)


class FixedClock:
    def now(self) -> datetime:
        return NOW


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Model sets in a staging area: OLD (auc 0.60), NEW (auc 0.70), NEWER (auc 0.65)."""
    root = tmp_path_factory.mktemp("staging")
    sets = {}
    for label, created_at, auc in (("old", OLD, 0.60), ("new", NEW, 0.70), ("newer", NEWER, 0.65)):
        success, price = success_model(created_at), price_model(created_at)
        with_scores(success, cv_auc=auc)
        sets[label] = save_model_set(root / label, success, price, created_at)
    return sets


def _registry(model_dir: Path, success_features: tuple[str, ...] = SUCCESS_FEATURES) -> ModelRegistry:
    return ModelRegistry(model_dir, success_features, PRICE_SPEC.input_names, FixedClock())


def _install(staged: dict[str, Path], model_dir: Path, *labels: str) -> None:
    for label in labels:
        shutil.copytree(staged[label], model_dir / staged[label].name)


def test_layout_of_a_saved_set(staged: dict[str, Path]) -> None:
    directory = staged["old"]
    assert directory.name == "20250301T120000Z"
    assert sorted(str(p.relative_to(directory)) for p in directory.rglob("*")) == [
        "metadata.json",
        "price",
        "price/metadata.json",
        "price/network.pt",
        "price/scaler.npz",
        "success",
        "success/classifier.txt",
        "success/feature_importance.json",
        "success/metadata.json",
        "success/regressor.txt",
    ]


def test_newest_valid_set_is_active_with_ages(staged: dict[str, Path], tmp_path: Path) -> None:
    _install(staged, tmp_path, "old", "new")
    status = _registry(tmp_path).load()
    assert status.active and status.set_dir == tmp_path / "20250302T120000Z"
    assert status.problems == ()
    assert [(m.kind, m.created_at, str(m.age)) for m in status.models] == [
        ("success", NEW, "1 day, 3:00:00"),
        ("price", NEW, "1 day, 3:00:00"),
    ]
    lines = status.describe()
    assert lines[0] == "ML models: set 20250302T120000Z"
    assert lines[1].startswith("  success: age 1d 3h, data 2024-01-01..2024-01-26, ")
    assert "cv_auc 0.700" in lines[1]


def test_broken_newer_set_is_skipped_loudly(
    staged: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _install(staged, tmp_path, "old", "new")
    (tmp_path / "20250302T120000Z" / "price" / "scaler.npz").write_bytes(b"truncated")
    (tmp_path / "notes").mkdir()
    with caplog.at_level(logging.ERROR, logger="ml.registry"):
        status = _registry(tmp_path).load()
    assert status.active and status.set_dir == tmp_path / "20250301T120000Z"
    assert len(status.problems) == 2
    assert "notes is not a model set" in status.problems[0]
    assert status.problems[1].startswith("20250302T120000Z refused: ")
    assert "checksum" in status.problems[1]
    assert [r.levelno for r in caplog.records if r.name == "ml.registry"] == [logging.ERROR, logging.ERROR]


def test_feature_mismatch_leaves_no_model_active(
    staged: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _install(staged, tmp_path, "new")
    registry = _registry(tmp_path, (*SUCCESS_FEATURES, "funding_rate"))
    with caplog.at_level(logging.ERROR, logger="ml.registry"):
        status = registry.load()
    assert not status.active and status.models == ()
    assert "the model lacks ['funding_rate']" in status.problems[0]
    assert status.problems[-1] == f"no valid model set in {tmp_path}"
    assert status.describe()[0] == "ML models: NONE ACTIVE - the ML filters cannot run"
    assert any("no valid model set" in r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    with pytest.raises(ModelsUnavailable, match="funding_rate"):
        registry.active()


def test_missing_model_dir_or_manifest_is_a_problem(staged: dict[str, Path], tmp_path: Path) -> None:
    status = _registry(tmp_path / "absent").load()
    assert not status.active
    assert status.problems[0] == f"MODEL_DIR {tmp_path / 'absent'} is not a directory"
    _install(staged, tmp_path, "new")
    manifest = tmp_path / "20250302T120000Z" / "metadata.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "format_version": 2}))
    status = _registry(tmp_path).load()
    assert not status.active and "format 'atra.model-set' v2" in status.problems[0]
    assert _registry(tmp_path).status().problems == ("models not loaded yet",)


def test_a_renamed_set_is_refused(staged: dict[str, Path], tmp_path: Path) -> None:
    shutil.copytree(staged["old"], tmp_path / "20250309T000000Z")  # claims to be newer than it is
    status = _registry(tmp_path).load()
    assert not status.active
    assert "20250309T000000Z does not match its creation time 2025-03-01T12:00:00+00:00" in status.problems[0]


def test_a_set_cannot_be_assembled_from_other_sets(staged: dict[str, Path], tmp_path: Path) -> None:
    _install(staged, tmp_path, "new")
    target = tmp_path / "20250302T120000Z" / "success"
    shutil.rmtree(target)
    shutil.copytree(staged["old"] / "success", target)
    status = _registry(tmp_path).load()
    assert not status.active
    assert "the success model is not the one the manifest lists" in status.problems[0]


def test_swap_installs_when_nothing_is_active(staged: dict[str, Path], tmp_path: Path) -> None:
    registry = _registry(tmp_path)
    registry.load()
    result = registry.swap_if_better(staged["old"], AUC)
    assert result.swapped and result.set_dir == tmp_path / "20250301T120000Z"
    assert registry.active().directory == tmp_path / "20250301T120000Z"
    assert registry.status().problems == ()


def test_swap_only_when_at_least_as_good(staged: dict[str, Path], tmp_path: Path) -> None:
    _install(staged, tmp_path, "new")  # auc 0.70
    registry = _registry(tmp_path)
    registry.load()
    worse = registry.swap_if_better(staged["newer"], AUC)  # auc 0.65
    assert not worse.swapped
    assert worse.reason == "kept 20250302T120000Z: success.cv_auc 0.6500 vs active 0.7000"
    assert not (tmp_path / "20250303T000000Z").exists()
    lower_mae_wins = SelectionMetric("price", "val_mae_pct", higher_is_better=False)
    with_same_price = registry.swap_if_better(staged["newer"], lower_mae_wins)  # same data, same MAE: equal
    assert with_same_price.swapped and registry.active().created_at == NEWER
    assert _registry(tmp_path).load().set_dir == tmp_path / "20250303T000000Z"  # a restart agrees


def test_swap_refuses_older_or_unstaged_candidates(staged: dict[str, Path], tmp_path: Path) -> None:
    _install(staged, tmp_path, "new")
    registry = _registry(tmp_path)
    registry.load()
    with pytest.raises(ValueError, match="not newer"):
        registry.swap_if_better(staged["old"], AUC)
    with pytest.raises(ValueError, match="stage candidate sets outside MODEL_DIR"):
        registry.swap_if_better(tmp_path / "20250302T120000Z", AUC)


@pytest.mark.parametrize(("beats", "veto"), [(1.0, True), (0.0, False)])
def test_the_gru_may_veto_only_when_it_beat_every_naive_rule(tmp_path: Path, beats: float, veto: bool) -> None:
    from ml.registry import ModelSet, engine_models

    price = price_model(OLD)
    with_scores(price, beats_naive=beats)
    success_filter, price_filter = engine_models(ModelSet(tmp_path, OLD, success_model(OLD), price))
    assert success_filter.name == "lightgbm_success" and price_filter.veto is veto

"""GRU price model: directions, determinism, train-only scaling, batching, round trip."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ml.errors import FeatureMismatchError
from ml.price_model import Direction, PriceInputSpec, PriceModel, PricePrediction, price_inputs
from ml.train_price import PriceTrainingConfig, train_price_model
from tests.ml.factories import CREATED_AT, PRICE_SPEC, SMALL_PRICE, candles


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return {"AAA/USDT": candles(400, seed=1), "BBB/USDT": candles(400, seed=2)}


@pytest.fixture(scope="module")
def trained(frames):  # noqa: ANN001, ANN201
    return train_price_model(frames, PRICE_SPEC, CREATED_AT, SMALL_PRICE)


@pytest.fixture(scope="module")
def scan_frames() -> list[pd.DataFrame]:
    return [candles(60, seed=100 + i) for i in range(6)]


@pytest.mark.parametrize(
    ("change", "direction", "confidence"),
    [
        (0.3, Direction.NEUTRAL, 0.15),  # the band is exclusive, as in the seeds
        (0.31, Direction.BUY, 0.155),
        (-0.3, Direction.NEUTRAL, 0.15),
        (-0.31, Direction.SELL, 0.155),
        (1.0, Direction.BUY, 0.5),
        (-2.0, Direction.SELL, 1.0),
        (5.0, Direction.BUY, 1.0),  # confidence is capped at 1
        (0.0, Direction.NEUTRAL, 0.0),
    ],
)
def test_direction_band_and_confidence(change: float, direction: Direction, confidence: float) -> None:
    prediction = PricePrediction.from_change(change)
    assert prediction.direction is direction
    assert prediction.confidence == pytest.approx(confidence)
    assert prediction.expected_change_pct == change


def test_training_is_deterministic_and_leaves_torch_settings_alone(frames, trained, scan_frames) -> None:  # noqa: ANN001
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    rng_state = torch.get_rng_state()
    again, _ = train_price_model(frames, PRICE_SPEC, CREATED_AT, SMALL_PRICE)
    model, _ = trained
    for name, tensor in model.network.state_dict().items():
        assert torch.equal(tensor, again.network.state_dict()[name]), name
    assert again.predict_batch(scan_frames) == model.predict_batch(scan_frames)
    other_seed, _ = train_price_model(
        frames,
        PRICE_SPEC,
        CREATED_AT,
        PriceTrainingConfig(hidden_size=8, epochs=2, patience=1, batch_size=128, seed=4),
    )
    assert not torch.equal(other_seed.network.head.weight, model.network.head.weight)
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    assert torch.equal(torch.get_rng_state(), rng_state)


def test_scalers_are_fitted_on_training_candles_only() -> None:
    # 40 candles; window 4, horizon 1. Decisions t = 4..38 have a full window (rows t-3..t,
    # row 0 has no previous close) and a next close: 35 samples. The cut-off is sample
    # int(35 * 0.8) = 28, i.e. candle 32: validation t = 32..38. Training t = 4..31 (t + 1
    # <= 32). Their windows cover rows 1..31.
    n = 40
    rows = np.arange(n)
    close = np.where(rows <= 32, 100.0 * 1.01**rows, 100.0 * 1.01**32 * 0.5 ** (rows - 32))
    frame = pd.DataFrame(
        {
            "open": close,
            "high": close * 1.001,
            "low": close * 0.999,
            "close": close,
            "volume": 100.0,
            "x": np.where(rows <= 31, rows.astype(float), 1000.0),
        },
        index=pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC"),
    )
    spec = PriceInputSpec(window=4, horizon=1, indicator_columns=("x",))
    model, report = train_price_model(
        {"X": frame}, spec, CREATED_AT, PriceTrainingConfig(hidden_size=4, epochs=1, validation_fraction=0.2)
    )
    assert (report.n_train, report.n_validation) == (28, 7)
    x = spec.input_names.index("x")
    # x on rows 1..31 is 1..31: mean 16, population variance (31**2 - 1) / 12 = 80.
    # Any validation row (x = 1000) in the fit would move both.
    assert model.input_scaler.mean[x] == pytest.approx(16.0, abs=1e-12)
    assert model.input_scaler.std[x] == pytest.approx(math.sqrt(80.0), abs=1e-12)
    # every training row is a +1 % candle; the halving candles come after the cut-off
    assert model.input_scaler.mean[0] == pytest.approx(math.log(1.01) * 100, abs=1e-9)
    assert model.target_scaler.mean[0] == pytest.approx(1.0, abs=1e-9)  # next-candle change of +1 %
    assert model.target_scaler.std[0] == 1.0  # constant training target: the std floor
    assert report.validation_start.isoformat() == "2024-01-02T08:00:00+00:00"  # candle 32


def test_one_forward_pass_for_a_batch_equals_single_passes(trained, scan_frames) -> None:  # noqa: ANN001
    model, _ = trained
    calls: list[tuple[int, ...]] = []
    handle = model.network.register_forward_hook(lambda _m, args, _out: calls.append(tuple(args[0].shape)))
    try:
        batch = model.predict_batch(scan_frames)
        assert calls == [(6, PRICE_SPEC.window, len(PRICE_SPEC.input_names))]
        singles = [model.predict(frame) for frame in scan_frames]
    finally:
        handle.remove()
    assert len(calls) == 7
    np.testing.assert_allclose(
        [p.expected_change_pct for p in batch], [p.expected_change_pct for p in singles], rtol=1e-5, atol=1e-7
    )
    assert [p.direction for p in batch] == [p.direction for p in singles]


def test_unpredictable_frames_are_named_not_guessed(trained, scan_frames) -> None:  # noqa: ANN001
    model, _ = trained
    short = scan_frames[0].iloc[-20:]  # a window of 20 needs 21 candles
    holed = scan_frames[1].copy()
    holed.iloc[-3, holed.columns.get_loc("rsi")] = np.nan
    outcomes = model.predict_each([scan_frames[2], short, holed])
    assert isinstance(outcomes[0], PricePrediction)
    assert outcomes[1] == "needs 21 candles, got 20"
    assert outcomes[2] == "non-finite inputs ['rsi'] in the last 20 candles"
    with pytest.raises(ValueError, match="frame 1: needs 21 candles"):
        model.predict_batch([scan_frames[2], short])
    assert model.predict_each([]) == []


def test_report_compares_with_naive_baselines(trained) -> None:  # noqa: ANN001
    model, report = trained
    for name in ("val_mae_pct", "naive_mae_pct", "val_direction_accuracy", "persistence_direction_accuracy"):
        assert 0.0 <= report.scores[name] < 5.0
    assert report.scores == dict(model.metadata.scores)
    assert "vs no-change" in report.summary() and "persistence" in report.summary()


def test_save_load_round_trip(trained, scan_frames, tmp_path: Path) -> None:  # noqa: ANN001
    model, _ = trained
    model.save(tmp_path / "price")
    assert sorted(p.name for p in (tmp_path / "price").iterdir()) == [
        "metadata.json",
        "network.pt",
        "scaler.npz",
    ]
    loaded = PriceModel.load(tmp_path / "price", PRICE_SPEC.input_names)
    assert loaded.predict_batch(scan_frames) == model.predict_batch(scan_frames)
    assert loaded.spec == PRICE_SPEC
    np.testing.assert_array_equal(loaded.input_scaler.mean, model.input_scaler.mean)
    assert loaded.metadata.params["symbols"] == ["AAA/USDT", "BBB/USDT"]
    assert loaded.metadata.library_versions["torch"].startswith("2.13.0")
    with pytest.raises(FeatureMismatchError, match=r"the model lacks \[\], the code lacks \['rsi'\]"):
        PriceModel.load(tmp_path / "price", ("ret_close", "range_hl", "body", "volume_change", "sma_10_rel"))


def test_inputs_are_scale_free() -> None:
    frame = candles(80, seed=3)
    scaled = frame.copy()
    for column in ("open", "high", "low", "close", "sma_10"):
        scaled[column] = frame[column] * 1000.0  # same market quoted in another unit
    np.testing.assert_allclose(
        price_inputs(scaled, PRICE_SPEC)[1:], price_inputs(frame, PRICE_SPEC)[1:], rtol=1e-9, atol=1e-9
    )

"""The dataset: the engine's own candidates, features without look-ahead, labels by the
trade's realised R under the bot's exits, the training cut-off respected."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest

from core.exchange.replay import resample
from core.signals.engine import SignalPipeline
from core.signals.filters import PASS
from core.signals.playbooks import hybrid_playbook
from ml.dataset import CandidateScope, LabelConfig, build_dataset, candidate_rows
from ml.features import CANDIDATE_FEATURES as CANDIDATE_COLUMNS
from ml.higher_context import HIGHER_FEATURES, higher_context
from ml.spec import SUCCESS_FEATURES, candidate_features

FEATURES = candidate_features()
PLAYBOOK = hybrid_playbook()


@pytest.fixture(scope="module")
def btc(sample_candles: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return sample_candles["BTC/USD"].iloc[:2600]


@pytest.fixture(scope="module")
def rows(btc: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return candidate_rows("BTC/USD", btc, PLAYBOOK, "1h", FEATURES, CandidateScope.BASE)


def test_features_are_the_codes_features(rows: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]) -> None:
    table, info, _ = rows
    assert tuple(table.columns) == SUCCESS_FEATURES
    assert len(table) == len(info) > 20
    assert set(HIGHER_FEATURES) <= set(table.columns)
    assert {"regime_ranging", "htf_trend", "atr_pct", "volume_ratio", "hour_sin", "weekday_cos"} <= set(table)


@pytest.mark.parametrize("pick", [0, 7, -1])
def test_features_of_a_candle_do_not_depend_on_later_candles(
    btc: pd.DataFrame, rows: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame], pick: int
) -> None:
    table, info, _ = rows
    row = int(info["row"].iloc[pick])
    cut_table, cut_info, _ = candidate_rows(
        "BTC/USD", btc.iloc[: row + 1], PLAYBOOK, "1h", FEATURES, CandidateScope.BASE
    )
    assert cut_info["decision_time"].iloc[-1] == info["decision_time"].iloc[pick]
    pd.testing.assert_series_equal(cut_table.iloc[-1], table.iloc[pick], check_exact=True, check_names=False)
    for level in ("stop", "tp1", "tp2"):
        assert cut_info[level].iloc[-1] == info[level].iloc[pick]
    # Later candles replaced by nonsense: the candidate and its features stay the same.
    garbage = btc.copy()
    garbage.iloc[row + 1 :] = garbage.iloc[row + 1 :].to_numpy()[::-1] * 1.7
    changed_table, changed_info, _ = candidate_rows("BTC/USD", garbage, PLAYBOOK, "1h", FEATURES, CandidateScope.BASE)
    position = int(np.flatnonzero(changed_info["row"].to_numpy() == row)[0])
    pd.testing.assert_series_equal(changed_table.iloc[position], table.iloc[pick], check_exact=True, check_names=False)


def test_accepted_scope_is_what_the_engine_signals_with_the_same_features(
    btc: pd.DataFrame, rows: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]
) -> None:
    table, info, _ = rows
    accepted_table, accepted_info, _ = candidate_rows("BTC/USD", btc, PLAYBOOK, "1h", FEATURES, CandidateScope.ACCEPTED)
    pipeline = SignalPipeline(PLAYBOOK, "1h")
    frame = pipeline.decide(btc, resample(btc, "4h"))
    engine_rows = np.flatnonzero((frame["side"] != 0).to_numpy() & (frame["reason"] == PASS).to_numpy())
    assert accepted_info["row"].tolist() == engine_rows.tolist() == info.loc[info["accepted"], "row"].tolist()
    assert set(info.loc[~info["accepted"], "engine_reason"]) <= {
        "adx_weak", "volume_low", "mtf_disagrees", "regime_weak_signal", "regime_against_trend", "regime_no_trade"
    }  # fmt: skip
    pd.testing.assert_frame_equal(
        accepted_table, table[info["accepted"].to_numpy()].reset_index(drop=True), check_exact=True
    )
    # The live filter's call on the engine's own candidate gives the training row exactly.
    for position, row in enumerate(engine_rows):
        candidate = pipeline.candidate("BTC/USD", frame, int(row))
        assert (candidate.levels.stop, candidate.levels.tp1) == (
            accepted_info["stop"].iloc[position],
            accepted_info["tp1"].iloc[position],
        )
        live = pd.Series(FEATURES(candidate))[list(SUCCESS_FEATURES)]
        np.testing.assert_array_equal(live.to_numpy(), accepted_table.iloc[position].to_numpy())


def test_labels_use_only_candles_before_until(sample_candles: dict[str, pd.DataFrame]) -> None:
    until = pd.Timestamp("2018-03-01", tz="UTC")
    candles = {s: sample_candles[s] for s in ("BTC/USD", "ETH/USD")}
    dataset = build_dataset(candles, PLAYBOOK, "1h", FEATURES, CandidateScope.BASE, LabelConfig(horizon=24), until)
    samples = dataset.samples
    assert len(samples) > 40
    assert samples.label_end_time.max() < until
    assert all(frame.index[-1] < until for frame in dataset.frames.values())
    assert samples.decision_time.is_monotonic_increasing
    assert (samples.label_end_time > samples.decision_time).all()
    assert (samples.label_end_time - samples.decision_time).max() <= pd.Timedelta(hours=24)
    r = dataset.info["r"].to_numpy()
    assert np.array_equal(samples.success, r > 0)
    assert (samples.return_pct[samples.success] > 0).all() and (samples.return_pct[~samples.success] <= 0).all()
    # R and the return differ by the risk: return % / R = the stop's distance from the fill, % of the fill
    first = dataset.info.iloc[0]
    data = candles[first["symbol"]]
    row = data.index.get_loc(first["decision_time"])
    fill = data["open"].iloc[row + 1] * 1.0005  # market buy at the next open, 0.05 % slippage
    decided = candidate_rows(first["symbol"], data[data.index < until], PLAYBOOK, "1h", FEATURES,
                             CandidateScope.BASE)[1]  # fmt: skip
    stop = decided.loc[decided["decision_time"] == first["decision_time"], "stop"].iloc[0]
    assert first["return_pct"] / first["r"] == pytest.approx(abs(fill - stop) / fill * 100.0)
    summary = dataset.summary()
    assert summary["samples"] == len(samples) and summary["label"] == "realised_r"


def test_higher_context_by_hand() -> None:
    # 1h candles from 00:00; the 4h candles close at 04:00, 08:00, ...; the last candle
    # (opening 30:00 = day 2, 06:00) closes at 07:00, so the bucket 04:00-08:00 is still forming.
    index = pd.date_range("2024-01-01", periods=31, freq="1h", tz="UTC")
    close = 100.0 + np.arange(31, dtype=float)
    frame = pd.DataFrame(
        {"open": close - 0.5, "high": close + 1.0, "low": close - 1.0, "close": close, "volume": 1.0}, index=index
    )
    context = higher_context(frame, "1h", "4h")
    # Closed 4h candles: 00, 04, ..., day 2 00:00 (bucket of rows 24..27); closes at rows 3, 7, ..., 27.
    closes = close[[3, 7, 11, 15, 19, 23, 27]]
    assert context["htf_ret_1"] == pytest.approx(math.log(closes[-1] / closes[-2]) * 100.0)
    assert context["htf_ret_6"] == pytest.approx(math.log(closes[-1] / closes[0]) * 100.0)
    highs, lows = close[[7, 11, 15, 19, 23, 27]] + 1.0, close[[4, 8, 12, 16, 20, 24]] - 1.0
    assert context["htf_range_6"] == pytest.approx(np.mean((highs - lows) / closes[1:]) * 100.0)
    assert context["htf_position_6"] == pytest.approx((closes[-1] - lows.min()) / (highs.max() - lows.min()))
    # Fewer than seven closed 4h candles: the longer features are undefined.
    short = higher_context(frame.iloc[:10], "1h", "4h")
    assert math.isnan(short["htf_ret_6"]) and short["htf_ret_1"] == pytest.approx(math.log(107 / 103) * 100.0)


@pytest.mark.parametrize("last", [1000, 1001, 1002, 1003, 1777])
def test_higher_context_matches_the_resampled_candles(btc: pd.DataFrame, last: int) -> None:
    frame = btc.iloc[: last + 1]
    higher = resample(frame, "4h")
    closed = higher[higher.index + pd.Timedelta(hours=4) <= frame.index[-1] + pd.Timedelta(hours=1)].iloc[-7:]
    context = higher_context(frame, "1h", "4h")
    closes, recent = closed["close"].to_numpy(), closed.iloc[1:]
    assert context["htf_ret_1"] == pytest.approx(math.log(closes[-1] / closes[-2]) * 100.0, rel=1e-12)
    assert context["htf_ret_6"] == pytest.approx(math.log(closes[-1] / closes[0]) * 100.0, rel=1e-12)
    ranges = (recent["high"] - recent["low"]) / recent["close"]
    assert context["htf_range_6"] == pytest.approx(ranges.mean() * 100.0, rel=1e-12)
    span_low, span_high = recent["low"].min(), recent["high"].max()
    assert context["htf_position_6"] == pytest.approx((closes[-1] - span_low) / (span_high - span_low), rel=1e-12)


def _reference_row(candidate_frame: pd.DataFrame, timeframe: str = "1h") -> np.ndarray:
    """The features' market and higher-timeframe parts one candle at a time."""
    from ml.features import market_matrix
    from ml.spec import INDICATORS, PRICE_DELTAS, PRICE_LEVELS

    market = market_matrix(candidate_frame, INDICATORS, PRICE_LEVELS, PRICE_DELTAS)[-1]
    higher = higher_context(candidate_frame, timeframe, "4h")
    return np.concatenate([market, [higher[name] for name in HIGHER_FEATURES]])


def test_batch_features_equal_the_one_by_one_reference(sample_candles: dict[str, pd.DataFrame]) -> None:
    pipeline = SignalPipeline(dataclasses.replace(PLAYBOOK, filters=()), "1h")
    candles = sample_candles["LTC/USD"].iloc[:4000]
    gappy = candles.drop(candles.index[3000:3007])  # a whole 4h candle missing
    candidates = []
    for data in (candles, gappy):
        frame = pipeline.decide(data, resample(data, "4h"))
        rows = np.flatnonzero((frame["side"] != 0).to_numpy() & (frame["reason"] == PASS).to_numpy())
        candidates += [pipeline.candidate("LTC/USD", frame, int(row)) for row in rows]
    short = candidates[0]
    for end in range(2995, 3040):  # every candle around the gap, as if it were a decision candle
        candidates.append(dataclasses.replace(short, frame=frame.iloc[:end]))
    for length in (1, 2, 20, 26, 35, 37):  # frames shorter than the features' windows
        candidates.append(dataclasses.replace(short, frame=short.frame.iloc[-length:]))
    table = FEATURES.table(candidates)
    names = [name for name in SUCCESS_FEATURES if name in table.columns]
    market_and_higher = [n for n in names if not n.startswith("regime_") and n not in CANDIDATE_COLUMNS]
    expected = np.array([_reference_row(c.frame) for c in candidates])
    np.testing.assert_allclose(table[market_and_higher].to_numpy(), expected, rtol=1e-12, atol=1e-12, equal_nan=True)
    assert table[market_and_higher].iloc[-6:].isna().any(axis=None)
    single = FEATURES(candidates[3])
    assert list(single) == list(SUCCESS_FEATURES)
    np.testing.assert_array_equal(np.array(list(single.values())), table.iloc[3].to_numpy())

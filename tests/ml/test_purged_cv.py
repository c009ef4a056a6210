"""Purged K-fold and the purged train/test split on constructed timelines.

Every expected index set below is worked out by hand in the comment above it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ml.purged_cv import PurgedKFold, purged_train_test_indices, purged_train_test_split


def _as_lists(pairs: list[tuple[np.ndarray, np.ndarray]]) -> list[tuple[list[int], list[int]]]:
    return [(train.tolist(), test.tolist()) for train, test in pairs]


def test_purge_gap_and_embargo_without_label_end() -> None:
    # n=10, 3 folds -> tests [0..3], [4..6], [7..9]. purge_gap=1: each label is taken to
    # reach one sample ahead, so one sample each side of the test fold is purged.
    # embargo = ceil(0.1 * 10) = 1 sample after the fold (here the same sample as the purge).
    folds = PurgedKFold(n_splits=3, purge_gap=1, embargo_pct=0.1).split(np.zeros((10, 2)))
    assert _as_lists(folds) == [
        ([5, 6, 7, 8, 9], [0, 1, 2, 3]),  # 4 purged
        ([0, 1, 2, 8, 9], [4, 5, 6]),  # 3 and 7 purged
        ([0, 1, 2, 3, 4, 5], [7, 8, 9]),  # 6 purged
    ]


def test_embargo_alone_removes_samples_after_the_test_fold_only() -> None:
    # n=8, 4 folds of 2; no purge; embargo = ceil(0.25 * 8) = 2 samples after each fold.
    folds = PurgedKFold(n_splits=4, purge_gap=0, embargo_pct=0.25).split(list(range(8)))
    assert _as_lists(folds) == [
        ([4, 5, 6, 7], [0, 1]),  # 2, 3 embargoed
        ([0, 1, 6, 7], [2, 3]),  # 4, 5 embargoed; 0, 1 before the fold stay
        ([0, 1, 2, 3], [4, 5]),  # 6, 7 embargoed
        ([0, 1, 2, 3, 4, 5], [6, 7]),  # nothing follows the last fold
    ]


def test_label_end_in_positions_purges_by_overlap() -> None:
    # Label windows [i, end_i]; 2 folds: tests [0..4] and [5..9].
    ends = [2, 3, 3, 5, 6, 6, 9, 9, 9, 9]
    # Fold 0 spans [0, max(2,3,3,5,6)=6]: samples 5 and 6 start inside it -> purged.
    # Fold 1 spans [5, 9]: sample 3 (ends 5) and 4 (ends 6) reach into it -> purged.
    folds = PurgedKFold(n_splits=2, purge_gap=1, embargo_pct=0.0).split(np.zeros(10), label_end=ends)
    assert _as_lists(folds) == [([7, 8, 9], [0, 1, 2, 3, 4]), ([0, 1, 2], [5, 6, 7, 8, 9])]
    # Embargo ceil(0.3 * 10) = 3 after fold 0 also removes 7 (5 and 6 were purged already).
    folds = PurgedKFold(n_splits=2, purge_gap=1, embargo_pct=0.3).split(np.zeros(10), label_end=ends)
    assert _as_lists(folds) == [([8, 9], [0, 1, 2, 3, 4]), ([0, 1, 2], [5, 6, 7, 8, 9])]


def test_label_end_in_time_purges_only_what_overlaps() -> None:
    # Samples at hours 0, 1, 2, 5, 6, 7 with label ends at hours 1, 5, 3, 6, 8, 7.
    base = pd.Timestamp("2024-01-01", tz="UTC")
    times = pd.DatetimeIndex([base + pd.Timedelta(hours=h) for h in (0, 1, 2, 5, 6, 7)])
    ends = pd.DatetimeIndex([base + pd.Timedelta(hours=h) for h in (1, 5, 3, 6, 8, 7)])
    # Fold 0 = [0, 1, 2] spans hours [0, 5]: sample 3 starts at hour 5 -> purged; 4, 5 kept.
    # Fold 1 = [3, 4, 5] spans hours [5, 8]: sample 1's label ends at hour 5 -> purged;
    # sample 2, right before the fold, ends at hour 3 and is kept.
    folds = PurgedKFold(n_splits=2, purge_gap=5, embargo_pct=0.0).split(
        np.zeros(6), timestamps=times, label_end=ends
    )
    assert _as_lists(folds) == [([4, 5], [0, 1, 2]), ([0, 2], [3, 4, 5])]


def test_folds_are_contiguous_and_cover_every_sample_once() -> None:
    splitter = PurgedKFold(n_splits=5, purge_gap=2, embargo_pct=0.05)
    folds = splitter.split(np.zeros(103))
    tests = np.concatenate([test for _, test in folds])
    assert tests.tolist() == list(range(103))
    for train, test in folds:
        assert np.all(np.diff(test) == 1)
        assert not set(train) & set(range(test[0] - 2, test[-1] + 1 + 6))  # purge 2, embargo ceil(5.15)=6
    assert splitter.get_n_splits() == 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n_splits": 1}, "n_splits"), ({"purge_gap": -1}, "purge_gap"), ({"embargo_pct": 1.0}, "embargo_pct")],
)
def test_bad_parameters_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PurgedKFold(**kwargs)  # type: ignore[arg-type]


def test_bad_timelines_are_refused() -> None:
    splitter = PurgedKFold(n_splits=2)
    with pytest.raises(ValueError, match="time order"):
        splitter.split(np.zeros(4), timestamps=[0, 2, 1, 3], label_end=[1, 2, 3, 4])
    with pytest.raises(ValueError, match="precedes"):
        splitter.split(np.zeros(4), label_end=[0, 0, 3, 3])
    with pytest.raises(ValueError, match="cannot make"):
        PurgedKFold(n_splits=5).split(np.zeros(4))


def test_train_test_split_keeps_time_order_and_purges_before_the_test_set() -> None:
    # n=10, test_size=0.3 -> the last 3 samples (0.3 * 10 is 3.0000000000000004 in floats:
    # still 3). purge_gap=2 -> samples 5 and 6 are purged.
    X = pd.DataFrame({"f": np.arange(10.0)}, index=pd.RangeIndex(100, 110))
    y = np.arange(10) * 10
    X_train, X_test, y_train, y_test = purged_train_test_split(X, y, test_size=0.3, purge_gap=2)
    assert X_train.index.tolist() == [100, 101, 102, 103, 104]
    assert X_test.index.tolist() == [107, 108, 109]
    assert y_train.tolist() == [0, 10, 20, 30, 40]
    assert y_test.tolist() == [70, 80, 90]


def test_train_test_split_with_label_end_purges_long_labels_only() -> None:
    # Test = [7, 8, 9] spans [7, 9]. Sample 4's label reaches 9 -> purged; 5 and 6 end
    # before 7 -> kept.
    ends = [0, 1, 2, 3, 9, 5, 6, 7, 8, 9]
    train, test = purged_train_test_indices(10, test_size=0.3, label_end=ends)
    assert train.tolist() == [0, 1, 2, 3, 5, 6]
    assert test.tolist() == [7, 8, 9]

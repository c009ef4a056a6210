"""Purged K-fold cross-validation with an embargo, for samples whose labels span time.

A sample i is observed at `start_i` and its label depends on prices up to `end_i` (its
label window). Folds are contiguous blocks of samples in time order. For each test fold
the training set loses:

* purged samples: those whose label window [start_i, end_i] overlaps the test fold's span
  [start of its first sample, latest label end of its samples];
* embargoed samples: the ceil(embargo_pct * n) samples right after the test fold, whose
  features may still carry information from the test period (serial correlation).

Label windows come from `label_end` when given: in the units of `timestamps` if those are
given, else in sample positions. Without `label_end` each label is assumed to reach
`purge_gap` samples ahead (window [i, i + purge_gap]), which purges the `purge_gap`
samples on each side of the test fold. `purge_gap` is not used when `label_end` is given:
the windows are then exact.

After Lopez de Prado, Advances in Financial Machine Learning, ch. 7.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

IndexPair = tuple[np.ndarray, np.ndarray]


class PurgedKFold:
    """K contiguous folds in time; train sets purged of label overlap and embargoed."""

    def __init__(self, n_splits: int = 5, purge_gap: int = 1, embargo_pct: float = 0.01) -> None:
        if n_splits < 2:
            raise ValueError(f"n_splits must be at least 2, got {n_splits}")
        if purge_gap < 0:
            raise ValueError(f"purge_gap must be >= 0, got {purge_gap}")
        if not 0.0 <= embargo_pct < 1.0:
            raise ValueError(f"embargo_pct must be in [0, 1), got {embargo_pct}")
        self.n_splits = n_splits
        self.purge_gap = purge_gap
        self.embargo_pct = embargo_pct

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        """Number of folds (scikit-learn's splitter interface)."""
        return self.n_splits

    def embargo_size(self, n_samples: int) -> int:
        """Samples embargoed after each test fold: ceil(embargo_pct * n_samples)."""
        return _ceil(self.embargo_pct * n_samples)

    def split(
        self,
        X: Any,
        y: Any = None,
        groups: Any = None,
        timestamps: Any = None,
        label_end: Any = None,
    ) -> list[IndexPair]:
        """(train_idx, test_idx) position arrays, one pair per fold, in fold order.

        `X` only gives the number of samples, which must be in time order. `y` and
        `groups` are accepted for scikit-learn compatibility and ignored.
        """
        n = len(X)
        if n < self.n_splits:
            raise ValueError(f"cannot make {self.n_splits} folds of {n} samples")
        starts, ends = label_windows(n, self.purge_gap, timestamps, label_end)
        embargo = self.embargo_size(n)
        positions = np.arange(n)
        pairs: list[IndexPair] = []
        for test in np.array_split(positions, self.n_splits):
            first, last = int(test[0]), int(test[-1])
            keep = ~_overlaps(starts, ends, starts[first], ends[first : last + 1].max())
            keep[first : last + 1] = False
            keep[last + 1 : last + 1 + embargo] = False
            pairs.append((positions[keep], test))
        return pairs


def purged_train_test_indices(
    n_samples: int,
    test_size: float = 0.2,
    purge_gap: int = 1,
    timestamps: Any = None,
    label_end: Any = None,
) -> IndexPair:
    """Positions of a time-ordered split: the last ceil(test_size * n) samples are the
    test set; training samples whose label windows overlap it are purged."""
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be in (0, 1), got {test_size}")
    n_test = _ceil(test_size * n_samples)
    if n_test >= n_samples:
        raise ValueError(f"test_size {test_size} leaves no training samples out of {n_samples}")
    starts, ends = label_windows(n_samples, purge_gap, timestamps, label_end)
    first = n_samples - n_test
    positions = np.arange(n_samples)
    keep = ~_overlaps(starts, ends, starts[first], ends[first:].max())
    keep[first:] = False
    return positions[keep], positions[first:]


def purged_train_test_split(
    X: pd.DataFrame | np.ndarray,
    y: pd.Series | np.ndarray | Sequence[Any],
    test_size: float = 0.2,
    purge_gap: int = 1,
    embargo_pct: float = 0.01,
    timestamps: Any = None,
    label_end: Any = None,
) -> tuple[Any, Any, Any, Any]:
    """X_train, X_test, y_train, y_test: time-ordered, test at the end, never shuffled.

    `embargo_pct` is accepted for the same signature as the seeds' and validated, but has
    no effect: an embargo only removes training samples that follow a test set, and here
    nothing follows it.
    """
    if not 0.0 <= embargo_pct < 1.0:
        raise ValueError(f"embargo_pct must be in [0, 1), got {embargo_pct}")
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} samples, y has {len(y)}")
    train, test = purged_train_test_indices(len(X), test_size, purge_gap, timestamps, label_end)
    return _take(X, train), _take(X, test), _take(y, train), _take(y, test)


def label_windows(n: int, purge_gap: int, timestamps: Any, label_end: Any) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of every sample's label window as comparable int64 arrays."""
    if label_end is None:
        starts = np.arange(n, dtype=np.int64)
        if timestamps is not None:
            _check_sorted(_comparable(timestamps, n, "timestamps"))
        return starts, starts + purge_gap
    if timestamps is None:
        starts = np.arange(n, dtype=np.int64)
        ends = _comparable(label_end, n, "label_end")
    else:
        _check_same_clock(timestamps, label_end)
        starts = _comparable(timestamps, n, "timestamps")
        ends = _comparable(label_end, n, "label_end")
        _check_sorted(starts)
    if np.any(ends < starts):
        bad = int(np.flatnonzero(ends < starts)[0])
        raise ValueError(f"label_end precedes the sample's own time at position {bad}")
    return starts, ends


def _ceil(value: float) -> int:
    """Ceiling that ignores float noise: 0.3 * 10 is 3.0000000000000004, which is 3."""
    return math.ceil(round(value, 9))


def _overlaps(starts: np.ndarray, ends: np.ndarray, span_start: Any, span_end: Any) -> np.ndarray:
    return (starts <= span_end) & (ends >= span_start)


def _comparable(values: Any, n: int, name: str) -> np.ndarray:
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} values for {n} samples")
    if _is_datetime(values):
        index = pd.DatetimeIndex(values)
        if index.tz is not None:
            index = index.tz_convert("UTC").tz_localize(None)
        return index.as_unit("ns").asi8
    array = np.asarray(values)
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{name} must be numbers or datetimes, got dtype {array.dtype}")
    return array.astype(np.int64) if np.issubdtype(array.dtype, np.integer) else array.astype(float)


def _is_datetime(values: Any) -> bool:
    dtype = getattr(values, "dtype", None)
    if dtype is None:
        dtype = np.asarray(values).dtype
    return bool(pd.api.types.is_datetime64_any_dtype(dtype))


def _check_same_clock(timestamps: Any, label_end: Any) -> None:
    if _is_datetime(timestamps) != _is_datetime(label_end):
        raise ValueError("timestamps and label_end must both be datetimes or both be numbers")
    if _is_datetime(timestamps):
        aware = [pd.DatetimeIndex(v).tz is not None for v in (timestamps, label_end)]
        if aware[0] != aware[1]:
            raise ValueError("timestamps and label_end must both be timezone-aware or both naive")


def _check_sorted(starts: np.ndarray) -> None:
    if np.any(np.diff(starts) < 0):
        bad = int(np.flatnonzero(np.diff(starts) < 0)[0]) + 1
        raise ValueError(f"samples must be in time order; position {bad} goes back in time")


def _take(values: Any, positions: np.ndarray) -> Any:
    if isinstance(values, pd.DataFrame | pd.Series):
        return values.iloc[positions]
    return np.asarray(values)[positions]

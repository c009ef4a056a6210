"""The figures /status shows: a snapshot the observability loop builds and the renderer
reads (kept apart from both, so that rendering needs nothing of the delivery machinery)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from bot.metrics import StateFigures


@dataclass(frozen=True, slots=True)
class Health:
    """The figures /status shows."""

    figures: StateFigures
    sent_per_second: float
    sent: int
    failed: int
    rate_limited: int
    in_doubt: int
    last_scan_seconds: float | None
    ml: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # model -> (passed, rejected)
    model_ages: Mapping[str, timedelta] = field(default_factory=dict)

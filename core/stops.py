"""Initial stop-loss and take-profit levels."""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.models import Side, SignalLevels


@dataclass(frozen=True, slots=True)
class StopConfig:
    atr_multiplier: float = 2.0  # stop = entry -/+ k x ATR(14)
    tp1_r: float = 1.5  # first target in multiples of the stop distance (R)
    tp2_r: float = 2.5  # main target: 2.5 R as in the client's notes
    fallback_stop_pct: float = 2.0  # fixed-percent stop when ATR is unavailable


def levels_from_distance(side: Side, entry: float, distance: float, tp1_r: float, tp2_r: float) -> SignalLevels:
    """Levels for a stop `distance` away from `entry` and targets at R-multiples."""
    if entry <= 0 or distance <= 0:
        raise ValueError("entry and stop distance must be positive")
    if side is Side.SHORT and distance >= entry:
        raise ValueError("stop distance must be below the entry price")
    s = side.sign
    return SignalLevels(
        side=side,
        entry=entry,
        stop=entry - s * distance,
        tp1=entry + s * tp1_r * distance,
        tp2=entry + s * tp2_r * distance,
    )


def initial_levels(side: Side, entry: float, atr: float | None, config: StopConfig) -> SignalLevels:
    """ATR stop when ATR is known and positive; the fixed-percent fallback otherwise."""
    if atr is not None and math.isfinite(atr) and atr > 0:
        distance = config.atr_multiplier * atr
    else:
        distance = entry * config.fallback_stop_pct / 100.0
    return levels_from_distance(side, entry, distance, config.tp1_r, config.tp2_r)

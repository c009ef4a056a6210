"""Stops and targets: the initial stop (ATR-based, fixed-percent fallback), targets at
R-multiples of the stop distance, and the trailing-stop move."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from core.models import Side, SignalLevels


class StopType(enum.StrEnum):
    ATR = "atr"
    FIXED = "fixed"


@dataclass(frozen=True, slots=True)
class StopConfig:
    mode: StopType = StopType.ATR  # FIXED: always the fixed percent (reference strategies)
    atr_multiplier: float = 2.0  # k when no regime chooses one
    tp1_r: float = 1.5  # first target in multiples of the stop distance (R)
    tp2_r: float = 2.5  # main target: 2.5 R as in the client's notes
    fallback_stop_pct: float = 2.0  # fixed-percent stop (mode FIXED, or ATR unavailable)

    def __post_init__(self) -> None:
        if self.atr_multiplier <= 0 or self.fallback_stop_pct <= 0:
            raise ValueError("atr_multiplier and fallback_stop_pct must be positive")
        if not 0 < self.tp1_r <= self.tp2_r:
            raise ValueError("targets must satisfy 0 < tp1_r <= tp2_r")


@dataclass(frozen=True, slots=True)
class InitialStop:
    """An initial stop with the numbers that explain it."""

    levels: SignalLevels
    stop_type: StopType
    atr_value: float | None
    atr_multiplier: float | None

    @property
    def stop_price(self) -> float:
        return self.levels.stop

    @property
    def stop_distance(self) -> float:
        return self.levels.risk_per_unit

    @property
    def stop_percentage(self) -> float:
        """Stop distance as a percent of the entry price."""
        return self.levels.stop_pct

    @property
    def risk_reward(self) -> float:
        """Main target distance over stop distance."""
        return abs(self.levels.tp2 - self.levels.entry) / self.stop_distance


def levels_from_distance(side: Side, entry: float, distance: float, tp1_r: float, tp2_r: float) -> SignalLevels:
    """Levels for a stop `distance` away from `entry` and targets at R-multiples."""
    if entry <= 0 or distance <= 0:
        raise ValueError("entry and stop distance must be positive")
    if side is Side.SHORT and tp2_r * distance >= entry:
        raise ValueError("a short's targets must stay above zero")
    if side is Side.LONG and distance >= entry:
        raise ValueError("a long's stop must stay above zero")
    s = side.sign
    return SignalLevels(
        side=side,
        entry=entry,
        stop=entry - s * distance,
        tp1=entry + s * tp1_r * distance,
        tp2=entry + s * tp2_r * distance,
    )


def calculate_initial_stop(
    entry_price: float,
    side: Side,
    atr: float | None,
    config: StopConfig,
    atr_multiplier: float | None = None,
) -> InitialStop:
    """Stop = entry -/+ k x ATR, with k = `atr_multiplier` (chosen by the regime) or the
    config's; the fixed percent when the mode is FIXED or ATR is missing, NaN or <= 0."""
    k = atr_multiplier if atr_multiplier is not None else config.atr_multiplier
    if config.mode is StopType.ATR and atr is not None and math.isfinite(atr) and atr > 0:
        levels = levels_from_distance(side, entry_price, k * atr, config.tp1_r, config.tp2_r)
        return InitialStop(levels, StopType.ATR, atr, k)
    distance = entry_price * config.fallback_stop_pct / 100.0
    levels = levels_from_distance(side, entry_price, distance, config.tp1_r, config.tp2_r)
    return InitialStop(levels, StopType.FIXED, None, None)


def update_stop(
    side: Side,
    current_stop: float,
    highest: float,
    lowest: float,
    close: float,
    atr: float,
    multiplier: float,
) -> float:
    """ATR trailing stop: `multiplier` x ATR from the highest high (long) or lowest low
    (short) since entry, never beyond the close, and never moved against the position.
    Returns the new stop (the current one when the trail would not improve it)."""
    distance = multiplier * atr
    if side is Side.LONG:
        candidate = min(highest - distance, close)
        return max(candidate, current_stop)
    candidate = max(lowest + distance, close)
    return min(candidate, current_stop)

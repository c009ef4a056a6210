"""Whether a signal may still be entered at market at the price of the moment: the check
the bot makes when a user confirms and the backtester makes at the next candle's open.

A signal is refused when the price has already run through its stop, reached its first
target, or moved further from the entry than `max_drift_r` times the signal's stop
distance (its R). Measured in R, the allowance scales with each signal's own volatility:
a quarter of R is a small part of the trade whatever the coin, where a fixed percentage is
either too tight for a wide stop (a human cannot press in time) or too loose for a tight
one. The quantity is then resized for the price (core/trading/confirmation.py), so the
money at risk never exceeds what was sized.
The answer is a category (a metric label, a catalogue key), never a sentence with
numbers.
"""

from __future__ import annotations

from core.models import SignalLevels

PAST_STOP = "price_past_stop"
PAST_TARGET = "price_past_target"
DRIFTED = "price_drift"

#: The default allowance, in R (see README, "Confirm").
DEFAULT_MAX_DRIFT_R = 0.25


def drift_r(levels: SignalLevels, price: float) -> float:
    """How far `price` is from the entry, in units of the stop distance (always >= 0)."""
    return abs(price - levels.entry) / levels.risk_per_unit


def entry_refusal(levels: SignalLevels, price: float, max_drift_r: float) -> str | None:
    """Why `levels` cannot be entered at market at `price` (a category), or None when it can."""
    sign = levels.side.sign
    if sign * (price - levels.stop) <= 0:
        return PAST_STOP
    if sign * (price - levels.tp1) >= 0:
        return PAST_TARGET
    if abs(price - levels.entry) > max_drift_r * levels.risk_per_unit:
        return DRIFTED
    return None


def limit_refusal(levels: SignalLevels, price: float) -> str | None:
    """Why a limit entry at the signal's entry cannot be placed with the price at `price`:
    only once the price has run through the stop (the idea is void). A price beyond the
    entry is what a limit waits for; one on the stop's side fills at once, at a better
    price than the entry (less risk than sized)."""
    if levels.side.sign * (price - levels.stop) <= 0:
        return PAST_STOP
    return None

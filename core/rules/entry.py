"""Whether a signal may still be entered at the price of the moment: the check the bot
makes when a user confirms and the backtester makes at the next candle's open.

A signal is refused when the price has already run through its stop, reached its first
target, or moved further than `max_drift_pct` from the entry the signal was sized for.
The answer is a category (a metric label, a catalogue key), never a sentence with
numbers.
"""

from __future__ import annotations

from core.models import SignalLevels

PAST_STOP = "price_past_stop"
PAST_TARGET = "price_past_target"
DRIFTED = "price_drift"


def entry_refusal(levels: SignalLevels, price: float, max_drift_pct: float) -> str | None:
    """Why `levels` cannot be entered at `price` (a category), or None when it can."""
    sign = levels.side.sign
    if sign * (price - levels.stop) <= 0:
        return PAST_STOP
    if sign * (price - levels.tp1) >= 0:
        return PAST_TARGET
    if abs(price - levels.entry) / levels.entry * 100.0 > max_drift_pct:
        return DRIFTED
    return None

"""Position sizing: fixed-fractional from the risk percent and the stop distance,
capped by the largest position allowed as a percent of equity."""

from __future__ import annotations


def fixed_fractional_quantity(
    equity: float, entry: float, stop: float, risk_pct: float, max_position_pct: float
) -> float:
    """Quantity that loses `risk_pct` of `equity` if the stop is hit, capped so the
    position's notional stays within `max_position_pct` of equity."""
    if equity <= 0 or entry <= 0:
        return 0.0
    risk_per_unit = abs(entry - stop)
    if risk_per_unit == 0:
        raise ValueError("stop equals entry: the risk per unit is zero")
    by_risk = equity * risk_pct / 100.0 / risk_per_unit
    by_cap = equity * max_position_pct / 100.0 / entry
    return min(by_risk, by_cap)

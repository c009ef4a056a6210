"""The signal card's exit plan, as the position manager will carry it out
(core.rules.exits.ManagementRules, the run's playbook): what TP1 takes, whether the stop
moves to break-even, how the stop trails and what closes the rest."""

from __future__ import annotations

from bot.i18n import t
from bot.i18n.format import compact, number
from core.rules.exits import ManagementRules


def exit_plan(language: str, rules: ManagementRules, trails: bool = True) -> str:
    """'Exit plan: TP1 takes 50% of the position; the stop moves to the entry (break-even); ...'.
    `trails` False: the signal has no ATR (an admin's signal), so its stop never trails."""
    trail = compact(rules.trail_atr_multiplier, language)
    trails = trails and rules.trail_atr_multiplier > 0
    steps: list[str] = []
    if trails and rules.trail_from_entry and rules.tp1_fraction < 1:
        steps.append(t(language, "plan_trail_from_entry", k=trail))
    if rules.tp1_fraction >= 1:
        return t(language, "plan_line", steps=t(language, "plan_tp1_all"))
    steps.append(t(language, "plan_tp1_part", pct=number(rules.tp1_fraction * 100, language, 0) + "%"))
    if rules.breakeven_after_tp1:
        steps.append(t(language, "plan_break_even"))
    if trails and not rules.trail_from_entry:
        steps.append(t(language, "plan_trail_after_tp1", k=trail))
    steps.append(t(language, "plan_rest_trails" if trails else "plan_tp2_rest"))
    return t(language, "plan_line", escape=False, steps="; ".join(steps))

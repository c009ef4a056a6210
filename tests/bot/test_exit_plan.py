"""The signal card's exit plan says what the position rules (core/rules/exits.py) will do,
in English and in Russian; the strings are written by hand from the rules' fields."""

from __future__ import annotations

from bot.exit_plan import exit_plan
from core.rules.exits import ManagementRules

SEEDS = ManagementRules()  # TP1 half, break-even, 2 x ATR trail after TP1, TP2 the rest
TREND = ManagementRules(tp1_fraction=1 / 3, breakeven_after_tp1=False, trail_atr_multiplier=8.0, trail_from_entry=True)
ONE_TARGET = ManagementRules(tp1_fraction=1.0, breakeven_after_tp1=False, trail_atr_multiplier=0.0)


def test_fixed_targets_with_break_even_and_a_trail_after_tp1() -> None:
    assert exit_plan("en", SEEDS) == (
        "Exit plan: TP1 takes 50% of the position; the stop moves to the entry (break-even); then the stop"
        " trails 2 × ATR behind the best price, never back; the rest runs until the trailing stop or TP2 closes it."
    )
    assert exit_plan("ru", SEEDS) == (
        "План выхода: TP1 закрывает 50% позиции; стоп переносится на вход (безубыток); затем стоп идёт за"
        " лучшей ценой на расстоянии 2 × ATR и назад не отходит; остаток держится, пока его не закроет"
        " трейлинг-стоп или TP2."
    )


def test_a_trail_from_the_entry_and_a_third_at_tp1() -> None:
    assert exit_plan("en", TREND) == (
        "Exit plan: the stop trails 8 × ATR behind the best price from the entry on, never back; TP1 takes 33%"
        " of the position; the rest runs until the trailing stop or TP2 closes it."
    )
    russian = exit_plan("ru", TREND)
    assert russian.startswith("План выхода: стоп с самого входа идёт за лучшей ценой на расстоянии 8 × ATR")
    assert "; TP1 закрывает 33% позиции; остаток держится, пока его не закроет трейлинг-стоп или TP2." in russian


def test_one_target_and_a_signal_without_atr() -> None:
    assert exit_plan("en", ONE_TARGET) == "Exit plan: TP1 closes the whole position."
    assert exit_plan("ru", ONE_TARGET) == "План выхода: TP1 закрывает всю позицию."
    # an admin's signal has no ATR: its stop cannot trail, so the plan does not promise it
    assert exit_plan("en", SEEDS, trails=False) == (
        "Exit plan: TP1 takes 50% of the position; the stop moves to the entry (break-even); TP2 closes the rest."
    )
    assert exit_plan("ru", TREND, trails=False) == "План выхода: TP1 закрывает 33% позиции; TP2 закрывает остаток."

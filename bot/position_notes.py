"""What /positions adds under a position whose price has reached a resting level: the stop
(or target) is being executed, not an unexplained loss beyond the stop."""

from __future__ import annotations

from bot.i18n import t
from bot.i18n.format import price
from core.models import ExitReason
from core.trading.service import PositionView


def executing_note(language: str, view: PositionView) -> str:
    """A line saying which level is being executed, or "" when none is reached."""
    reason, p = view.executing, view.position
    if reason is None:
        return ""
    if reason in (ExitReason.TP1, ExitReason.TP2):
        level = p.tp1 if reason is ExitReason.TP1 else p.tp2
        target = reason.value.upper()
        return "\n" + t(language, "position_executing_target", target=target, level=price(level, language))
    return "\n" + t(
        language, "position_executing_stop", level=price(p.stop_price, language), reason=t(language, f"reason_{reason}")
    )

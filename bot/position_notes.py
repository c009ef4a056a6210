"""What /positions adds under a position whose price has reached a resting level: the stop
(or target) is being executed, not an unexplained loss beyond the stop."""

from __future__ import annotations

from bot.figures import Figures
from bot.i18n import t
from core.models import ExitReason
from core.trading.service import PositionView


def executing_note(language: str, view: PositionView, figures: Figures) -> str:
    """A line saying which level is being executed, or "" when none is reached."""
    reason, p = view.executing, view.position
    if reason is None:
        return ""
    if reason in (ExitReason.TP1, ExitReason.TP2):
        level = p.tp1 if reason is ExitReason.TP1 else p.tp2
        target = reason.value.upper()
        shown = figures.price(p.symbol, level, language)
        return "\n" + t(language, "position_executing_target", target=target, level=shown)
    stop = figures.price(p.symbol, p.stop_price, language)
    return "\n" + t(language, "position_executing_stop", level=stop, reason=t(language, f"reason_{reason}"))

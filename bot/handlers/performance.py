"""/performance: the public track record, per playbook and for admins' signals, over the last
30 days and all time (core/trading/track_record.py)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CommandHandler, filters

from bot.context import BotContext, reply, user_language
from bot.i18n import t
from bot.i18n.format import MISSING, number, percent
from bot.render import playbook_name, signal_count, split_message
from core.trading.record_stats import RecordStats
from core.trading.track_record import Performance, ProbationView


def _r(value: float | None, language: str) -> str:
    return MISSING if value is None else number(value, language, 2, signed=True)


def _pct(value: float | None, language: str) -> str:
    return MISSING if value is None else percent(value, language, signed=True)


def window_text(language: str, label: str, s: RecordStats) -> str:
    if s.closed == 0:
        signals = signal_count(language, s.signals)
        return t(language, "performance_window_empty", window=label, signals=signals, open=s.open_now)
    expectancy = _pct(s.expectancy_pct, language)
    if s.expectancy_interval is not None:
        low, high = s.expectancy_interval
        expectancy += f" [{_pct(low, language)}; {_pct(high, language)}]"
    return t(
        language,
        "performance_window",
        window=label,
        signals=signal_count(language, s.signals),
        closed=s.closed,
        open=s.open_now,
        win=MISSING if s.win_pct is None else percent(s.win_pct, language),
        avg_r=_r(s.avg_r, language),
        expectancy=expectancy,
        best=_r(s.best_r, language),
        worst=_r(s.worst_r, language),
    )


def performance_messages(language: str, performance: Performance) -> list[str]:
    if not performance.playbooks:
        return [t(language, "performance_none")]
    recent = t(language, "performance_recent", days=performance.window_days)
    entries = []
    for record in performance.playbooks:
        title = t(language, "performance_playbook", playbook=playbook_name(language, record.playbook))
        if record.on_probation:
            title += t(language, "performance_on_probation")
        entries.append(
            "\n".join(
                (
                    title,
                    window_text(language, recent, record.recent),
                    window_text(language, t(language, "performance_all_time"), record.all_time),
                )
            )
        )
    return split_message(t(language, "performance_header"), entries)


def probation_text(language: str, view: ProbationView) -> str:
    """The probation lines /status shows."""
    if view.trades == 0:
        return "\n" + t(language, "status_probation_off")
    action = t(language, "probation_action_hold" if view.hold else "probation_action_mark")
    lines = [
        t(
            language,
            "status_probation_line",
            mark="⚠️" if line.on_probation else "✅",
            playbook=line.playbook,
            avg_r=_r(line.avg_r, language),
            closed=line.closed,
        )
        for line in view.lines
    ]
    header = t(language, "status_probation", trades=view.trades, bound=_r(view.bound, language), action=action)
    return "\n" + "\n".join([header, *lines] if lines else [header, t(language, "status_probation_none")])


async def performance(update: Update, context: BotContext) -> None:
    language = await user_language(update, context)
    for message in performance_messages(language, await context.services.track_record.performance()):
        await reply(update, message)


def register(app: Application) -> None:  # type: ignore[type-arg]
    app.add_handler(CommandHandler("performance", performance, filters=filters.ChatType.PRIVATE))

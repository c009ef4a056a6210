"""The lines of a signal's card that say why it exists, what it risks for this user and,
if a risk limit refuses it, why it cannot be taken."""

from __future__ import annotations

import html
import re
from typing import Any

from bot.i18n import CATALOGUE, t
from bot.i18n.format import money, number, percent
from core.events import SignalIssued

_TAG = re.compile(r"<[^>]*>")


def signal_details(language: str, e: SignalIssued) -> list[str]:
    """Why the signal exists and what it risks for this user; the refusal, if any."""
    lines = []
    playbook = t(language, "playbook_manual") if e.source == "manual" else (e.playbook or e.source)
    regime = t(language, f"regime_{e.regime}") if f"regime_{e.regime}" in CATALOGUE else (e.regime or "—")
    why = t(language, "signal_why", playbook=playbook, regime=regime, strength=number(e.strength, language, 2))
    if e.ml:  # the passing models' reasons, as words
        said = ", ".join(t(language, f"opinion_{c}") if f"opinion_{c}" in CATALOGUE else c for c in e.ml.split(","))
        why += t(language, "signal_why_ml", ml=said)
    lines.append(why)
    risk_unit = abs(e.entry - e.stop)
    if risk_unit > 0:
        rr1, rr2 = abs(e.tp1 - e.entry) / risk_unit, abs(e.tp2 - e.entry) / risk_unit
        lines.append(t(language, "signal_rr", rr1=number(rr1, language, 1), rr2=number(rr2, language, 1)))
    if e.risk_amount is not None and e.risk_pct is not None:
        money_params: dict[str, Any] = {
            "amount": money(e.risk_amount, language),
            "quote": e.quote or "",
            "pct": percent(e.risk_pct, language),
        }
        if e.wanted_risk_pct is not None:
            lines.append(t(language, "signal_risk_capped", wanted=percent(e.wanted_risk_pct, language), **money_params))
        else:
            lines.append(t(language, "signal_risk", **money_params))
    if e.refusal is not None:
        reason = refusal_text(language, e.refusal, e.refusal_params)
        lines.append(t(language, "signal_refused", escape=False, reason=html.escape(reason, quote=False)))
    elif e.auto:
        lines.append(t(language, "signal_auto"))
    return lines


def refusal_text(language: str, key: str, params: dict[str, Any]) -> str:
    """A risk refusal's sentence (numbers per language), plain text."""
    values: dict[str, Any] = {k: number(v, language, 2) if isinstance(v, float) else v for k, v in params.items()}
    return html.unescape(_TAG.sub("", t(language, key, **values)))

"""The messages of a position's life after its entry: the fill, a take-profit, a stop moved,
the close; the symbol's prices on its market's tick, its quantities on its lot."""

from __future__ import annotations

from bot.figures import Figures
from bot.i18n import t
from bot.i18n.format import money, percent, signed_money
from core.events import Event, OrderFilled, PositionClosed, StopMoved, TakeProfitHit


def position_event_text(language: str, event: Event, figures: Figures) -> str:
    """A fill, a take-profit, a stop moved or a close: the symbol's prices and quantities at
    its market's precision."""
    p = figures.price
    if isinstance(event, OrderFilled):
        return t(
            language,
            "filled",
            side=t(language, f"side_{event.side}"),
            quantity=figures.quantity(event.symbol, event.quantity, language),
            symbol=event.symbol,
            price=p(event.symbol, event.price, language),
            fee=money(event.fee, language),
            stop=p(event.symbol, event.stop, language),
            tp1=p(event.symbol, event.tp1, language),
            tp2=p(event.symbol, event.tp2, language),
        )
    if isinstance(event, TakeProfitHit):
        return t(
            language,
            "tp1_hit",
            symbol=event.symbol,
            quantity=figures.quantity(event.symbol, event.quantity, language),
            price=p(event.symbol, event.price, language),
            pnl=signed_money(event.pnl, language),
            stop=p(event.symbol, event.new_stop, language),
            remaining=figures.quantity(event.symbol, event.remaining, language),
        )
    if isinstance(event, StopMoved):
        return t(
            language,
            "stop_moved",
            symbol=event.symbol,
            old=p(event.symbol, event.old_stop, language),
            new=p(event.symbol, event.new_stop, language),
        )
    if isinstance(event, PositionClosed):
        tp1 = next((x for x in event.taken if x.get("reason") == "tp1"), None)
        return t(
            language,
            "closed_after_tp1" if tp1 else "closed",
            tp1_quantity=figures.quantity(event.symbol, float(tp1["quantity"]), language) if tp1 else "",
            tp1_price=p(event.symbol, float(tp1["price"]), language) if tp1 else "",
            icon="🟢" if event.pnl >= 0 else "🔴",
            symbol=event.symbol,
            side=t(language, f"side_{event.side}"),
            reason=t(language, f"reason_{event.reason}"),
            price=p(event.symbol, event.exit_price, language),
            entry=p(event.symbol, event.entry_price, language),
            pnl=signed_money(event.pnl, language),
            pnl_pct=percent(event.pnl_pct, language, signed=True),
            balance=money(event.balance, language),
        )
    raise TypeError(f"no rendering for {type(event).__name__}")

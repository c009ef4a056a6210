"""/start's deep-link payload: `s<id>` opens signal <id> for the user who pressed the link
(the channel's "Take this trade" button, `t.me/<bot>?start=s<id>`).

The answer is a reply to that user's /start (not a bulk message), one message with /start's
own welcome on top (one message a press: replies share the free 30 a second): their own sized
card with Confirm while the signal is live; a user who had no row (new, or not following that symbol
then) gets one sized now. An expired or unknown signal gets a short answer; any other
payload ("/start junk", several words, a number out of range) gets "this link is not valid"
and changes nothing.
"""

from __future__ import annotations

import re

from telegram import Update

from bot.context import BotContext, error_text, reply
from bot.i18n import t
from bot.render import MAX_MESSAGE, fit_html, signal_keyboard, signal_text, signals_list
from core.errors import UserError
from core.models import SignalState

#: The payload the bot's own links carry: "s" and a signal id (a positive 63-bit integer).
_SIGNAL_LINK = re.compile(r"s([1-9][0-9]{0,17})", re.ASCII)  # ASCII: int() reads other digits too


def link_signal_id(args: list[str] | None) -> int | None:
    """The signal id of a well-formed payload; None when there is none; -1 when it is bad."""
    if not args:
        return None
    match = _SIGNAL_LINK.fullmatch(args[0]) if len(args) == 1 else None
    return int(match.group(1)) if match else -1


async def open_link(update: Update, context: BotContext, language: str, signal_id: int, welcome: str) -> None:
    """Answer a press of the link to signal `signal_id` (-1: a payload that is not ours),
    `welcome` (what /start says) on top."""
    assert update.effective_user is not None and update.effective_message is not None
    if signal_id < 0:
        await reply(update, f"{welcome}\n\n{t(language, 'link_bad')}")
        return
    services = context.services
    try:
        row, card = await services.trading.take_linked(signal_id, update.effective_user.id)
    except UserError as exc:
        await reply(update, f"{welcome}\n\n{error_text(language, exc)}")
        return
    live = row.state is SignalState.PENDING and row.expires_at > services.clock.now()
    if not live and not (row.state is SignalState.REJECTED and card is not None):
        key = "signal_state_expired" if row.state is SignalState.PENDING else f"signal_state_{row.state.value}"
        await reply(update, f"{welcome}\n\n{t(language, key)}")
        return
    offer = live and (card is None or (card.refusal is None and not card.auto))
    text = signal_text(language, card) if card is not None else signals_list(language, [row])[0]
    keyboard = signal_keyboard(language, row.id, row.levels.entry) if offer else None
    message = await update.effective_message.reply_text(
        fit_html(f"{welcome}\n\n{text}", MAX_MESSAGE), reply_markup=keyboard
    )
    if offer:
        await services.trading.offered_in(row.id, message.message_id)

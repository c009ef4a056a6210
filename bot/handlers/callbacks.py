"""Confirm and Skip buttons under a signal. Every press is answered."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler

from bot.context import BotContext, error_text, user_language
from bot.i18n import t
from bot.render import CONFIRM_PREFIX, SKIP_PREFIX, amount, price, side_name
from core.errors import RetryableExchangeError, UserError

log = logging.getLogger(__name__)
_MAX_ID_DIGITS = 18


def parse_button(data: str) -> tuple[str, int]:
    """('confirm' | 'skip', user signal id) or UserError('button_stale')."""
    for prefix, action in ((CONFIRM_PREFIX, "confirm"), (SKIP_PREFIX, "skip")):
        if data.startswith(prefix):
            digits = data[len(prefix) :]
            if digits.isdigit() and len(digits) <= _MAX_ID_DIGITS:
                return action, int(digits)
    raise UserError("button_stale")


async def on_button(update: Update, context: BotContext) -> None:
    query = update.callback_query
    assert query is not None
    language = await user_language(update, context)
    trading = context.services.trading
    try:
        action, user_signal_id = parse_button(query.data or "")
        if action == "confirm":
            execution = await trading.confirm(user_signal_id, query.from_user.id)
            position = execution.position
            await query.answer(
                t(
                    language,
                    "filled",
                    side=side_name(language, position.side.value),
                    quantity=amount(position.quantity),
                    symbol=position.symbol,
                    price=price(position.entry_price),
                    fee=price(execution.order.fee),
                    stop=price(position.stop_price),
                    tp1=price(position.tp1),
                    tp2=price(position.tp2),
                )
                .replace("<b>", "")
                .replace("</b>", "")[:200]
            )
        else:
            await trading.skip(user_signal_id, query.from_user.id)
            await query.answer(t(language, "skipped_mark"))
            await query.edit_message_reply_markup(reply_markup=None)
    except UserError as exc:
        await query.answer(error_text(language, exc)[:200], show_alert=True)
    except RetryableExchangeError as exc:
        log.warning("confirm of %r: exchange unavailable: %s", query.data, exc)
        await query.answer(t(language, "exchange_unavailable")[:200], show_alert=True)


def register(app: Application) -> None:  # type: ignore[type-arg]
    app.add_handler(CallbackQueryHandler(on_button))

"""The Bot API calls of one outbox message: a signal as a photo (its chart) with the text as
caption and the Confirm/Skip buttons (none when it cannot be confirmed), a fill as an edit
of the signal's own message, a signal's end as its buttons taken off, the rest as text
(silent when the user chose so; an access request with the admin's buttons); a channel
post (channel mode) as the chart with the signal and its "Take this trade" link. Every call
carries the row's `Bulk` rate-limit args (its priority, the claim made when its turn comes,
and its lane: a paid one is sent with `allow_paid_broadcast`)."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardMarkup
from telegram.error import BadRequest
from telegram.ext import ExtBot

from bot.channel_view import channel_text, chart_signal, take_keyboard
from bot.charts import SignalCharts
from bot.delivery_rules import event_mode
from bot.i18n import DEFAULT_LANGUAGE
from bot.ratelimit import Bulk
from bot.render import MAX_CAPTION, MAX_MESSAGE, event_text, fit_html, signal_keyboard, signal_text
from bot.words import request_keyboard
from core.events import AccessRequested, Event, OrderFilled, SignalEnded, SignalIssued, SignalPosted
from db.outbox import OutboxItem

log = logging.getLogger(__name__)

#: (Telegram's message id, how it went: "text", "photo" or "edit")
Delivered = tuple[int | None, str]


class MessageSender:
    def __init__(self, bot: ExtBot[Bulk], charts: SignalCharts) -> None:
        self._bot = bot
        self._charts = charts

    async def send(self, item: OutboxItem, event: Event, limit: Bulk) -> Delivered:
        language = item.language or DEFAULT_LANGUAGE
        if isinstance(event, SignalIssued):
            return await self._send_signal(item, event, language, limit)
        if isinstance(event, SignalPosted):
            return await self._send_post(event, limit)
        if isinstance(event, SignalEnded):
            return await self._end_signal(item, limit)
        text = event_text(language, event)
        if isinstance(event, OrderFilled) and item.signal_message_id is not None:
            edited = await self._edit_signal_message(item, text, limit)
            if edited is not None:
                return edited
        message = await self._bot.send_message(
            item.user_id,
            fit_html(text, MAX_MESSAGE),
            reply_markup=request_keyboard(language, event.applicant) if isinstance(event, AccessRequested) else None,
            disable_notification=event_mode(item, event) == "silent",
            rate_limit_args=limit,
        )
        return message.message_id, "text"

    async def _send_signal(self, item: OutboxItem, event: SignalIssued, language: str, limit: Bulk) -> Delivered:
        offer = item.signal_state == "pending" and event.refusal is None
        keyboard = signal_keyboard(language, event.user_signal_id, event.entry) if offer else None
        text = signal_text(language, event)
        return await self._chart_message(item.user_id, item.signal_id, language, event, text, keyboard, limit)

    async def _send_post(self, post: SignalPosted, limit: Bulk) -> Delivered:
        chat: int | str = int(post.chat) if post.chat.startswith("-") else post.chat
        keyboard = take_keyboard(post.language, self._bot.username, post.signal_id)
        text = channel_text(post.language, post)
        return await self._chart_message(chat, post.signal_id, post.language, chart_signal(post), text, keyboard, limit)

    async def _chart_message(
        self,
        chat: int | str,
        signal_id: int | None,
        language: str,
        event: SignalIssued,
        text: str,
        keyboard: InlineKeyboardMarkup | None,
        limit: Bulk,
    ) -> Delivered:
        """The signal's chart with `text` as caption (as text when there is no chart, or
        Telegram refuses it); on the paid lane, with allow_paid_broadcast."""
        paid = True if limit.paid else None  # None: the parameter is not sent
        if signal_id is not None:
            async with self._charts.photo(signal_id, language, event) as chart:
                if chart is not None:
                    try:
                        message = await self._bot.send_photo(
                            chat,
                            chart.file_id or chart.png,  # type: ignore[arg-type]
                            caption=fit_html(text, MAX_CAPTION),
                            reply_markup=keyboard,
                            rate_limit_args=limit,
                            allow_paid_broadcast=paid,
                        )
                    except BadRequest as exc:
                        log.warning("telegram refused the chart (%s): sending the signal as text", exc.message)
                        message = await self._bot.send_message(
                            chat,
                            fit_html(text, MAX_MESSAGE),
                            reply_markup=keyboard,
                            rate_limit_args=limit,
                            allow_paid_broadcast=paid,
                        )
                        chart.refuse()  # the text went through, so the picture was at fault
                        return message.message_id, "text"
                    if chart.png is not None and message.photo:
                        chart.uploaded(message.photo[-1].file_id)
                    return message.message_id, "photo"
        message = await self._bot.send_message(
            chat, fit_html(text, MAX_MESSAGE), reply_markup=keyboard, rate_limit_args=limit, allow_paid_broadcast=paid
        )
        return message.message_id, "text"

    async def _end_signal(self, item: OutboxItem, limit: Bulk) -> Delivered:
        """Take the buttons off a signal's message (it expired or was refused)."""
        if item.signal_message_id is None:  # never sent: the stale signal itself is dropped
            return None, "none"
        try:
            await self._bot.edit_message_reply_markup(
                chat_id=item.user_id, message_id=item.signal_message_id, reply_markup=None, rate_limit_args=limit
            )
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():
                raise
        return item.signal_message_id, "edit"

    async def _edit_signal_message(self, item: OutboxItem, text: str, limit: Bulk) -> Delivered | None:
        """Show the fill in the signal's own message, its buttons gone. None when the
        message cannot be edited any more (the fill is then sent anew)."""
        message_id = item.signal_message_id
        try:
            if item.signal_message_is_photo:
                await self._bot.edit_message_caption(
                    chat_id=item.user_id,
                    message_id=message_id,
                    caption=fit_html(text, MAX_CAPTION),
                    reply_markup=None,
                    rate_limit_args=limit,
                )
            else:
                await self._bot.edit_message_text(
                    fit_html(text, MAX_MESSAGE),
                    chat_id=item.user_id,
                    message_id=message_id,
                    reply_markup=None,
                    rate_limit_args=limit,
                )
        except BadRequest as exc:
            if "not modified" in exc.message.lower():
                return message_id, "edit"  # already shows it: an edit in doubt, applied before
            log.info("could not edit signal message %s (%s): sending the fill anew", message_id, exc.message)
            return None
        return message_id, "edit"

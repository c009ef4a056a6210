"""The Telegram rate limiter on its own: priorities, the 429 pause, per-chat turns,
release at stop. A fake callback stands for the Bot API call."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from telegram.error import RetryAfter

from bot.ratelimit import Bulk, LimiterClosed, TelegramLimits, TelegramRateLimiter


class Calls:
    def __init__(self) -> None:
        self.order: list[str] = []
        self.fail_with: list[Exception] = []

    async def __call__(self, name: str) -> dict[str, Any]:
        self.order.append(name)
        if self.fail_with:
            raise self.fail_with.pop(0)
        return {"ok": name}


async def request(limiter: TelegramRateLimiter, calls: Calls, name: str, chat: int | None, bulk: Bulk | None) -> Any:
    data = {"chat_id": chat} if chat is not None else {}
    return await limiter.process_request(calls, (name,), {}, "sendMessage", data, bulk)


async def test_replies_first_then_the_outbox_in_its_order() -> None:
    limiter = TelegramRateLimiter(TelegramLimits(messages_per_second=1000, chat_interval=0.0))
    calls = Calls()
    limiter.on_retry_after(0.2)  # hold everything until all the requests below are waiting
    pending = [
        request(limiter, calls, "routine", 1, Bulk(2, 5)),
        request(limiter, calls, "late signal", 2, Bulk(0, 9)),
        request(limiter, calls, "reply", 3, None),
        request(limiter, calls, "early signal", 4, Bulk(0, 3)),
        request(limiter, calls, "trade", 5, Bulk(1, 1)),
    ]
    await asyncio.gather(*pending)
    assert calls.order == ["reply", "early signal", "late signal", "trade", "routine"]


async def test_calls_without_a_chat_are_not_held() -> None:
    limiter = TelegramRateLimiter()
    calls = Calls()
    limiter.on_retry_after(30)  # even during a flood pause, a pressed button is answered
    assert await asyncio.wait_for(request(limiter, calls, "answerCallbackQuery", None, None), 1) == {
        "ok": "answerCallbackQuery"
    }


async def test_429_pauses_everyone_for_exactly_the_time_asked() -> None:
    now = [100.0]
    limiter = TelegramRateLimiter(clock=lambda: now[0])
    seen: list[float] = []
    limiter.on_rate_limited(seen.append)
    limiter.on_retry_after(7)
    assert limiter.paused_for == 7.0
    now[0] += 2.5
    assert limiter.paused_for == 4.5
    limiter.on_retry_after(3)  # a shorter answer meanwhile does not shorten the pause
    assert limiter.paused_for == 4.5
    assert seen == [7, 3] and limiter.rate_limited == 2


async def test_a_reply_is_tried_again_after_the_pause_a_worker_call_is_not() -> None:
    limiter = TelegramRateLimiter(TelegramLimits(messages_per_second=1000, chat_interval=0.0))
    calls = Calls()
    calls.fail_with = [RetryAfter(0)]
    assert await request(limiter, calls, "reply", 1, None) == {"ok": "reply"}
    assert calls.order == ["reply", "reply"]
    calls.fail_with = [RetryAfter(0)]
    with pytest.raises(RetryAfter):
        await request(limiter, calls, "bulk", 1, Bulk(0, 1))
    assert calls.order == ["reply", "reply", "bulk"]
    assert limiter.rate_limited == 2


async def test_worker_messages_to_one_chat_wait_their_turn() -> None:
    now = [50.0]
    limiter = TelegramRateLimiter(TelegramLimits(chat_interval=1.0), clock=lambda: now[0])
    assert limiter.chat_ready_at(7) < now[0]
    await request(limiter, Calls(), "first", 7, Bulk(0, 1))
    assert limiter.chat_ready_at(7) == 51.0  # the dispatcher starts nothing for chat 7 before
    assert limiter.chat_ready_at(8) < now[0]


async def test_stopping_releases_waiting_worker_calls_unsent() -> None:
    limiter = TelegramRateLimiter(TelegramLimits(messages_per_second=1000, chat_interval=0.0))
    calls = Calls()
    limiter.on_retry_after(0.3)
    bulk = asyncio.ensure_future(request(limiter, calls, "bulk", 1, Bulk(0, 1)))
    reply = asyncio.ensure_future(request(limiter, calls, "reply", 2, None))
    await asyncio.sleep(0)  # both are waiting now
    limiter.close_bulk()
    with pytest.raises(LimiterClosed):
        await bulk
    assert await reply == {"ok": "reply"}
    assert calls.order == ["reply"]
    with pytest.raises(LimiterClosed):
        await request(limiter, calls, "late", 3, Bulk(0, 2))

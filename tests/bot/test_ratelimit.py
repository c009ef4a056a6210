"""The Telegram rate limiter on its own: priorities, the 429 pause, per-chat turns,
release at stop. A fake callback stands for the Bot API call."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut

from bot.ratelimit import Bulk, LimiterClosed, TelegramLimits, TelegramRateLimiter


class Calls:
    def __init__(self) -> None:
        self.order: list[str] = []
        self.fail_with: list[Exception] = []
        self.timeouts: list[object] = []

    async def __call__(self, name: str, **kwargs: Any) -> dict[str, Any]:
        self.order.append(name)
        self.timeouts.append(kwargs.get("read_timeout"))
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


async def test_replies_to_one_chat_are_paced_after_a_short_burst() -> None:
    limiter = TelegramRateLimiter(TelegramLimits(messages_per_second=1000, chat_interval=0.1, chat_burst=2))
    calls = Calls()
    loop = asyncio.get_running_loop()
    sent_at: list[float] = []

    async def reply(n: int) -> None:
        await request(limiter, calls, f"reply {n}", 7, None)
        sent_at.append(loop.time())

    start = loop.time()
    await asyncio.gather(*(reply(n) for n in range(5)), request(limiter, calls, "other chat", 8, None))
    offsets = sorted(t - start for t in sent_at)
    # Two at once (the burst), then one per 0.1 s: 0, 0, 0.1, 0.2, 0.3.
    assert offsets[1] < 0.05 and 0.09 < offsets[2] < 0.15 and 0.28 < offsets[4] < 0.36
    assert calls.order.index("other chat") < 3  # another chat did not wait behind chat 7


async def test_a_worker_message_waits_behind_the_replies_already_promised_not_forever() -> None:
    limiter = TelegramRateLimiter(TelegramLimits(messages_per_second=1000, chat_interval=0.05, chat_burst=2))
    calls = Calls()
    first = [asyncio.ensure_future(request(limiter, calls, f"reply {n}", 7, None)) for n in range(3)]
    await asyncio.sleep(0)
    bulk = asyncio.ensure_future(request(limiter, calls, "signal", 7, Bulk(0, 1)))
    await asyncio.sleep(0)
    later = [asyncio.ensure_future(request(limiter, calls, f"reply {n}", 7, None)) for n in range(3, 6)]
    await asyncio.gather(*first, bulk, *later)
    # After the three replies promised before it; a later reply may use its burst once, no more.
    assert 3 <= calls.order.index("signal") < calls.order.index("reply 4") < calls.order.index("reply 5")


async def test_a_429_is_the_chats_own_when_the_chat_had_messages_lately() -> None:
    now = [10.0]
    limiter = TelegramRateLimiter(TelegramLimits(chat_interval=0.0), clock=lambda: now[0])
    calls = Calls()
    await request(limiter, calls, "earlier", 7, Bulk(0, 1))
    now[0] += 1.0
    calls.fail_with = [RetryAfter(5)]
    with pytest.raises(RetryAfter):
        await request(limiter, calls, "refused", 7, Bulk(0, 2))
    assert limiter.chat_held_for(7) == 5.0 and limiter.paused_for == 0.0  # that chat waits, not the bot
    assert limiter.chat_ready_at(7) == 16.0 and limiter.chat_ready_at(8) < now[0]
    now[0] += 1.0
    calls.fail_with = [RetryAfter(3)]
    with pytest.raises(RetryAfter):  # a chat that had nothing lately: the bot's overall limit
        await request(limiter, calls, "fresh", 9, Bulk(0, 3))
    assert limiter.paused_for == 3.0 and limiter.chat_holds == 1 and limiter.rate_limited == 2


async def test_message_calls_get_a_read_timeout_that_fits_telegrams_latency() -> None:
    limiter = TelegramRateLimiter(TelegramLimits(messages_per_second=1000, chat_interval=0.0))
    calls = Calls()
    await request(limiter, calls, "reply", 1, None)
    await request(limiter, calls, "bulk", 2, Bulk(0, 1))
    assert calls.timeouts == [30.0, 30.0]  # not python-telegram-bot's 5 s


async def test_a_reply_is_retried_after_a_server_error_a_worker_call_is_not() -> None:
    limiter = TelegramRateLimiter(TelegramLimits(messages_per_second=1000, chat_interval=0.0, retry_base=0.01))
    calls = Calls()
    calls.fail_with = [NetworkError("Bad Gateway"), TimedOut()]
    assert await request(limiter, calls, "reply", 1, None) == {"ok": "reply"}
    assert calls.order == ["reply"] * 3
    calls.fail_with = [BadRequest("chat not found")]  # a refusal is final
    with pytest.raises(BadRequest):
        await request(limiter, calls, "refused", 1, None)
    calls.fail_with = [NetworkError("Bad Gateway")]
    with pytest.raises(NetworkError):
        await request(limiter, calls, "bulk", 2, Bulk(0, 1))
    assert calls.order == ["reply"] * 3 + ["refused", "bulk"]


async def test_paid_calls_have_their_own_lane_and_their_own_pause() -> None:
    """Paid broadcasts: worker calls with `Bulk.paid` are spaced at the paid rate, not the
    free one, and a bot-wide 429 on one lane pauses that lane only (issue 11). Timing with a
    wide margin: 20 calls at the free 1/s would take 19 s; they must all go within 2 s."""
    limiter = TelegramRateLimiter(TelegramLimits(messages_per_second=1.0, chat_interval=0.0))
    calls = Calls()
    paid = [request(limiter, calls, f"paid {i}", i, Bulk(0, i, paid=True)) for i in range(20)]
    await asyncio.wait_for(asyncio.gather(*paid), 2)
    assert len(calls.order) == 20
    limiter.on_retry_after(0.5, paid=True)  # the paid lane is told to wait ...
    assert limiter.paused_for == 0.0  # ... the free lane is not
    assert await asyncio.wait_for(request(limiter, calls, "free", 99, Bulk(0, 99)), 2) == {"ok": "free"}
    late = asyncio.create_task(request(limiter, calls, "paid late", 98, Bulk(0, 98, paid=True)))
    await asyncio.sleep(0.1)
    assert not late.done() and calls.order[-1] == "free"
    assert await asyncio.wait_for(late, 3) == {"ok": "paid late"}

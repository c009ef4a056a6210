"""One signal to 1,000 subscribers through the real bot (PTB application, handlers,
delivery worker, rate limiter) against the fake Bot API server on 127.0.0.1, which
enforces Telegram's limits (30 messages/s overall, 1/s per chat with a burst of 3) and
answers 429 whenever they are broken.

    python -m bench.bench_delivery [--users 1000] [--probes 5]

The admin publishes with `/signal`; every subscriber gets a photo (the chart) with the
signal as caption and the Confirm/Skip buttons. While the fan-out runs, new users send
/start and subscribers who already have the signal press Confirm, `--probes` times each,
spread over the fan-out. Prints delivered messages per second, 429 answers, duplicates
and losses, end-to-end latency percentiles (from the admin's command reaching the server
to the server accepting each signal), chart uploads, and how long the /start replies and
the Confirm answers took. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.ratelimit import TelegramLimits
from core.clock import ManualClock
from tests.bot.harness import ADMIN, RunningBot, make_settings, running_bot
from tests.fakes.bot_api import Call, FakeBotApi
from tests.fakes.market import FakeMarketData, candles_frame

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
FIRST_USER = 100_000
NEWCOMER = 900_000


def market() -> FakeMarketData:
    data = FakeMarketData({"BTC/USDT": 100.0, "ETH/USDT": 50.0})
    rows = []
    close = 96.0
    for i in range(80):  # a gentle rise into the signal, so the chart has something to show
        open_ = close
        close = open_ + (0.4 if i % 3 else -0.25)
        rows.append((open_, max(open_, close) + 0.3, min(open_, close) - 0.3, close))
    frame = candles_frame(T0 - timedelta(hours=len(rows)), rows, timedelta(hours=1))
    data.add_candles("BTC/USDT", frame)
    data.prices["BTC/USDT"] = 100.0
    return data


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def signal_calls(fake: FakeBotApi) -> list[Call]:
    return [
        c
        for c in fake.sent()
        if isinstance(c.chat_id, int)
        and c.chat_id >= FIRST_USER
        and c.chat_id < NEWCOMER
        and c.params.get("reply_markup")
    ]


async def probe_start(bot: RunningBot, user: int) -> float:
    fake = bot.fake
    before = len(fake.sent(user))
    started = time.monotonic()
    bot.say(user, "/start")
    await fake.wait_for(lambda: len(fake.sent(user)) > before, timeout=30)
    return fake.sent(user)[before].time - started


async def probe_confirm(bot: RunningBot, call: Call) -> tuple[float, str]:
    fake = bot.fake
    user = int(call.chat_id)  # type: ignore[arg-type]
    data = call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    started = time.monotonic()
    query = fake.inject_callback(user, data, message_id=call.result["message_id"])
    await fake.wait_for(lambda: fake.answers.get(query), timeout=30)
    answered = next(c for c in fake.calls if c.method == "answerCallbackQuery" and c.ok
                    and c.params.get("callback_query_id") == query)  # fmt: skip
    return answered.time - started, str(fake.answers[query].get("text", ""))[:40]


async def run(users: int, probes: int) -> None:
    async with FakeBotApi() as fake:
        fake.limits(global_per_second=30, per_chat_per_second=1, per_chat_burst=3)
        with tempfile.TemporaryDirectory() as tmp:
            settings = make_settings(fake, Path(tmp) / "atra.sqlite3", signal_ttl_seconds=86_400)
            async with running_bot(fake, settings, ManualClock(T0), market(), limits=TelegramLimits()) as bot:
                trading = bot.services.trading
                for i in range(users):
                    await trading.register(FIRST_USER + i, "ru" if i % 2 else "en")
                await trading.register(ADMIN, "en")
                print(f"{users} subscribers registered; publishing one signal ...")

                started = time.monotonic()
                bot.say(ADMIN, "/signal BTC/USDT long sl=96 tp=104,108")
                starts: list[float] = []
                confirms: list[tuple[float, str]] = []
                for k in range(probes):  # spread the probes over the fan-out (about users/30 s)
                    await asyncio.sleep(max(0.5, users / 30 / (probes + 1)))
                    starts.append(await probe_start(bot, NEWCOMER + k))
                    delivered = signal_calls(fake)
                    if len(delivered) > k:
                        confirms.append(await probe_confirm(bot, delivered[k]))
                await fake.wait_for(lambda: len({c.chat_id for c in signal_calls(fake)}) >= users, timeout=300)
                finished = time.monotonic()
                calls = signal_calls(fake)
                await bot.fake.wait_for(lambda: bot.services.delivery.sent >= users, timeout=30)

    chats = [c.chat_id for c in calls]
    latencies = [c.time - started for c in calls]
    first, last = min(c.time for c in calls), max(c.time for c in calls)
    uploads = sum(1 for c in calls if not isinstance(c.params.get("photo"), str))
    print(f"delivered:   {len(set(chats))}/{users} signals, {len(chats) - len(set(chats))} duplicate(s)")
    print(f"elapsed:     {finished - started:.1f} s from the /signal command to the last delivery")
    print(f"throughput:  {len(calls) / (last - first):.1f} msg/s sustained (first to last delivery), "
          f"{len(calls) / (last - started):.1f} msg/s end to end")  # fmt: skip
    print(f"429 answers: {fake.count_429}")
    print(f"latency:     p50 {percentile(latencies, 50):.1f} s, p95 {percentile(latencies, 95):.1f} s, "
          f"p99 {percentile(latencies, 99):.1f} s, max {max(latencies):.1f} s (command to acceptance)")  # fmt: skip
    print(f"first:       {first - started:.2f} s from the command to the first signal (chart rendered and uploaded)")
    print(f"charts:      {uploads} upload(s), {len(calls) - uploads} sent by file_id")
    if starts:
        print(f"/start:      answered in median {statistics.median(starts) * 1000:.0f} ms, "
              f"max {max(starts) * 1000:.0f} ms during the fan-out ({len(starts)} probes)")  # fmt: skip
    if confirms:
        times = [seconds for seconds, _ in confirms]
        print(f"Confirm:     answered in median {statistics.median(times) * 1000:.0f} ms, "
              f"max {max(times) * 1000:.0f} ms ({len(confirms)} probes; e.g. {confirms[0][1]!r})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--probes", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(run(args.users, args.probes))


if __name__ == "__main__":
    main()

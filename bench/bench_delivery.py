"""One signal to 10,000 subscribers through the real bot (PTB application, handlers,
delivery worker, rate limiter) against the fake Bot API server on 127.0.0.1, which
enforces Telegram's limits (30 messages/s overall, 1,000/s for paid broadcasts, 1/s per chat
with a burst of 3) and answers 429 whenever they are broken. Three ways (issue 11):

- free lane: every subscriber gets a direct push at Telegram's free 30 messages/s;
- channel mode: every subscriber chose "channel only"; the signal is posted once to the
  channel, then `--presses` users press its "Take this trade" link at once (each gets their
  own sized card as a reply to /start), and a few of them press Confirm;
- paid lane: direct pushes with `allow_paid_broadcast` (1,000/s) within a Stars budget.

    python -m bench.bench_delivery [--users 10000] [--only fan-out|channel|paid|flood] [--presses 200]
        [--probes 5] [--flood-users 200] [--flood-rate 5]

The admin publishes with `/signal`; every subscriber gets a photo (the chart) with the
signal as caption and the Confirm/Skip buttons. While the fan-out runs, new users send
/start and subscribers who already have the signal press Confirm, `--probes` times each,
spread over the fan-out. Prints delivered messages per second, 429 answers, duplicates
and losses, end-to-end latency percentiles (from the admin's command reaching the server
to the server accepting each signal), chart uploads, and how long the /start replies and
the Confirm answers took.

Then the flood (issue 15): a signal fans out to `--flood-users` subscribers, once quietly and
once while one of them sends /help `--flood-rate` times a second; meanwhile another user asks
for /help. Prints both fan-out times and their ratio, the other user's wait, what the flooder
got back, and the 429s by kind. Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.i18n import t
from bot.ratelimit import TelegramLimits
from core.clock import ManualClock
from core.models import Side
from tests.bot.harness import ADMIN, RunningBot, make_settings, running_bot
from tests.fakes.bot_api import SEND_METHODS, Call, FakeBotApi
from tests.fakes.market import FakeMarketData, candles_frame

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
FIRST_USER = 100_000
#: The delivery worker as `python -m bot` runs it (the test harness looks for new rows every 50 ms).
PRODUCTION = {"idle_poll": 1.0}
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


class Deliveries:
    """The signal pushes the fake accepted, read incrementally every 0.1 s (a full scan of
    10,000 calls every 5 ms would slow the bot under test). Times come from the fake's own
    stamps, so the polling does not change the figures."""

    def __init__(self, fake: FakeBotApi) -> None:
        self.fake, self.seen, self.open, self.calls = fake, 0, list[Call](), list[Call]()
        self.chats: set[int | str | None] = set()

    def update(self) -> list[Call]:
        new = self.fake.calls[self.seen :]
        self.seen += len(new)
        still = []
        for call in [*self.open, *new]:
            if call.status is None:
                still.append(call)
            elif call.ok and call.method in SEND_METHODS and self._signal(call):
                self.calls.append(call)
                self.chats.add(call.chat_id)
        self.open = still
        return self.calls

    @staticmethod
    def _signal(call: Call) -> bool:
        chat = call.chat_id
        return isinstance(chat, int) and FIRST_USER <= chat < NEWCOMER and bool(call.params.get("reply_markup"))

    async def wait(self, users: int, timeout: float) -> list[Call]:  # noqa: ASYNC109 - a bench's deadline
        deadline = time.monotonic() + timeout
        while len(self.update() and self.chats) < users:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.chats)}/{users} delivered after {timeout} s")
            await asyncio.sleep(0.1)
        return self.calls


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
            async with running_bot(
                fake, settings, ManualClock(T0), market(), limits=TelegramLimits(), delivery=PRODUCTION
            ) as bot:
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
                calls = await Deliveries(fake).wait(users, timeout=1800)
                finished = time.monotonic()
                await bot.fake.wait_for(lambda: bot.services.delivery.sent >= users, timeout=30)

    chats = [c.chat_id for c in calls]
    latencies = [c.time - started for c in calls]
    first, last = min(c.time for c in calls), max(c.time for c in calls)
    uploads = sum(1 for c in calls if not isinstance(c.params.get("photo"), str))
    print("free lane (direct pushes at 30 msg/s):")
    print(f"delivered:   {len(set(chats))}/{users} signals, {len(chats) - len(set(chats))} duplicate(s), "
          f"{users - len(set(chats))} lost")  # fmt: skip
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


CHANNEL = -1001234567890


def summary(label: str, calls: list[Call], users: int, started: float, fake: FakeBotApi) -> None:
    """What every subscriber got: delivered, duplicates, losses, time, rate, 429s, lanes."""
    chats = [c.chat_id for c in calls]
    last = max(c.time for c in calls)
    lanes = {lane: sum(1 for c in calls if c.lane == lane) for lane in ("free", "paid")}
    print(f"{label}:")
    print(f"  delivered:   {len(set(chats))}/{users}, {len(chats) - len(set(chats))} duplicate(s), "
          f"{users - len(set(chats))} lost")  # fmt: skip
    print(f"  elapsed:     {last - started:.1f} s from the /signal command to the last subscriber's signal")
    print(f"  throughput:  {len(calls) / (last - started):.1f} msg/s end to end "
          f"({lanes['free']} on the free lane, {lanes['paid']} paid)")  # fmt: skip
    print(f"  429 answers: {fake.count_429} ({fake.count_429_global} free lane, {fake.count_429_paid} paid lane, "
          f"{fake.count_429_chat} one chat); Stars spent: {fake.stars_spent:.1f}")  # fmt: skip


async def register_all(bot: RunningBot, users: range, channel_only: bool = False) -> None:
    trading = bot.services.trading
    for user in users:
        await trading.register(user, "ru" if user % 2 else "en")
        if channel_only:
            await trading.change_prefs(user, "delivery", "channel", bot.services.settings.symbols)
    await trading.register(ADMIN, "en")


async def run_paid(users: int) -> None:
    chats = range(FIRST_USER, FIRST_USER + users)
    async with FakeBotApi() as fake:
        fake.limits(global_per_second=30, per_chat_per_second=1, per_chat_burst=3, paid_per_second=1000)
        with tempfile.TemporaryDirectory() as tmp:
            settings = make_settings(
                fake, Path(tmp) / "atra.sqlite3", signal_ttl_seconds=86_400, paid_broadcast_stars_per_day=100_000
            )
            async with running_bot(
                fake, settings, ManualClock(T0), market(), limits=TelegramLimits(), delivery=PRODUCTION
            ) as bot:
                await register_all(bot, chats)
                print(f"\npaid lane: {users} subscribers, a budget of 100,000 Stars a day; publishing ...")
                started = time.monotonic()
                bot.say(ADMIN, "/signal BTC/USDT long sl=96 tp=104,108")
                calls = await Deliveries(fake).wait(users, timeout=1800)
                spend = await bot.services.delivery.paid.today()  # type: ignore[union-attr]
    summary("paid lane (allow_paid_broadcast)", calls, users, started, fake)
    print(f"  budget:      {spend.stars:.1f} Stars counted by the bot for the day (0.1 a paid message)")


async def press_link(bot: RunningBot, user: int) -> tuple[float, Call]:
    fake = bot.fake
    before = len(fake.sent(user))
    asked = time.monotonic()
    bot.say(user, "/start s1", "ru" if user % 2 else "en")
    await fake.wait_for(lambda: len(fake.sent(user)) >= before + 1, timeout=120)
    card = fake.sent(user)[before]  # one message: the welcome on top of the card
    return card.time - asked, card


async def run_channel(users: int, presses: int) -> None:
    chats = range(FIRST_USER, FIRST_USER + users)
    async with FakeBotApi() as fake:
        fake.limits(global_per_second=30, per_chat_per_second=1, per_chat_burst=3)
        with tempfile.TemporaryDirectory() as tmp:
            settings = make_settings(
                fake, Path(tmp) / "atra.sqlite3", signal_ttl_seconds=86_400, signal_channel_id=str(CHANNEL)
            )
            async with running_bot(
                fake, settings, ManualClock(T0), market(), limits=TelegramLimits(), delivery=PRODUCTION
            ) as bot:
                await register_all(bot, chats, channel_only=True)
                print(f"\nchannel mode: {users} subscribers, all 'channel only'; publishing ...")
                started = time.monotonic()
                bot.say(ADMIN, "/signal BTC/USDT long sl=96 tp=104,108")
                post = await fake.wait_for("sendPhoto", chat_id=CHANNEL, timeout=60)
                await asyncio.sleep(2)  # anything else the fan-out would send would show now
                pushes = len(signal_calls(fake))
                sample = [chats[i * users // presses] for i in range(presses)]
                pressed = time.monotonic()
                answers = await asyncio.gather(*(press_link(bot, user) for user in sample))
                all_answered = max(call.time for _, call in answers) - pressed
                confirms = [await probe_confirm(bot, call) for _, call in answers[:5]]
    waits = [seconds for seconds, _ in answers]
    offered = sum(1 for _, call in answers if "sig:c:" in str(call.params.get("reply_markup")))
    print("channel mode:")
    print(f"  posted:      {post.time - started:.2f} s from the /signal command to the channel post (chart, deep "
          f"link); {len(fake.sent(CHANNEL))} Bot API call(s) to the channel, {pushes} direct push(es)")  # fmt: skip
    print(f"  presses:     {presses} users press the link at once: {offered} answered with their own card and "
          f"Confirm; median {statistics.median(waits):.2f} s, p95 {percentile(waits, 95):.2f} s, "
          f"all within {all_answered:.1f} s ({presses / all_answered:.1f} replies/s)")  # fmt: skip
    print(f"  Confirm:     {len(confirms)} presses answered in median "
          f"{statistics.median(c for c, _ in confirms) * 1000:.0f} ms (e.g. {confirms[0][1]!r})")  # fmt: skip
    print(f"  429 answers: {fake.count_429}")


FLOOD_FIRST = 200_000
OTHER = 300_000


async def flood_fan_out(bot: RunningBot, clock: ManualClock, users: range) -> float:
    """Publish a signal; seconds from the publication to the last subscriber's acceptance."""
    fake = bot.fake
    started = time.monotonic()
    await bot.services.admin.manual_signal("BTC/USDT", Side.LONG, 96.0, [104.0, 108.0])

    def delivered() -> list[float]:
        calls = fake.sent()
        return [c.time for c in calls if c.time >= started and c.params.get("reply_markup") and c.chat_id in users]

    await fake.wait_for(lambda: len(delivered()) >= len(users), timeout=600)
    clock.advance(timedelta(hours=1))  # the next signal is another candle's
    return max(delivered()) - started


async def keep_flooding(bot: RunningBot, user: int, per_second: float, sent: list[float]) -> None:
    while True:
        bot.say(user, "/help")
        sent.append(time.monotonic())
        await asyncio.sleep(1 / per_second)


async def probe_help(bot: RunningBot, user: int) -> float:
    fake = bot.fake
    before = len(fake.sent(user))
    asked = time.monotonic()
    bot.say(user, "/help")
    await fake.wait_for(lambda: len(fake.sent(user)) > before, timeout=120)
    return fake.sent(user)[before].time - asked


async def run_flood(n_users: int, rate: float) -> None:
    users = range(FLOOD_FIRST, FLOOD_FIRST + n_users)
    flooder = users[n_users // 3]
    clock = ManualClock(T0)
    async with FakeBotApi() as fake:
        fake.limits(global_per_second=30, per_chat_per_second=1, per_chat_burst=3)
        with tempfile.TemporaryDirectory() as tmp:
            settings = make_settings(fake, Path(tmp) / "atra.sqlite3", signal_ttl_seconds=86_400)
            async with running_bot(fake, settings, clock, market(), limits=TelegramLimits()) as bot:
                for user in [*users, OTHER]:
                    await bot.services.trading.register(user, "en")
                await bot.services.users.set_subscribed(OTHER, False)
                print(f"\nflood: {n_users} subscribers; user {flooder} sends /help {rate:g} times a second")
                quiet = await flood_fan_out(bot, clock, users)
                await asyncio.sleep(1.5)
                flood: list[float] = []
                flooding = asyncio.create_task(keep_flooding(bot, flooder, rate, flood))
                await asyncio.sleep(3)  # the flood is in full swing before the signal
                publishing = asyncio.create_task(flood_fan_out(bot, clock, users))
                waits = []
                for _ in range(3):  # another user asks three times during the flooded fan-out
                    await asyncio.sleep(quiet / 4)
                    waits.append(await probe_help(bot, OTHER))
                flooded = await publishing
                flooding.cancel()
                await asyncio.sleep(2)  # the flooder's last answers drain
                replies = [c.result["text"] for c in fake.sent(flooder, "sendMessage")]
    slow_down = t("en", "slow_down", escape=False)
    print(f"fan-out:     {quiet:.1f} s unflooded, {flooded:.1f} s flooded (x{flooded / quiet:.2f})")
    print(f"other user:  /help answered in median {statistics.median(waits) * 1000:.0f} ms, "
          f"max {max(waits) * 1000:.0f} ms during the flooded fan-out ({len(waits)} probes)")  # fmt: skip
    print(f"flooder:     sent {len(flood)} /help, got {len(replies) - replies.count(slow_down)} answers "
          f"and {replies.count(slow_down)} 'slow down' (the rest dropped)")  # fmt: skip
    print(f"429 answers: {fake.count_429_global} for the overall limit, {fake.count_429_chat} for one chat")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--presses", type=int, default=200)
    parser.add_argument("--probes", type=int, default=5)
    parser.add_argument("--flood-users", type=int, default=200)
    parser.add_argument("--flood-rate", type=float, default=5.0)
    parser.add_argument("--only", choices=("fan-out", "channel", "paid", "flood"), help="run one scenario only")
    args = parser.parse_args()
    if args.only in (None, "fan-out"):
        asyncio.run(run(args.users, args.probes))
    if args.only in (None, "channel"):
        asyncio.run(run_channel(args.users, args.presses))
    if args.only in (None, "paid"):
        asyncio.run(run_paid(args.users))
    if args.only in (None, "flood"):
        asyncio.run(run_flood(args.flood_users, args.flood_rate))


if __name__ == "__main__":
    main()

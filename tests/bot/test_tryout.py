"""The README's replay recipe (issue 11): the very command line in README.md, run as a
process against the fake Bot API, 6x faster (REPLAY_SPEED 180 instead of 30, so the
replayed times are the same and the test is short): the first signal arrives, and a press
at 5/6 of the signal's stated lifetime still fills."""

from __future__ import annotations

import asyncio
import re
import shlex
import signal
from pathlib import Path

from tests.bot.test_process import ROOT, USER, clean_env, finish, run_bot
from tests.fakes.bot_api import FakeBotApi

SPEEDUP = 6  # 180x: the 13:00 candle can still be scanned after a start slowed by a busy machine


def readme_recipe() -> dict[str, str]:
    """The VAR=value pairs of the README's `... make run` replay line."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    line = next(ln for ln in text.splitlines() if ln.startswith("MARKET_DATA=replay") and ln.endswith("make run"))
    pairs = [word.split("=", 1) for word in shlex.split(line) if re.match(r"^[A-Z_]+=", word)]
    return dict(pairs)  # type: ignore[arg-type]


def test_the_recipe_is_what_this_test_runs() -> None:
    recipe = readme_recipe()
    assert recipe["REPLAY_START"] == "2019-02-18T13:55:00Z" and recipe["REPLAY_SPEED"] == "30"
    assert recipe["SIGNAL_TTL_SECONDS"] == "3600" and "BTC/USD" in recipe["SYMBOLS"].split(",")


async def test_the_readme_replay_recipe(fake: FakeBotApi, tmp_path: Path) -> None:
    recipe = readme_recipe()
    speed = float(recipe["REPLAY_SPEED"]) * SPEEDUP
    recipe |= {"REPLAY_SPEED": str(speed), "REPLAY_DIR": str(ROOT / recipe["REPLAY_DIR"])}
    env = clean_env(
        TELEGRAM_BOT_TOKEN=fake.token,
        TELEGRAM_API_BASE_URL=fake.base_url,
        DATABASE_PATH=str(tmp_path / "atra.sqlite3"),
        **recipe,
    )
    fake.inject_message(USER, "/start")
    process = await run_bot(env, tmp_path)
    try:
        # Within the first replayed hour at 180x: the BTC/USD long of the 13:00 candle.
        call = await fake.wait_for(
            lambda: next(
                (c for c in fake.sent(USER) if "BTC/USD" in str(c.params.get("caption") or c.params.get("text"))),
                None,
            ),
            timeout=150,  # the replay clock starts with the bot; a loaded machine starts it slowly
        )
        body = str(call.params.get("caption") or call.params.get("text"))
        assert "BTC/USD LONG" in body and "Entry: <b>3,905.0</b>" in body, body
        assert "Exit plan: the stop trails 8 × ATR behind the best price from the entry on" in body, body  # donchian
        lifetime = float(recipe["SIGNAL_TTL_SECONDS"]) / speed  # wall seconds
        await asyncio.sleep(lifetime * 5 / 6)
        data = call.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        query = fake.inject_callback(USER, data, message_id=call.result["message_id"])
        await fake.wait_for(lambda: fake.answers.get(query), timeout=30)
        assert "Filled" in fake.answers[query]["text"], fake.answers[query]["text"]
    finally:
        process.send_signal(signal.SIGTERM)
        await finish(process, seconds=15)

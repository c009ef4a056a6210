"""LOG_FORMAT=json: one JSON object per line with the task's context, secrets redacted."""

from __future__ import annotations

import asyncio
import io
import json
import logging

from bot.logging_setup import make_handler
from core.logcontext import bind, log_context

TOKEN = "123456789:AAFakeTokenForOfflineTests_abcdefghij"


def capture(fmt: str = "json") -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = make_handler(fmt, [TOKEN])
    handler.setStream(stream)  # type: ignore[attr-defined]
    logger = logging.getLogger(f"test.logging.{fmt}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_the_context() -> None:
    logger, stream = capture()
    with log_context(user_id=42, signal_id=7, symbol="BTC/USDT"):
        logger.info("signal %s sent", 7)
        with log_context(order_id="atra-us7-entry"):
            logger.warning("order placed")
    logger.info("no context", extra={"order_id": "explicit"})
    first, second, third = lines(stream)
    assert set(first) == {"timestamp", "level", "logger", "message", "user_id", "signal_id", "symbol"}
    assert first["message"] == "signal 7 sent" and first["level"] == "INFO" and first["user_id"] == 42
    assert str(first["timestamp"]).endswith("+00:00") and first["logger"] == "test.logging.json"
    assert second["order_id"] == "atra-us7-entry" and second["symbol"] == "BTC/USDT"
    assert third == {k: third[k] for k in ("timestamp", "level", "logger", "message", "order_id")}


async def test_each_task_has_its_own_context() -> None:
    logger, stream = capture()

    async def handle(user: int) -> None:
        bind(user_id=user)
        await asyncio.sleep(0)
        logger.info("handled")

    await asyncio.gather(asyncio.create_task(handle(1)), asyncio.create_task(handle(2)))
    logger.info("outside")
    assert sorted(str(line.get("user_id")) for line in lines(stream)) == ["1", "2", "None"]


def test_secrets_are_redacted_everywhere() -> None:
    logger, stream = capture()
    with log_context(symbol=f"url https://api.telegram.org/bot{TOKEN}/getMe"):
        logger.info("calling https://api.telegram.org/bot%s/sendMessage", TOKEN)
        try:
            raise RuntimeError(f"failed with {TOKEN}")
        except RuntimeError:
            logger.exception("boom")
    logger.info("other token 987654321:%s", "Z" * 35)
    text = stream.getvalue()
    assert TOKEN not in text and TOKEN.split(":")[1] not in text and "Z" * 35 not in text
    first, second, third = lines(stream)
    assert first["message"] == "calling https://api.telegram.org/bot***/sendMessage"
    assert "bot***" in str(first["symbol"]) and "RuntimeError: failed with ***" in str(second["exc"])
    assert third["message"] == "other token ***"


def test_text_format_is_redacted_too() -> None:
    logger, stream = capture("text")
    logger.info("token %s", TOKEN)
    assert TOKEN not in stream.getvalue() and "INFO test.logging.text: token ***" in stream.getvalue()

"""LOG_FORMAT=json: one JSON object per line with the task's context, secrets redacted."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest
from telegram import Update

from bot.logging_setup import make_handler
from core.logcontext import bind, log_context
from tests.bot.harness import ALICE, RunningBot

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


KEY, SECRET = "AbCdEfGhIjKlMnOpQrSt12345678", "ZyXwVuTsRqPoNmLkJiHg98765432"
#: Every spelling Telegram takes as the /connect command (commands match in any case, and may
#: name the bot), with the arguments apart by spaces or new lines.
SPELLINGS = [
    f"/connect binance {KEY} {SECRET}",
    f"/Connect binance {KEY} {SECRET}",
    f"/CONNECT binance {KEY} {SECRET}",
    f"/cOnNeCt binance {KEY} {SECRET}",
    f"/connect@atra_test_bot binance {KEY} {SECRET}",
    f"/Connect@ATRA_Test_Bot binance {KEY} {SECRET}",
    f"/connect\nbinance\n{KEY}\n{SECRET}",
    f"/CONNECT@atra_test_bot  binance\t{KEY}  {SECRET}",
]


@pytest.mark.parametrize("text", SPELLINGS)
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_connect_arguments_are_redacted_in_every_spelling(text: str, fmt: str) -> None:
    logger, stream = capture(fmt)
    command = {"type": "bot_command", "offset": 0, "length": len(text.split()[0])}
    chat = {"id": 1001, "type": "private", "first_name": "Alice"}
    message = {"message_id": 3, "date": 0, "chat": chat, "text": text, "entities": [command]}
    update = {"update_id": 7, "message": message}
    logger.debug("Processing update %r", Update.de_json(update, None))  # as PTB writes it
    logger.debug("Call to Bot API endpoint `getUpdates` finished with return value `%s`", [update])
    logger.debug("raw %s", json.dumps(update))
    logger.info("the user sent %s", text)  # unquoted, as our own message would show it
    output = stream.getvalue()
    assert KEY not in output and SECRET not in output
    assert output.lower().count(" ***") >= 4  # each line kept its command, arguments hidden


def test_the_redaction_leaves_other_words_alone() -> None:
    logger, stream = capture("text")
    lines = [
        'File "/usr/lib/python3.11/site-packages/httpcore/_async/connection.py", line 101, in handle',
        "reconnect /connections are pooled; /connectx is another command",
        "text='/start' and text='please /connect later'",
    ]
    for line in lines:
        logger.info(line)
    output = stream.getvalue()
    assert 'httpcore/_async/connection.py", line 101, in handle' in output
    assert "reconnect /connections are pooled; /connectx is another command" in output
    assert "text='/start'" in output and "***" not in output.split("please")[0]


async def test_connect_keys_never_reach_a_log_over_the_wire(bot: RunningBot, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    streams = {fmt: io.StringIO() for fmt in ("text", "json")}
    handlers = []
    for fmt, stream in streams.items():
        handler = make_handler(fmt, [bot.fake.token])
        handler.setStream(stream)  # type: ignore[attr-defined]
        logging.getLogger().addHandler(handler)
        handlers.append(handler)
    try:
        for text in SPELLINGS:
            await bot.reply_to(ALICE, text)
    finally:
        for handler in handlers:
            logging.getLogger().removeHandler(handler)
    records = [r.getMessage() for r in caplog.records]
    assert any("/connect@atra_test_bot ***" in m.lower() for m in records)  # PTB logged them, redacted
    for output in (*records, *(s.getvalue() for s in streams.values())):
        assert KEY not in output and SECRET not in output

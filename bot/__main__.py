"""`python -m bot`: read the settings, configure logging, run the bot until SIGTERM."""

from __future__ import annotations

import signal
import sys
from urllib.parse import urlsplit

from telegram import Update
from telegram.error import InvalidToken, NetworkError

from bot.app import build_application
from bot.logging_setup import RedactSecrets, configure_logging
from core.errors import ConfigError, ExchangeError
from core.settings import Settings
from db.sql import DatabaseUnavailable


def main() -> int:
    try:
        settings = Settings.load()
    except ConfigError as exc:
        print(f"ATRA cannot start: {exc}", file=sys.stderr)
        return 2
    secrets = [settings.telegram_bot_token.get_secret_value()]
    if settings.encryption_key is not None:
        secrets += [part.strip() for part in settings.encryption_key.get_secret_value().split(",")]
    if settings.database_url is not None:  # the URL and its password, wherever they might show
        url = settings.database_url.get_secret_value()
        secrets += [url, urlsplit(url).password or ""]
    configure_logging(settings.log_level, settings.log_format, secrets)
    redactor = RedactSecrets(secrets)
    base_url = redactor.redact(settings.telegram_api_base_url)
    try:
        app = build_application(settings)
        app.run_polling(
            allowed_updates=[Update.MESSAGE, Update.CALLBACK_QUERY],
            stop_signals=(signal.SIGINT, signal.SIGTERM),
            drop_pending_updates=False,
        )
    except ConfigError as exc:
        print(f"ATRA cannot start: {exc}", file=sys.stderr)
        return 2
    except InvalidToken:
        print("ATRA cannot start: Telegram refused TELEGRAM_BOT_TOKEN (check it with @BotFather)", file=sys.stderr)
        return 2
    except NetworkError as exc:
        reason = redactor.redact(str(exc))
        print(f"ATRA cannot start: the Telegram Bot API at {base_url} is unreachable ({reason})", file=sys.stderr)
        return 1
    except DatabaseUnavailable as exc:
        print(f"ATRA cannot start: {redactor.redact(str(exc))}", file=sys.stderr)
        return 1
    except ExchangeError as exc:
        reason = redactor.redact(str(exc))
        print(f"ATRA cannot start: exchange {settings.exchange} is unreachable or refused ({reason})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

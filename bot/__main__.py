"""`python -m bot`: read the settings, configure logging, run the bot until SIGTERM.

Every start failure ends in one line on stderr (exit code 2 for the configuration, 1 for
the environment), never a traceback; a stop signal ends the process within 10 s
(bot/lifecycle.py)."""

from __future__ import annotations

import signal
from urllib.parse import urlsplit

# Until the event loop takes the signals over: a Ctrl-C during the imports just ends the process.
signal.signal(signal.SIGINT, signal.SIG_DFL)

import asyncio  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

from bot.lifecycle import Lifecycle, explain_start_failure  # noqa: E402
from bot.logging_setup import RedactSecrets, configure_logging  # noqa: E402
from bot.preflight import check_database, check_listen_addresses  # noqa: E402
from core.errors import ConfigError  # noqa: E402
from core.settings import Settings  # noqa: E402


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
    try:
        check_listen_addresses(settings)
        if settings.database_url is None:  # SQLite: checked before Telegram and the leader lock
            asyncio.run(check_database(str(settings.database_path)))
        from bot.app import build_application  # the heavy imports (models ...) once the checks pass

        app = build_application(settings)
    except Exception as exc:  # the start's boundary: one line for what is known, else raise
        refused = explain_start_failure(exc, redactor.redact, settings.exchange)
        if refused is None:
            raise
        print(f"ATRA cannot start: {refused}", file=sys.stderr)
        return refused.code
    api = redactor.redact(settings.telegram_api_base_url)
    lifecycle = Lifecycle(app, api_description=api, describe=redactor.redact, exchange=settings.exchange)
    code = asyncio.run(lifecycle.run())
    if lifecycle.abandoned:  # a thread (the database's) may still be stuck: do not wait for it
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code or 1)
    return code


if __name__ == "__main__":
    sys.exit(main())

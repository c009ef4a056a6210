"""Checks made before the bot starts anything (before it even reaches Telegram, which may
be unreachable for a while), each failing with one line naming the setting: the database
can be opened, is ATRA's and not a newer ATRA's, and can be written; the addresses the bot
will listen on (metrics, dashboard) can be listened on."""

from __future__ import annotations

import errno
import socket

from core.errors import ConfigError
from core.settings import Settings
from db.database import Database


async def check_database(path: str) -> None:
    """Open and write-probe the SQLite file once, changing nothing (db/database.py refuses an
    unusable file with a ConfigError naming DATABASE_PATH): migrations wait for the start,
    which may first have to wait for the leader lock."""
    await Database(path).check()


def check_listen_addresses(settings: Settings) -> None:
    """METRICS_HOST:METRICS_PORT and WEBAPP_HOST:WEBAPP_PORT, when on, are free addresses of
    this machine (a port in use or a host that is not this machine's is refused now, not
    with a traceback halfway through the start)."""
    for name, host, port in (
        ("METRICS", settings.metrics_host, settings.metrics_port),
        ("WEBAPP", settings.webapp_host, settings.webapp_port),
    ):
        if port:
            check_listen(name, host, port)


def check_listen(name: str, host: str, port: int) -> None:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigError(f"{name}_HOST {host!r} is not an address this machine can listen on ({exc})") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(f"{name}_PORT {port} on {host} is in use by another program") from None
            raise ConfigError(f"{name}_HOST {host} cannot be listened on ({exc.strerror or exc})") from None

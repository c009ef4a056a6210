"""The page and its headers: served by the bot, no secret in it, nothing from elsewhere
but Telegram's own script, the security headers on every answer."""

from __future__ import annotations

import re

import aiohttp

from tests.bot.harness import RunningBot
from tests.webapp.conftest import base_url
from webapp.server import STATIC_DIR

CSP = (
    "default-src 'none'; script-src 'self' https://telegram.org; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self' https://web.telegram.org"
)


def check_headers(headers: object) -> None:
    assert headers["Content-Security-Policy"] == CSP  # type: ignore[index]
    assert headers["X-Content-Type-Options"] == "nosniff"  # type: ignore[index]
    assert headers["Referrer-Policy"] == "no-referrer"  # type: ignore[index]


async def test_every_answer_carries_the_security_headers(
    dashboard_bot: RunningBot, client: aiohttp.ClientSession
) -> None:
    base = base_url(dashboard_bot)
    for path, status in (("/", 200), ("/static/app.js", 200), ("/api/me", 401), ("/static/nope.js", 404)):
        async with client.get(base + path) as response:
            assert response.status == status, path
            check_headers(response.headers)
    async with client.get(base + "/static/app.js") as response:
        assert response.headers["Cache-Control"] == "no-cache"
    async with client.get(base + "/") as response:
        assert response.headers["Cache-Control"] == "no-store"
        assert "text/html" in response.headers["Content-Type"]
    async with client.get(base + "/static/") as response:
        assert response.status in (403, 404)  # no directory listing
    async with client.get(base + "/static/../server.py") as response:
        assert response.status in (403, 404)


async def test_no_secret_in_anything_served(dashboard_bot: RunningBot, client: aiohttp.ClientSession) -> None:
    token = dashboard_bot.fake.token
    secret_part = token.split(":")[1]
    base = base_url(dashboard_bot)
    served = 0
    for path in sorted(STATIC_DIR.rglob("*")):
        if path.is_file():
            async with client.get(f"{base}/static/{path.relative_to(STATIC_DIR).as_posix()}") as response:
                body = await response.text()
                assert response.status == 200 and secret_part not in body, path
                served += 1
    async with client.get(base + "/") as response:
        assert secret_part not in await response.text()
    assert served >= 10


def test_nothing_is_loaded_from_elsewhere_but_telegrams_script() -> None:
    addresses = set()
    for path in STATIC_DIR.rglob("*"):
        if path.suffix in (".html", ".js", ".css"):
            addresses |= set(re.findall(r"https?://[^\s'\"<>)]+", path.read_text()))
    # The SVG namespace is a name, not a request.
    assert addresses == {"https://telegram.org/js/telegram-web-app.js", "http://www.w3.org/2000/svg"}

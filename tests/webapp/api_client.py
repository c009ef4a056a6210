"""A dashboard client as the page is one: signed initData on every call, a fresh nonce
before every change."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.webapp.signing import sign_init_data, tma


class DashboardClient:
    def __init__(self, session: aiohttp.ClientSession, base: str, token: str) -> None:
        self.session = session
        self.base = base
        self.token = token

    def headers(self, user: int, language: str = "en") -> dict[str, str]:
        return tma(sign_init_data(self.token, user, language_code=language))

    async def get(self, path: str, user: int | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        headers = headers if headers is not None else self.headers(user or 0)
        async with self.session.get(self.base + path, headers=headers) as response:
            body = await response.json() if response.content_type == "application/json" else await response.text()
            return response.status, body

    async def nonce(self, headers: dict[str, str]) -> str:
        status, body = await self.get("/api/nonce", headers=headers)
        assert status == 200, body
        return str(body["nonce"])

    async def post(
        self, path: str, headers: dict[str, str], json: Any = None, nonce: str | None = None
    ) -> tuple[int, Any]:
        sent = dict(headers) | ({"X-Nonce": nonce} if nonce else {})
        async with self.session.post(self.base + path, headers=sent, json=json) as response:
            return response.status, await response.json()

    async def act(self, path: str, user: int, json: Any = None) -> tuple[int, Any]:
        headers = self.headers(user)
        return await self.post(path, headers, json, await self.nonce(headers))

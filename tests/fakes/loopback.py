"""An aiohttp session that can only reach 127.0.0.1, for tests and benches.

Its resolver knows only loopback names and a trace hook refuses any other host, so a URL
that escaped the rewrite to the fake server fails loudly instead of reaching the internet.
"""

from __future__ import annotations

import socket
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

LOOPBACK = "127.0.0.1"


class LoopbackResolver(AbstractResolver):
    """Resolves `localhost` and 127.0.0.1; refuses every other name."""

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        if host not in ("localhost", LOOPBACK):
            raise OSError(f"loopback-only session refuses to resolve {host}")
        return [
            ResolveResult(
                hostname=host,
                host=LOOPBACK,
                port=port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        return None


async def _refuse_non_loopback(_session: Any, _ctx: Any, params: aiohttp.TraceRequestStartParams) -> None:
    if params.url.host != LOOPBACK:
        raise AssertionError(f"refusing to reach {params.url} from a test")


def loopback_session(limit: int = 100) -> aiohttp.ClientSession:
    """A session for ccxt clients that talk to the fake exchange only. Create it inside
    the running event loop; close it after the clients. `limit`: connections open at once
    (aiohttp's default, 100; 0 for none: each account stream holds one for good)."""
    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(_refuse_non_loopback)
    connector = aiohttp.TCPConnector(resolver=LoopbackResolver(), ssl=False, limit=limit)
    return aiohttp.ClientSession(connector=connector, trace_configs=[trace])

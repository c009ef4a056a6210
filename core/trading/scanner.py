"""One scan: engine over the tradable symbols, then publish what survives."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.errors import UserError
from core.ports import Clock, SystemRepository
from core.signals.engine import ScanResult, SignalEngine
from core.trading.admin import LAST_SCAN_KEY
from core.trading.service import TradingService

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ScanSummary:
    ran: bool  # False when paused or another scan was running
    reason: str | None = None  # "paused" or "busy" when it did not run
    symbols: int = 0
    published: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: dict[str, str] | None = None


class Scanner:
    def __init__(
        self,
        engine: SignalEngine,
        trading: TradingService,
        system: SystemRepository,
        clock: Clock,
        symbols: Callable[[], Sequence[str]],
    ) -> None:
        self._engine = engine
        self._trading = trading
        self._system = system
        self._clock = clock
        self._symbols = symbols
        self._lock = asyncio.Lock()

    async def run(self) -> ScanSummary:
        if self._lock.locked():
            return ScanSummary(ran=False, reason="busy")
        async with self._lock:
            if await self._system.is_paused():
                return ScanSummary(ran=False, reason="paused")
            await self._trading.expire_signals()
            symbols = list(self._symbols())
            result = await self._engine.scan(symbols)
            published = duplicates = 0
            for draft in result.signals:
                try:
                    rows = await self._trading.publish(draft)
                except UserError as exc:  # paused while we scanned: publish nothing more
                    log.info("scan stopped publishing: %s", exc.key)
                    break
                if rows is None:
                    duplicates += 1
                else:
                    published += 1
            await self._remember(result, published)
            for symbol, error in result.errors.items():
                log.warning("scan: %s failed: %s", symbol, error)
            return ScanSummary(
                ran=True,
                symbols=len(symbols),
                published=published,
                duplicates=duplicates,
                rejected=sum(result.rejections.values()),
                errors=dict(result.errors),
            )

    async def _remember(self, result: ScanResult, published: int) -> None:
        record = {
            "at": (result.finished_at or self._clock.now()).isoformat(),
            "signals": published,
            "rejected": sum(result.rejections.values()),
            "errors": len(result.errors),
            "rejections": dict(result.rejections),
        }
        await self._system.set_value(LAST_SCAN_KEY, json.dumps(record))

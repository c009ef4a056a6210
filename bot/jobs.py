"""JobQueue jobs that call into core: the scan, the position monitor, the track record."""

from __future__ import annotations

import logging

from bot.context import BotContext

log = logging.getLogger(__name__)


async def scan_job(context: BotContext) -> None:
    summary = await context.services.scanner.run()
    if summary.ran:
        log.info(
            "scan: %d symbols, %d signals published, %d duplicates, %d rejected, %d errors",
            summary.symbols,
            summary.published,
            summary.duplicates,
            summary.rejected,
            len(summary.errors or {}),
        )
    else:
        log.info("scan skipped: %s", summary.reason)


async def monitor_job(context: BotContext) -> None:
    changed = await context.services.trading.monitor()
    if changed:
        log.info("monitor: %d position(s) changed", changed)


async def track_record_job(context: BotContext) -> None:
    changed = await context.services.track_record.advance()
    if changed:
        log.info("track record: %d shadow position(s) changed", changed)

"""JobQueue jobs that call into core (the scan, the position monitor, the track record) and their schedule."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from telegram.ext import JobQueue

from bot.context import BotContext
from core.settings import Settings
from core.timeframes import timeframe_seconds

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


JobCallback = Callable[[BotContext], Coroutine[Any, Any, None]]


def first_scan_delay(settings: Settings, now: float) -> float:
    """Seconds to the first scan: right after the next candle closes when scanning exchange
    candles on their own schedule (a few seconds of grace for the exchange), else soon."""
    if settings.market_data == "exchange" and settings.scan_interval_seconds is None:
        period = timeframe_seconds(settings.timeframe)
        return period - now % period + 5.0
    return min(5.0, settings.scan_interval)


def schedule_jobs(
    queue: JobQueue | None,  # type: ignore[type-arg]
    settings: Settings,
    *,
    retrain: JobCallback | None,
    save_replay_clock: JobCallback | None,
) -> None:
    """The scan, the position monitor, the track record and, when given, the retrain and the replay clock's save."""
    assert queue is not None, "python-telegram-bot[job-queue] is required"
    first = first_scan_delay(settings, datetime.now().timestamp())
    queue.run_repeating(scan_job, interval=settings.scan_interval, first=first, name="scan")  # type: ignore[arg-type]
    queue.run_repeating(
        monitor_job,
        interval=settings.monitor_interval,
        first=2.0,
        name="monitor",  # type: ignore[arg-type]
    )
    queue.run_repeating(
        track_record_job,
        interval=settings.monitor_interval_seconds,
        first=3.0,
        name="track-record",  # type: ignore[arg-type]
    )
    if retrain is not None and settings.retrain_interval > 0:
        queue.run_repeating(
            retrain,
            interval=settings.retrain_interval,
            first=settings.retrain_interval,
            name="retrain",  # type: ignore[arg-type]
        )
    if save_replay_clock is not None:
        queue.run_repeating(save_replay_clock, interval=10.0, first=10.0, name="replay-clock")  # type: ignore[arg-type]

"""Observing the running bot: metrics refreshed from the database, admin alerts, the
figures /status shows, and the scan observed as it runs.

Admins are alerted, through the outbox like any message, when a scan fails (or some of
its symbols do), when a model is older than MODEL_MAX_AGE_DAYS, and when delivery backs
up (the oldest waiting message is older than ALERT_DELIVERY_LAG_SECONDS; a second message
says when it has caught up). A risk limit that halts a user alerts them from the trading
service itself. Each condition alerts once while it lasts, and not again within a cooldown
after it clears, so a flapping condition cannot flood the admins.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.delivery import DeliveryWorker
from bot.health import Health
from bot.metrics import Metrics, StateFigures
from bot.ratelimit import TelegramRateLimiter
from core.events import Alert, SignalIssued
from core.ports import Clock, SystemRepository
from core.trading.scanner import Scanner, ScanSummary
from db.outbox import OutboxRepository
from db.stats import StatsRepository

if TYPE_CHECKING:
    from core.exchange.limiter import LimiterUsage

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ObservabilityConfig:
    admin_ids: frozenset[int]
    metrics_port: int = 0  # 0: no endpoint
    metrics_host: str = "127.0.0.1"
    refresh_seconds: float = 5.0
    delivery_alert_seconds: float = 120.0
    model_max_age: timedelta = timedelta(days=30)
    alert_cooldown: timedelta = timedelta(minutes=30)


class AdminAlerts:
    """Alerts to every admin, through the outbox."""

    def __init__(
        self,
        outbox: OutboxRepository,
        admin_ids: frozenset[int],
        clock: Clock,
        wake: Callable[[], None],
        metrics: Metrics,
        cooldown: timedelta,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._outbox = outbox
        self._admin_ids = sorted(admin_ids)
        self._clock = clock
        self._wake = wake
        self._metrics = metrics
        self._cooldown = cooldown.total_seconds()
        self._monotonic = monotonic
        self._active: set[str] = set()
        self._last: dict[str, float] = {}

    async def raise_alert(self, condition: str, key: str, **params: object) -> bool:
        """Alert on `condition` unless it is already known or cleared only recently."""
        now = self._monotonic()
        if condition in self._active:
            return False
        self._active.add(condition)
        last = self._last.get(condition)
        if last is not None and now - last < self._cooldown:
            return False
        self._last[condition] = now
        await self.notify(key, **params)
        return True

    def clear(self, condition: str) -> bool:
        """The condition is over; True if it was active."""
        if condition in self._active:
            self._active.discard(condition)
            return True
        return False

    async def notify(self, key: str, **params: object) -> None:
        log.error("admin alert %s: %s", key, params)
        self._metrics.alerts.labels(key).inc()
        if self._admin_ids:
            alerts = [Alert(user_id=admin, key=key, params=dict(params)) for admin in self._admin_ids]
            await self._outbox.enqueue(alerts, self._clock.now())
            self._wake()


class ObservedScanner:
    """The scanner, timed and counted; a failed scan (or failed symbols) alerts the admins."""

    def __init__(self, scanner: Scanner, metrics: Metrics, alerts: AdminAlerts) -> None:
        self._scanner = scanner
        self._metrics = metrics
        self._alerts = alerts
        self.last_duration: float | None = None

    async def run(self) -> ScanSummary:
        started = time.perf_counter()
        try:
            summary = await self._scanner.run()
        except Exception as exc:
            self._metrics.scans.labels("failed").inc()
            await self._alerts.raise_alert("scan", "alert_scan_failed", error=f"{type(exc).__name__}: {exc}"[:300])
            raise
        if not summary.ran:
            return summary
        self.last_duration = time.perf_counter() - started
        self._metrics.scan_duration.observe(self.last_duration)
        if summary.errors:
            self._metrics.scans.labels("errors").inc()
            failed = ", ".join(sorted(summary.errors))
            await self._alerts.raise_alert("scan", "alert_scan_errors", count=len(summary.errors), symbols=failed[:300])
        else:
            self._metrics.scans.labels("ok").inc()
            self._alerts.clear("scan")
        return summary


ModelAges = Callable[[], Mapping[str, timedelta]]
ExchangeUsage = tuple[str, Callable[[], "LimiterUsage"]]


class Observability:
    """Owns the metrics endpoint and the refresh loop; answers /status."""

    def __init__(
        self,
        *,
        config: ObservabilityConfig,
        metrics: Metrics,
        alerts: AdminAlerts,
        stats: StatsRepository,
        outbox: OutboxRepository,
        system: SystemRepository,
        delivery: DeliveryWorker,
        limiter: TelegramRateLimiter,
        scanner: ObservedScanner,
        engine_rejections: Callable[[], Mapping[str, int]],
        model_ages: ModelAges,
        exchange: ExchangeUsage | None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.alerts = alerts
        self._stats = stats
        self._outbox = outbox
        self._system = system
        self._delivery = delivery
        self._limiter = limiter
        self.scanner = scanner
        self._engine_rejections = engine_rejections
        self._model_ages = model_ages
        self._exchange = exchange
        self._wall = wall
        self._task: asyncio.Task[None] | None = None
        self.metrics_port: int | None = None
        limiter.on_rate_limited(metrics.rate_limited)

    async def start(self) -> None:
        if self.config.metrics_port:
            self.metrics_port = self.metrics.serve(self.config.metrics_port, self.config.metrics_host)
        self._task = asyncio.create_task(self._loop(), name="observability")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self.metrics.close()

    async def _loop(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # a failed look must not end the looking: log it, look again
                log.exception("refreshing the metrics failed")
            await asyncio.sleep(self.config.refresh_seconds)

    async def refresh(self, check: bool = True) -> Health:
        """Read the figures into the metrics; with `check`, alert on what needs it."""
        paused = await self._system.is_paused()
        backlog = await self._outbox.backlog(skip_kinds=(SignalIssued.kind,) if paused else ())
        oldest = max(0.0, self._wall() - backlog.oldest_enqueued_at) if backlog.oldest_enqueued_at else 0.0
        name, usage = self._exchange if self._exchange else (None, None)
        figures = StateFigures(
            counts=await self._stats.counts(),
            outbox_depth=backlog.depth,
            outbox_oldest_seconds=oldest,
            outbox_in_flight=backlog.in_flight,
            rejections=dict(self._engine_rejections()),
            exchange_name=name,
            exchange=usage() if usage else None,
        )
        self.metrics.set_state(figures)
        if check:
            await self._check(figures)
        return self.health()

    def health(self) -> Health:
        ml: dict[str, tuple[int, int]] = {}
        for (model, passed), count in self.metrics.ml_tally.items():
            yes, no = ml.get(model, (0, 0))
            ml[model] = (yes + count, no) if passed else (yes, no + count)
        return Health(
            figures=self.metrics.state,
            sent_per_second=self._delivery.sent_per_second(),
            sent=self._delivery.sent,
            failed=self._delivery.failed,
            rate_limited=self._limiter.rate_limited,
            in_doubt=self._delivery.in_doubt,
            last_scan_seconds=self.scanner.last_duration,
            ml=ml,
            model_ages=dict(self._model_ages()),
        )

    async def _check(self, figures: StateFigures) -> None:
        limit = self.config.delivery_alert_seconds
        if figures.outbox_oldest_seconds > limit:
            await self.alerts.raise_alert(
                "delivery",
                "alert_delivery_backlog",
                depth=figures.outbox_depth,
                age=f"{figures.outbox_oldest_seconds:.0f}s",
            )
        elif figures.outbox_oldest_seconds < limit / 2 and self.alerts.clear("delivery"):
            await self.alerts.notify("alert_delivery_recovered", depth=figures.outbox_depth)
        max_age = self.config.model_max_age
        for model, age in sorted(self._model_ages().items()):
            if age > max_age:
                await self.alerts.raise_alert(
                    f"model:{model}", "alert_model_stale", model=model, age=f"{age.days}", limit=f"{max_age.days}"
                )
            else:
                self.alerts.clear(f"model:{model}")

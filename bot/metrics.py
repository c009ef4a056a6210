"""Prometheus metrics, in a registry the composition root owns (no module globals: two
applications in one process, as in the tests, never share a counter).

Counters and histograms are updated where things happen (delivery, scans, model calls);
figures that live in the database (outbox depth, orders by status, signals ...) are read
every few seconds by `bot.observability.Observability.refresh` into a snapshot that a
custom collector serves at scrape time, so a scrape never touches the database.

Metric names (all prefixed `atra_`):

| name | type | labels |
| --- | --- | --- |
| signals_total | counter | source (engine, manual): signals published |
| user_signals | gauge | state: per-user rows (executed = accepted by the user) |
| signal_rejections_total | counter | reason: engine candidates rejected, since start |
| ml_predictions_total | counter | model, result (passed, rejected) |
| ml_assess_seconds | histogram | model |
| scans_total / scan_duration_seconds | counter (result) / histogram | |
| outbox_depth / outbox_oldest_seconds / outbox_in_flight | gauge | |
| messages_sent_total / messages_failed_total | counter | kind / kind, reason |
| delivery_latency_seconds | histogram | kind: outbox write to Telegram's acceptance |
| telegram_rate_limited_total | counter | 429 answers |
| messages_in_doubt_total | counter | re-sent after a stop mid-send |
| orders | gauge | status |
| open_positions / subscribers | gauge | |
| exchange_weight_used / _limit, exchange_orders_in_window / _limit, | gauge | exchange |
| exchange_rate_factor, exchange_paused_seconds, exchange_rate_limited_total | gauge, counter | exchange |
| admin_alerts_total | counter | key |
"""

from __future__ import annotations

import logging
import time
from collections import Counter as CounterDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from core.ports import Candidate, ModelOpinion, SignalModel
from db.stats import SystemCounts

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from core.exchange.limiter import LimiterUsage

log = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 40, 60, 120, 300, 900)
_SCAN_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)


@dataclass(frozen=True, slots=True)
class StateFigures:
    """What the database and the long-lived objects say, as of the last refresh."""

    counts: SystemCounts = field(default_factory=SystemCounts)
    outbox_depth: int = 0
    outbox_oldest_seconds: float = 0.0
    outbox_in_flight: int = 0
    rejections: Mapping[str, int] = field(default_factory=dict)
    exchange_name: str | None = None
    exchange: LimiterUsage | None = None


class _StateCollector(Collector):
    def __init__(self) -> None:
        self.figures = StateFigures()

    def collect(self) -> Iterator[Metric]:
        f = self.figures
        yield _counter("atra_signals", "Signals published, by source", "source", f.counts.signals_by_source)
        yield _gauge("atra_user_signals", "Per-user signal rows by state", "state", f.counts.user_signals_by_state)
        yield _counter("atra_signal_rejections", "Engine candidates rejected since start", "reason", f.rejections)
        yield _gauge("atra_orders", "Orders by status", "status", f.counts.orders_by_status)
        yield GaugeMetricFamily("atra_open_positions", "Open positions", value=f.counts.open_positions)
        yield GaugeMetricFamily("atra_subscribers", "Subscribed, reachable users", value=f.counts.subscribers)
        yield GaugeMetricFamily("atra_outbox_depth", "Messages waiting in the outbox", value=f.outbox_depth)
        yield GaugeMetricFamily(
            "atra_outbox_oldest_seconds", "Age of the oldest waiting message", value=f.outbox_oldest_seconds
        )
        yield GaugeMetricFamily("atra_outbox_in_flight", "Messages being sent", value=f.outbox_in_flight)
        if f.exchange is not None and f.exchange_name is not None:
            yield from _exchange_metrics(f.exchange_name, f.exchange)


def _counter(name: str, doc: str, label: str, values: Mapping[str, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


def _gauge(name: str, doc: str, label: str, values: Mapping[str, float]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


def _exchange_metrics(exchange: str, usage: LimiterUsage) -> Iterator[Metric]:
    for name, doc, value in (
        ("atra_exchange_weight_used", "Request weight used in the exchange's window", usage.used_weight),
        ("atra_exchange_weight_limit", "Request weight budget of the window", usage.weight_limit),
        ("atra_exchange_orders_in_window", "Orders of the busiest account in the window", usage.orders_in_window),
        ("atra_exchange_orders_limit", "Order budget of the window", usage.orders_limit),
        ("atra_exchange_rate_factor", "Share of the budgets in use after rate-limit answers", usage.rate_factor),
        ("atra_exchange_paused_seconds", "Seconds left of a pause the exchange asked for", usage.paused_for),
    ):
        family = GaugeMetricFamily(name, doc, labels=["exchange"])
        family.add_metric([exchange], float(value))
        yield family
    limited = CounterMetricFamily(
        "atra_exchange_rate_limited", "Rate-limit answers from the exchange", labels=["exchange"]
    )
    limited.add_metric([exchange], usage.rate_limited_count)
    yield limited


class Metrics:
    """The process's metrics and the endpoint that serves them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages_sent = Counter("atra_messages_sent", "Messages Telegram accepted", ["kind"], registry=r)
        self.messages_failed = Counter(
            "atra_messages_failed", "Messages dropped or given up", ["kind", "reason"], registry=r
        )
        self.delivery_latency = Histogram(
            "atra_delivery_latency_seconds",
            "From the outbox write to Telegram's acceptance",
            ["kind"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.telegram_429 = Counter("atra_telegram_rate_limited", "429 answers from Telegram", registry=r)
        self.in_doubt = Counter("atra_messages_in_doubt", "Messages sent again after a stop mid-send", registry=r)
        self.scans = Counter("atra_scans", "Scans by result (ok, errors, failed)", ["result"], registry=r)
        self.scan_duration = Histogram(
            "atra_scan_duration_seconds", "Duration of a scan", buckets=_SCAN_BUCKETS, registry=r
        )
        self.ml_predictions = Counter(
            "atra_ml_predictions", "Model opinions on candidates", ["model", "result"], registry=r
        )
        self.ml_seconds = Histogram("atra_ml_assess_seconds", "Duration of one model call", ["model"], registry=r)
        self.ml_tally: CounterDict[tuple[str, bool]] = CounterDict()  # (model, passed) -> opinions, for /status
        self.alerts = Counter("atra_admin_alerts", "Alerts sent to the admins", ["key"], registry=r)
        self._state = _StateCollector()
        r.register(self._state)
        self._server: WSGIServer | None = None

    # -- DeliveryObserver ----------------------------------------------------------
    def delivered(self, kind: str, latency_seconds: float | None) -> None:
        self.messages_sent.labels(kind).inc()
        if latency_seconds is not None:
            self.delivery_latency.labels(kind).observe(max(0.0, latency_seconds))

    def failed(self, kind: str, reason: str) -> None:
        self.messages_failed.labels(kind, reason).inc()

    def requeued_in_doubt(self, count: int) -> None:
        self.in_doubt.inc(count)

    def rate_limited(self, retry_after: float) -> None:
        self.telegram_429.inc()

    # -- state -----------------------------------------------------------------------
    def set_state(self, figures: StateFigures) -> None:
        self._state.figures = figures

    @property
    def state(self) -> StateFigures:
        return self._state.figures

    def observed_model(self, model: SignalModel) -> SignalModel:
        """`model` with its opinions counted and its calls timed: wrap each model given
        to the engine with this."""
        return ObservedModel(model, self)

    # -- endpoint --------------------------------------------------------------------
    def serve(self, port: int, host: str) -> int:
        """Serve /metrics on host:port (a daemon thread); returns the bound port."""
        self._server, _ = start_http_server(port, addr=host, registry=self.registry)
        bound = int(self._server.server_port)
        log.info("metrics on http://%s:%d/metrics", host, bound)
        return bound

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class ObservedModel:
    """A SignalModel decorator: counts each opinion (passed or rejected; the reasons are
    in atra_signal_rejections_total, as the engine counts them) and times each call."""

    def __init__(self, model: SignalModel, metrics: Metrics) -> None:
        self._model = model
        self._metrics = metrics
        self.name = model.name

    def assess(self, candidates: Sequence[Candidate]) -> list[ModelOpinion]:
        started = time.perf_counter()
        opinions = self._model.assess(candidates)
        self._metrics.ml_seconds.labels(self.name).observe(time.perf_counter() - started)
        for opinion in opinions:
            self._metrics.ml_tally[(self.name, opinion.passed)] += 1
            self._metrics.ml_predictions.labels(self.name, "passed" if opinion.passed else "rejected").inc()
        return opinions

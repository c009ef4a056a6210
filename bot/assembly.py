"""The object graph of one run, built in dependency order and passed in through
constructors: repositories -> market data -> delivery -> models -> engine -> trading ->
admin -> scanner -> observability -> the services the handlers reach."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from telegram.ext import ExtBot

from bot.adapters import Adapters, Repositories, TradingParts
from bot.charts import SignalCharts
from bot.context import Services
from bot.delivery import DeliveryWorker
from bot.delivery.paid import PaidBudget
from bot.figures import Figures
from bot.metrics import Metrics
from bot.observability import AdminAlerts, Observability, ObservabilityConfig, ObservedScanner
from bot.ratelimit import Bulk, TelegramRateLimiter
from core.clock import SystemClock
from core.errors import ConfigError
from core.ports import Clock, MarketData
from core.rules.exits import ManagementRules
from core.rules.fills import FillModel
from core.settings import Settings
from core.signals.engine import EngineConfig, SignalEngine
from core.signals.playbooks import PLAYBOOKS, Playbook, playbook
from core.trading.admin import AdminService
from core.trading.history import HistoryService
from core.trading.live import LivePositions
from core.trading.live_follow import follow_streams
from core.trading.live_stream import AccountStreams
from core.trading.scanner import Scanner
from core.trading.service import TradingConfig, TradingService
from core.trading.track_record import RecordConfig, TrackRecord
from db.broadcast import PaidBroadcastRepository
from db.outbox import ChartRepository, OutboxRepository
from db.signals import SignalRepository
from db.sql import SqlDatabase
from db.stats import StatsRepository
from db.system import SystemRepository
from db.track_record import ShadowRepository
from db.trades import OrderRepository, PositionRepository
from db.users import UserRepository


@dataclass(frozen=True, slots=True)
class Assembly:
    """What the lifecycle starts, stops and keeps: the services and the parts that run."""

    services: Services
    delivery: DeliveryWorker
    observability: Observability
    clock: Clock
    system: SystemRepository
    market_data: MarketData
    streams: AccountStreams | None = None  # live: the accounts' order streams (issue 12)


def repositories(db: SqlDatabase, clock: Clock) -> Repositories:
    return Repositories(
        users=UserRepository(db, clock),
        system=SystemRepository(db, clock),
        signals=SignalRepository(db),
        orders=OrderRepository(db, clock),
        positions=PositionRepository(db, clock),
        outbox=OutboxRepository(db),
    )


def paid_budget(settings: Settings, db: SqlDatabase) -> PaidBudget | None:
    """The paid lane's daily Stars budget, when paid broadcasts are on."""
    stars = settings.paid_broadcast_stars_per_day
    return PaidBudget(PaidBroadcastRepository(db), stars, SystemClock()) if stars > 0 else None


async def assemble(
    bot: ExtBot[Bulk],
    settings: Settings,
    db: SqlDatabase,
    adapters: Adapters,
    limiter: TelegramRateLimiter,
    *,
    clock: Clock | None = None,
    market_data: MarketData | None = None,
    delivery_options: Mapping[str, float] | None = None,
) -> Assembly:
    """Build everything for one run on a connected database (`clock`, `market_data`: test seams)."""
    clock = clock or await adapters.clock(SystemRepository(db, SystemClock()))
    repos = repositories(db, clock)
    market_data = market_data or await adapters.market_data(clock)
    metrics = Metrics()
    book = _playbook(settings)
    figures = Figures(market_data.precision)
    delivery = DeliveryWorker(
        bot,
        repos.outbox,
        repos.users,
        repos.system,
        limiter,
        SignalCharts(market_data, ChartRepository(db), clock),
        figures,
        book.management,
        metrics,
        SystemClock(),
        clock,
        **dict(delivery_options or {}),  # type: ignore[arg-type]
        paid=paid_budget(settings, db),
    )
    runtime = await adapters.load_models()
    models = [metrics.observed_model(m) for m in runtime.models] if runtime else []
    engine = SignalEngine(market_data, settings.timeframe, clock, EngineConfig(playbook=book), models)
    parts = adapters.trading_parts(market_data, clock, repos, engine.management_rules, delivery.wake)
    track_record = _track_record(settings, db, clock, market_data, repos, engine.management_rules, delivery)
    trading = _trading_service(settings, clock, market_data, repos, parts, delivery, track_record)
    admin = _admin_service(settings, clock, market_data, repos, trading, adapters)
    scanner = Scanner(engine, trading, repos.system, clock, admin.tradable_symbols)
    observability = _observability(settings, db, adapters, limiter, metrics, repos, delivery, scanner, engine, clock)
    services = Services(
        settings=settings,
        clock=clock,
        trading=trading,
        admin=admin,
        scanner=observability.scanner,
        users=repos.users,
        delivery=delivery,
        accounts=parts.accounts,
        history=HistoryService(repos.positions, repos.users, market_data, repos.signals, clock),
        observability=observability,
        track_record=track_record,
        figures=figures,
        exit_rules=book.management,
    )
    streams = _streams(settings, parts, repos, trading, adapters)
    return Assembly(services, delivery, observability, clock, repos.system, market_data, streams)


def _streams(
    settings: Settings, parts: TradingParts, repos: Repositories, trading: TradingService, adapters: Adapters
) -> AccountStreams | None:
    """Live with order streams: fills from the streams, the monitor's poll a slow sweep."""
    manager = parts.manager
    if parts.stream is None or not isinstance(manager, LivePositions) or adapters.keys is None:
        return None
    return follow_streams(
        trading,
        manager,
        parts.stream,
        keys=adapters.keys,
        orders=repos.orders,
        positions=repos.positions,
        sweep_seconds=settings.live_sweep_seconds,
        admin_ids=settings.admin_ids,
    )


def _trading_service(
    settings: Settings,
    clock: Clock,
    market_data: MarketData,
    repos: Repositories,
    parts: TradingParts,
    delivery: DeliveryWorker,
    track_record: TrackRecord,
) -> TradingService:
    return TradingService(
        config=TradingConfig(
            timeframe=settings.timeframe,
            paper_balance=settings.paper_balance,
            signal_ttl_seconds=settings.signal_ttl,
            max_entry_drift_r=settings.max_entry_drift_r,
            admin_ids=settings.admin_ids,
            access=settings.access,
            signal_channel=settings.signal_channel,
            channel_language=settings.signal_channel_language,
        ),
        clock=clock,
        market_data=market_data,
        exchange=parts.exchange,
        users=repos.users,
        system=repos.system,
        signals=repos.signals,
        orders=repos.orders,
        positions=repos.positions,
        outbox=repos.outbox,
        manager=parts.manager,
        wake_delivery=delivery.wake,
        track_record=track_record,
    )


def _track_record(
    settings: Settings,
    db: SqlDatabase,
    clock: Clock,
    market_data: MarketData,
    repos: Repositories,
    rules: ManagementRules,
    delivery: DeliveryWorker,
) -> TrackRecord:
    """A shadow position for every published signal: the paper fill model, the positions' exit rules."""
    fills = FillModel(fee_rate=settings.paper_fee_pct / 100, slippage_pct=settings.paper_slippage_pct)
    return TrackRecord(
        config=RecordConfig(fills=fills, rules=rules, admin_ids=settings.admin_ids),
        clock=clock,
        market_data=market_data,
        shadows=ShadowRepository(db),
        system=repos.system,
        wake_delivery=delivery.wake,
    )


def _admin_service(
    settings: Settings,
    clock: Clock,
    market_data: MarketData,
    repos: Repositories,
    trading: TradingService,
    adapters: Adapters,
) -> AdminService:
    return AdminService(
        clock=clock,
        system=repos.system,
        users=repos.users,
        positions=repos.positions,
        outbox=repos.outbox,
        market_data=market_data,
        trading=trading,
        symbols=settings.symbols,
        timeframe=settings.timeframe,
        mode=settings.trading_mode,
        market_data_kind=settings.market_data,
        models_status=adapters.models_status,
    )


def _observability(
    settings: Settings,
    db: SqlDatabase,
    adapters: Adapters,
    limiter: TelegramRateLimiter,
    metrics: Metrics,
    repos: Repositories,
    delivery: DeliveryWorker,
    scanner: Scanner,
    engine: SignalEngine,
    clock: Clock,
) -> Observability:
    """Metrics endpoint, admin alerts and /status figures (bot/observability.py)."""
    alerts = AdminAlerts(repos.outbox, settings.admin_ids, clock, delivery.wake, metrics, timedelta(minutes=30))
    gateway = adapters.gateway
    return Observability(
        config=ObservabilityConfig(
            admin_ids=settings.admin_ids,
            metrics_port=settings.metrics_port,
            metrics_host=settings.metrics_host,
            delivery_alert_seconds=settings.alert_delivery_lag_seconds,
            model_max_age=timedelta(days=settings.model_max_age_days),
        ),
        metrics=metrics,
        alerts=alerts,
        stats=StatsRepository(db),
        outbox=repos.outbox,
        system=repos.system,
        delivery=delivery,
        limiter=limiter,
        scanner=ObservedScanner(scanner, metrics, alerts),
        engine_rejections=lambda: engine.rejections,
        model_ages=adapters.model_ages,
        exchange=(settings.exchange, gateway.limiter.usage) if gateway is not None else None,
    )


def _playbook(settings: Settings) -> Playbook:
    if settings.playbook not in PLAYBOOKS:
        raise ConfigError(f"PLAYBOOK {settings.playbook!r} is unknown; choose one of {', '.join(sorted(PLAYBOOKS))}")
    return playbook(settings.playbook)

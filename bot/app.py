"""The composition root: settings -> database -> market data -> exchange -> engine ->
services -> bot. The one place that decides which implementation of each port is used."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from telegram import LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.ext import ApplicationBuilder, ContextTypes, Defaults

from bot.charts import SignalCharts
from bot.context import BotApplication, BotContext, BotData, Services
from bot.delivery import DeliveryWorker
from bot.handlers import account, admin, callbacks, fallback, history, stats, tracing, user
from bot.handlers import settings as settings_menu
from bot.jobs import monitor_job, scan_job
from bot.logging_setup import keep_secrets_out_of_logs
from bot.metrics import Metrics
from bot.observability import AdminAlerts, Observability, ObservabilityConfig, ObservedScanner
from bot.ratelimit import TelegramLimits, TelegramRateLimiter
from core.clock import ReplayClock, SystemClock
from core.errors import ConfigError
from core.exchange.ccxt_exchange import CcxtExchange
from core.exchange.ccxt_gateway import CcxtGateway, CcxtSettings, CredentialsProvider
from core.exchange.ccxt_market_data import ExchangeMarketData
from core.exchange.limiter import ExchangeBudgets, ExchangeLimiter
from core.exchange.paper import PaperAccounts, PaperExchange
from core.exchange.replay import ReplayMarketData
from core.ports import Clock, Exchange, MarketData, PositionManager
from core.rules.exits import ManagementRules
from core.rules.fills import FillModel
from core.settings import Settings
from core.signals.engine import SignalEngine
from core.timeframes import timeframe_seconds
from core.trading.accounts import AccountService, ExchangeAccountService, PaperAccountService
from core.trading.admin import AdminService
from core.trading.history import HistoryService
from core.trading.live import LiveConfig, LivePositions
from core.trading.paper import PaperPositions
from core.trading.scanner import Scanner
from core.trading.service import TradingConfig, TradingService
from db.backend import leader_lock, open_database
from db.credentials import CredentialStore, make_cipher
from db.outbox import ChartRepository, OutboxRepository
from db.signals import SignalRepository
from db.stats import StatsRepository
from db.system import SystemRepository
from db.trades import OrderRepository, PositionRepository
from db.users import UserRepository
from ml.runtime import ModelRuntime, load_active_models

log = logging.getLogger(__name__)

REPLAY_CLOCK_KEY = "replay_clock"


@dataclass
class Overrides:
    """Test seams: replace the clock, the market data or the exchange."""

    clock: Clock | None = None
    market_data: MarketData | None = None
    exchange: Exchange | None = None
    delivery_options: dict[str, float] = field(default_factory=dict)
    telegram_limits: TelegramLimits | None = None  # tests: faster than Telegram's
    schedule_jobs: bool = True
    exchange_session: aiohttp.ClientSession | None = None  # tests: a loopback-only session


class NoCredentials:
    """Paper mode: nobody trades on the exchange, so nobody has keys there."""

    async def credentials(self, user_id: int) -> tuple[str, str] | None:
        return None


def file_url_for(api_base_url: str) -> str:
    """Bot API file URL beside the API URL: https://host/bot -> https://host/file/bot."""
    head, sep, _ = api_base_url.rstrip("/").rpartition("/bot")
    return f"{head}/file/bot" if sep else api_base_url.rstrip("/") + "/file/bot"


class Runtime:
    """Owns the database and the background task for one run of the application."""

    def __init__(self, settings: Settings, overrides: Overrides, limiter: TelegramRateLimiter) -> None:
        self.settings = settings
        self.overrides = overrides
        self.limiter = limiter
        url = settings.database_url.get_secret_value() if settings.database_url else None
        self.db = open_database(url, settings.database_path)  # PostgreSQL if DATABASE_URL, else SQLite
        self.leader = leader_lock(url, settings.database_path)  # one instance works, the others wait
        self._standby: asyncio.Task[Any] | None = None  # the start, while it waits for the lock
        self.delivery: DeliveryWorker | None = None
        self.observability: Observability | None = None
        self.clock: Clock | None = None
        self.system: SystemRepository | None = None
        self.gateway: CcxtGateway | None = None
        self.models: ModelRuntime | None = None
        self.market_data: MarketData | None = None
        self.credentials: CredentialsProvider = NoCredentials()
        self.keys: CredentialStore | None = None
        if settings.trading_mode == "live":
            assert settings.encryption_key is not None  # the settings refuse live without it
            cipher = make_cipher(settings.encryption_key.get_secret_value())
            self.keys = CredentialStore(self.db, SystemClock(), cipher, settings.exchange)
            self.credentials = self.keys

    async def start(self, app: BotApplication) -> None:
        settings = self.settings
        self._standby = asyncio.current_task()
        await self.leader.acquire(on_lost=app.stop_running)  # a standby waits here
        self._standby = None
        await self.db.connect()
        system = SystemRepository(self.db, SystemClock())
        clock = self.overrides.clock or await self._clock(system)
        self.clock = clock
        users = UserRepository(self.db, clock)
        system = SystemRepository(self.db, clock)
        signals = SignalRepository(self.db)
        orders = OrderRepository(self.db, clock)
        positions = PositionRepository(self.db, clock)
        outbox = OutboxRepository(self.db)
        market_data = self.overrides.market_data or await self._market_data(clock)
        self.market_data = market_data
        metrics = Metrics()
        delivery = DeliveryWorker(
            app.bot,
            outbox,
            users,
            system,
            self.limiter,
            SignalCharts(market_data, ChartRepository(self.db), clock),
            metrics,
            SystemClock(),
            clock,
            **self.overrides.delivery_options,  # type: ignore[arg-type]
        )
        self.models = await self._models()
        models = [metrics.observed_model(m) for m in self.models.models] if self.models else []
        engine = SignalEngine(market_data, settings.timeframe, clock, models=models)
        repos = _Repositories(users, system, signals, orders, positions, outbox)
        parts = self._trading_parts(market_data, clock, repos, engine.management_rules, delivery.wake)
        trading = TradingService(
            config=TradingConfig(
                timeframe=settings.timeframe,
                paper_balance=settings.paper_balance,
                signal_ttl_seconds=settings.signal_ttl,
                max_price_drift_pct=settings.max_price_drift_pct,
                admin_ids=settings.admin_ids,
            ),
            clock=clock,
            market_data=market_data,
            exchange=parts.exchange,
            users=users,
            system=system,
            signals=signals,
            orders=orders,
            positions=positions,
            outbox=outbox,
            manager=parts.manager,
            wake_delivery=delivery.wake,
        )
        self.system = system
        admin_service = AdminService(
            clock=clock,
            system=system,
            users=users,
            positions=positions,
            outbox=outbox,
            market_data=market_data,
            trading=trading,
            symbols=settings.symbols,
            timeframe=settings.timeframe,
            mode=settings.trading_mode,
            market_data_kind=settings.market_data,
            models_status=self._models_status,
        )
        scanner = Scanner(engine, trading, system, clock, admin_service.tradable_symbols)
        observability = self._observability(metrics, outbox, system, delivery, scanner, engine, clock)
        app.bot_data.services = Services(
            settings=settings,
            clock=clock,
            trading=trading,
            admin=admin_service,
            scanner=observability.scanner,
            users=users,
            delivery=delivery,
            accounts=parts.accounts,
            history=HistoryService(positions, users, market_data),
            observability=observability,
        )
        recovered = await trading.recover()
        if recovered:
            log.warning("recovered %d confirmation(s) interrupted by the last stop", recovered)
        self.delivery, self.observability = delivery, observability
        delivery.start().add_done_callback(_log_task_end)
        await observability.start()
        if self.overrides.schedule_jobs:
            self._schedule(app)
        gc.collect()
        gc.freeze()  # the start-up objects never need collecting: keeps full GCs short
        log.info(
            "ATRA started: mode=%s market_data=%s symbols=%s timeframe=%s scan every %.0fs",
            settings.trading_mode,
            settings.market_data,
            ",".join(admin_service.tradable_symbols()),
            settings.timeframe,
            settings.scan_interval,
        )

    def _observability(
        self,
        metrics: Metrics,
        outbox: OutboxRepository,
        system: SystemRepository,
        delivery: DeliveryWorker,
        scanner: Scanner,
        engine: SignalEngine,
        clock: Clock,
    ) -> Observability:
        """Metrics endpoint, admin alerts and /status figures (bot/observability.py)."""
        settings = self.settings
        alerts = AdminAlerts(outbox, settings.admin_ids, clock, delivery.wake, metrics, timedelta(minutes=30))
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
            stats=StatsRepository(self.db),
            outbox=outbox,
            system=system,
            delivery=delivery,
            limiter=self.limiter,
            scanner=ObservedScanner(scanner, metrics, alerts),
            engine_rejections=lambda: engine.rejections,
            model_ages=self._model_ages,
            exchange=(settings.exchange, self.gateway.limiter.usage) if self.gateway is not None else None,
        )

    async def _models(self) -> ModelRuntime | None:
        if not self.settings.ml_filters:
            log.warning("ML filters are off (ML_FILTERS=false): signals pass on the engine's rules alone")
            return None
        # Model ages are wall-clock ages, even in replay.
        return await asyncio.to_thread(
            load_active_models, self.settings.model_dir, SystemClock(), self.settings.timeframe
        )

    def _model_ages(self) -> dict[str, timedelta]:
        """The active models' ages by the name the engine knows them by."""
        if self.models is None:
            return {}
        names = {"success": self.models.success.name, "price": self.models.price.name}
        return {names.get(info.kind, info.kind): info.age for info in self.models.status().models}

    def _models_status(self) -> list[str]:
        if self.models is None:
            return ["ML filters: off (ML_FILTERS=false)"]
        return self.models.describe()

    async def _retrain(self, context: BotContext) -> None:
        assert self.models is not None and self.market_data is not None
        result = await self.models.retrain(self.market_data, self.settings.symbols)
        log.info("model retrain: %s", result.describe())

    async def _clock(self, system: SystemRepository) -> Clock:
        settings = self.settings
        if settings.market_data != "replay":
            return SystemClock()
        assert settings.replay_start is not None
        start = settings.replay_start
        saved = await system.get_value(REPLAY_CLOCK_KEY)
        if saved and datetime.fromisoformat(saved) > start:
            start = datetime.fromisoformat(saved)  # a restart continues the replay where it stopped
        return ReplayClock(start, settings.replay_speed)

    async def _market_data(self, clock: Clock) -> MarketData:
        settings = self.settings
        if settings.market_data == "replay":
            assert settings.replay_dir is not None
            replay = ReplayMarketData(settings.replay_dir, clock, settings.symbols, settings.timeframe)
            if not replay.symbols():
                raise ConfigError(
                    f"REPLAY_DIR {settings.replay_dir} has no {settings.timeframe} file for any of SYMBOLS"
                )
            return replay
        data = ExchangeMarketData(self._exchange_gateway(), settings.symbols, clock)
        listed = await data.load()
        if not listed:
            raise ConfigError(f"none of SYMBOLS is listed on {settings.exchange}")
        return data

    def _exchange_gateway(self) -> CcxtGateway:
        """The one ccxt gateway (clients, shared limiter) for EXCHANGE in this process."""
        if self.gateway is None:
            settings = self.settings
            self.gateway = CcxtGateway(
                CcxtSettings(
                    exchange_id=settings.exchange,
                    sandbox=settings.exchange_sandbox,
                    api_base_url=settings.exchange_api_base_url,
                ),
                self.credentials,
                ExchangeLimiter(ExchangeBudgets.binance_spot()),
                session=self.overrides.exchange_session,
            )
        return self.gateway

    def _trading_parts(
        self,
        market_data: MarketData,
        clock: Clock,
        repos: _Repositories,
        rules: ManagementRules,
        wake: Callable[[], None],
    ) -> _TradingParts:
        """Paper or live: the exchange, who manages positions, and what an account is."""
        settings = self.settings
        quote = settings.symbols[0].split("/")[1]
        if settings.trading_mode == "paper":
            fills = FillModel(fee_rate=settings.paper_fee_pct / 100, slippage_pct=settings.paper_slippage_pct)
            balances = PaperAccounts(repos.users, repos.positions).free_balance
            paper = self.overrides.exchange or PaperExchange(market_data, clock, balances, fills, quote)
            return _TradingParts(
                exchange=paper,
                manager=PaperPositions(
                    clock=clock,
                    exchange=paper,
                    orders=repos.orders,
                    positions=repos.positions,
                    rules=rules,
                    wake_delivery=wake,
                ),
                accounts=PaperAccountService(repos.users, repos.positions, quote),
            )
        assert self.keys is not None
        gateway = self._exchange_gateway()
        live = CcxtExchange(gateway)
        recv_window = float(gateway.profile.ccxt_options.get("recvWindow", gateway.settings.recv_window_ms)) / 1000
        return _TradingParts(
            exchange=live,
            manager=LivePositions(
                config=LiveConfig(admin_ids=settings.admin_ids, settle_seconds=recv_window + 1.0),
                clock=clock,
                exchange=live,
                keys=self.keys,
                orders=repos.orders,
                positions=repos.positions,
                outbox=repos.outbox,
                system=repos.system,
                rules=rules,
                wake_delivery=wake,
            ),
            accounts=ExchangeAccountService(
                exchange_id=settings.exchange,
                quote=quote,
                exchange=live,
                keys=self.keys,
                users=repos.users,
                positions=repos.positions,
                forget_client=gateway.forget_user,
            ),
        )

    def _schedule(self, app: BotApplication) -> None:
        queue = app.job_queue
        assert queue is not None, "python-telegram-bot[job-queue] is required"
        settings = self.settings
        first = min(5.0, settings.scan_interval)
        if settings.market_data == "exchange" and settings.scan_interval_seconds is None:
            # Right after each candle closes (a few seconds of grace for the exchange).
            period = timeframe_seconds(settings.timeframe)
            now = datetime.now().timestamp()
            first = period - now % period + 5.0
        queue.run_repeating(scan_job, interval=settings.scan_interval, first=first, name="scan")  # type: ignore[arg-type]
        queue.run_repeating(
            monitor_job,
            interval=settings.monitor_interval_seconds,
            first=2.0,
            name="monitor",  # type: ignore[arg-type]
        )
        if self.models is not None and settings.retrain_interval > 0:
            queue.run_repeating(
                self._retrain,
                interval=settings.retrain_interval,
                first=settings.retrain_interval,
                name="retrain",  # type: ignore[arg-type]
            )
        if settings.market_data == "replay":
            queue.run_repeating(self._save_replay_clock, interval=10.0, first=10.0, name="replay-clock")  # type: ignore[arg-type]

    async def _save_replay_clock(self, context: BotContext) -> None:
        assert self.clock is not None and self.system is not None
        await self.system.set_value(REPLAY_CLOCK_KEY, self.clock.now().isoformat())

    async def stop(self, app: BotApplication) -> None:
        if self.delivery is not None:
            await self.delivery.stop()  # sends in flight finish; nothing is left in doubt
        if self.observability is not None:
            await self.observability.stop()
        if self.clock is not None and self.system is not None and self.settings.market_data == "replay":
            await self.system.set_value(REPLAY_CLOCK_KEY, self.clock.now().isoformat())

    async def shutdown(self, app: BotApplication) -> None:
        if self._standby is not None and self._standby is not asyncio.current_task():  # stopped while waiting
            self._standby.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._standby
        if self.gateway is not None:
            await self.gateway.close()
        await self.db.close()
        await self.leader.release()  # last: nothing of this run writes after it


@dataclass(frozen=True, slots=True)
class _Repositories:
    users: UserRepository
    system: SystemRepository
    signals: SignalRepository
    orders: OrderRepository
    positions: PositionRepository
    outbox: OutboxRepository


@dataclass(frozen=True, slots=True)
class _TradingParts:
    exchange: Exchange
    manager: PositionManager
    accounts: AccountService


def _log_task_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.critical("%s died", task.get_name(), exc_info=task.exception())


def build_application(settings: Settings, overrides: Overrides | None = None) -> BotApplication:
    overrides = overrides or Overrides()
    limiter = TelegramRateLimiter(overrides.telegram_limits or TelegramLimits())
    runtime = Runtime(settings, overrides, limiter)
    app: BotApplication = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_api_base_url)
        .base_file_url(file_url_for(settings.telegram_api_base_url))
        .rate_limiter(limiter)
        .context_types(ContextTypes(context=BotContext, bot_data=BotData))
        .defaults(Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)))
        .concurrent_updates(True)
        .post_init(runtime.start)
        .post_stop(runtime.stop)
        .post_shutdown(runtime.shutdown)
        .build()
    )
    keep_secrets_out_of_logs()  # before any update is read: /connect carries API keys
    for feature in (tracing, user, settings_menu, account, history, stats, admin, callbacks, fallback):
        feature.register(app)
    return app

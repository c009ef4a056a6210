"""Which implementation of each port runs, decided once from the settings: the clock
(system or replay), market data (exchange or replay), the one ccxt gateway of the process,
paper or live trading (exchange, position manager, accounts), and the ML models."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp

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
from core.trading.accounts import AccountService, ExchangeAccountService, PaperAccountService
from core.trading.live import LiveConfig, LivePositions
from core.trading.paper import PaperPositions
from db.credentials import CredentialStore, make_cipher
from db.outbox import OutboxRepository
from db.signals import SignalRepository
from db.sql import SqlDatabase
from db.system import SystemRepository
from db.trades import OrderRepository, PositionRepository
from db.users import UserRepository
from ml.runtime import ModelRuntime, load_active_models

log = logging.getLogger(__name__)

REPLAY_CLOCK_KEY = "replay_clock"


class NoCredentials:
    """Paper mode: nobody trades on the exchange, so nobody has keys there."""

    async def credentials(self, user_id: int) -> tuple[str, str] | None:
        return None


@dataclass(frozen=True, slots=True)
class Repositories:
    users: UserRepository
    system: SystemRepository
    signals: SignalRepository
    orders: OrderRepository
    positions: PositionRepository
    outbox: OutboxRepository


@dataclass(frozen=True, slots=True)
class TradingParts:
    exchange: Exchange
    manager: PositionManager
    accounts: AccountService


class Adapters:
    """Builds the chosen adapters for one run and owns the ones that hold connections (the
    ccxt gateway) and the loaded models. `exchange` and `exchange_session` are test seams."""

    def __init__(
        self,
        settings: Settings,
        db: SqlDatabase,
        *,
        exchange: Exchange | None = None,
        exchange_session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.settings = settings
        self._db = db
        self._exchange = exchange
        self._exchange_session = exchange_session
        self.gateway: CcxtGateway | None = None
        self.models: ModelRuntime | None = None
        self.models_off = "ML filters: off (ML_FILTERS=false)"  # the /status line when there are none
        self.credentials: CredentialsProvider = NoCredentials()
        self.keys: CredentialStore | None = None
        if settings.trading_mode == "live":
            assert settings.encryption_key is not None  # the settings refuse live without it
            cipher = make_cipher(settings.encryption_key.get_secret_value())
            self.keys = CredentialStore(db, SystemClock(), cipher, settings.exchange)
            self.credentials = self.keys

    async def clock(self, system: SystemRepository) -> Clock:
        settings = self.settings
        if settings.market_data != "replay":
            return SystemClock()
        assert settings.replay_start is not None
        start = settings.replay_start
        saved = await system.get_value(REPLAY_CLOCK_KEY)
        if saved and datetime.fromisoformat(saved) > start:
            start = datetime.fromisoformat(saved)  # a restart continues the replay where it stopped
        return ReplayClock(start, settings.replay_speed)

    async def market_data(self, clock: Clock) -> MarketData:
        settings = self.settings
        if settings.market_data == "replay":
            assert settings.replay_dir is not None
            replay = ReplayMarketData(settings.replay_dir, clock, settings.symbols, settings.timeframe)
            if not replay.symbols():
                raise ConfigError(
                    f"REPLAY_DIR {settings.replay_dir} has no {settings.timeframe} file for any of SYMBOLS"
                )
            end = replay.data_end()
            if end is not None and clock.now() >= end:  # nothing left to replay: it would trade on the last price
                raise ConfigError(
                    f"the replay clock ({clock.now():%Y-%m-%d %H:%M} UTC: REPLAY_START, or where the last run"
                    f" stopped) is at or after the end of the data in REPLAY_DIR ({end:%Y-%m-%d %H:%M} UTC):"
                    " set REPLAY_START earlier (with a fresh DATABASE_PATH if an earlier run reached the end)"
                )
            return replay
        data = ExchangeMarketData(self.exchange_gateway(), settings.symbols, clock)
        listed = await data.load()
        if not listed:
            raise ConfigError(f"none of SYMBOLS is listed on {settings.exchange}")
        return data

    def exchange_gateway(self) -> CcxtGateway:
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
                session=self._exchange_session,
            )
        return self.gateway

    def trading_parts(
        self,
        market_data: MarketData,
        clock: Clock,
        repos: Repositories,
        rules: ManagementRules,
        wake: Callable[[], None],
    ) -> TradingParts:
        """Paper or live: the exchange, who manages positions, and what an account is."""
        quote = self.settings.symbols[0].split("/")[1]
        if self.settings.trading_mode == "paper":
            return self._paper_parts(market_data, clock, repos, rules, wake, quote)
        return self._live_parts(clock, repos, rules, wake, quote)

    def _paper_parts(
        self,
        market_data: MarketData,
        clock: Clock,
        repos: Repositories,
        rules: ManagementRules,
        wake: Callable[[], None],
        quote: str,
    ) -> TradingParts:
        settings = self.settings
        fills = FillModel(fee_rate=settings.paper_fee_pct / 100, slippage_pct=settings.paper_slippage_pct)
        balances = PaperAccounts(repos.users, repos.positions).free_balance
        paper = self._exchange or PaperExchange(market_data, clock, balances, fills, quote)
        return TradingParts(
            exchange=paper,
            manager=PaperPositions(
                clock=clock,
                exchange=paper,
                orders=repos.orders,
                positions=repos.positions,
                rules=rules,
                wake_delivery=wake,
                market_data=market_data,
            ),
            accounts=PaperAccountService(repos.users, repos.positions, quote),
        )

    def _live_parts(
        self, clock: Clock, repos: Repositories, rules: ManagementRules, wake: Callable[[], None], quote: str
    ) -> TradingParts:
        assert self.keys is not None
        settings = self.settings
        gateway = self.exchange_gateway()
        live = CcxtExchange(gateway)
        recv_window = float(gateway.profile.ccxt_options.get("recvWindow", gateway.settings.recv_window_ms)) / 1000
        return TradingParts(
            exchange=live,
            manager=LivePositions(
                config=LiveConfig(admin_ids=settings.admin_ids, settle_seconds=recv_window + 1.0),
                clock=clock,
                exchange=live,
                keys=self.keys,
                users=repos.users,
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

    async def load_models(self) -> ModelRuntime | None:
        if self.settings.ml_filters is False:
            log.warning("ML filters are off (ML_FILTERS=false): signals pass on the engine's rules alone")
            return None
        # Model ages are wall-clock ages, even in replay.
        runtime = await asyncio.to_thread(
            load_active_models, self.settings.model_dir, SystemClock(), self.settings.timeframe
        )
        if self.settings.ml_filters == "auto":
            active, why = runtime.default_verdict()
            if not active:
                self.models_off = f"ML filters: off by default, {why}; ML_FILTERS=true forces them"
                log.warning("%s", self.models_off)
                return None
        self.models = runtime
        return self.models

    def model_ages(self) -> dict[str, timedelta]:
        """The active models' ages by the name the engine knows them by."""
        if self.models is None:
            return {}
        names = {"success": self.models.success.name, "price": self.models.price.name}
        return {names.get(info.kind, info.kind): info.age for info in self.models.status().models}

    def models_status(self) -> list[str]:
        if self.models is None:
            return [self.models_off]
        return self.models.describe()

    async def close(self) -> None:
        if self.gateway is not None:
            await self.gateway.close()

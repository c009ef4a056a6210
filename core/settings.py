"""One frozen, validated settings object, read once at start from the environment and
`.env`. A wrong value stops the start with a message naming the variable."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.errors import ConfigError
from core.timeframes import timeframe_seconds

DEFAULT_SYMBOLS = ["BTC/USDT", "ETH/USDT", "BNB/USDT", "SOL/USDT", "XRP/USDT", "ADA/USDT", "DOGE/USDT", "LTC/USDT"]
_SYMBOL = re.compile(r"^[A-Z0-9]{2,15}/[A-Z0-9]{2,10}$")
_TOKEN = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{20,}$")
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "models"
_DAY = 86_400
# A host name (RFC 1123 labels) or an IP address; checked again at start by listening on it.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")
# A channel: its id (-100 then digits) or its public @username.
_CHANNEL = re.compile(r"^(-100\d{7,13}|@[A-Za-z][A-Za-z0-9_]{4,31})$")


def _split(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", frozen=True, extra="ignore", case_sensitive=False
    )

    telegram_bot_token: SecretStr
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    access: Literal["open", "approval"] = "open"  # approval: an admin approves each new user
    database_path: Path = Path("data/atra.sqlite3")
    database_url: SecretStr | None = None  # postgresql://... selects PostgreSQL instead of SQLite
    trading_mode: Literal["paper", "live"] = "paper"
    exchange: str = "binance"
    exchange_sandbox: bool = False
    exchange_api_base_url: str | None = None  # replaces scheme and host of every REST URL
    encryption_key: SecretStr | None = None  # Fernet key(s) for users' API keys; required for live
    market_data: Literal["exchange", "replay"] = "exchange"
    replay_dir: Path | None = None
    replay_start: datetime | None = None
    replay_speed: float = Field(default=1.0, gt=0, le=100_000, allow_inf_nan=False)  # 100 000x: a day in 0.9 s
    symbols: Annotated[tuple[str, ...], NoDecode] = tuple(DEFAULT_SYMBOLS)
    timeframe: str = "1h"
    playbook: str = "donchian"  # the engine's playbook by name (core.signals.playbooks; checked at start)
    scan_interval_seconds: float | None = Field(default=None, ge=1, le=7 * _DAY, allow_inf_nan=False)
    paper_balance: float = Field(default=10_000.0, ge=1, le=1e9, allow_inf_nan=False)
    model_dir: Path = DEFAULT_MODEL_DIR
    # auto: the models filter only when their walk-forward lift is real (ml.lift); true forces them
    ml_filters: Literal["auto"] | bool = "auto"
    # None: weekly (off in replay); 0: off; else at least an hour (a retrain takes a while).
    retrain_interval_hours: float | None = Field(default=None, ge=0, le=24 * 366, allow_inf_nan=False)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    metrics_port: int = Field(default=0, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"  # the metrics endpoint's interface; 0.0.0.0 exposes it
    # Beyond DESIGN.md's table: tuning with safe defaults.
    signal_ttl_seconds: float | None = Field(default=None, ge=60, le=30 * _DAY, allow_inf_nan=False)  # one timeframe
    monitor_interval_seconds: float = Field(default=30.0, ge=0.1, le=3600, allow_inf_nan=False)
    paper_fee_pct: float = Field(default=0.1, ge=0, lt=5, allow_inf_nan=False)
    paper_slippage_pct: float = Field(default=0.05, ge=0, lt=5, allow_inf_nan=False)
    # A market confirm is refused when the price is further than this from the entry, in R
    # (the signal's stop distance); a limit entry at the signal's entry is offered instead.
    max_entry_drift_r: float = Field(default=0.25, gt=0, le=1, allow_inf_nan=False)
    max_price_drift_pct: str | None = None  # gone: refused at start with what to set instead
    alert_delivery_lag_seconds: float = Field(default=120.0, ge=1, le=7 * _DAY, allow_inf_nan=False)  # outbox lag
    model_max_age_days: float = Field(default=30.0, ge=1, le=3650, allow_inf_nan=False)  # alert past this age
    webapp_port: int = Field(default=0, ge=0, le=65535)  # the Mini App dashboard server; 0 = off
    webapp_host: str = "127.0.0.1"  # its interface: a reverse proxy in front serves WEBAPP_URL over HTTPS
    webapp_url: str | None = None  # the dashboard's public HTTPS address (menu button, /dashboard)
    # Channel mode: each signal posted once to this channel (-100… id or @name); unset: off.
    signal_channel_id: str | None = None
    signal_channel_language: Literal["en", "ru"] = "en"  # the language of the channel's posts
    # Paid broadcasts: Stars a day signal pushes may spend on allow_paid_broadcast (0.1 a message); 0: off.
    paid_broadcast_stars_per_day: int = Field(default=0, ge=0, le=1_000_000)

    @field_validator("telegram_bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("is not set: copy .env.example to .env and set TELEGRAM_BOT_TOKEN")
        if not _TOKEN.match(value.get_secret_value()):
            raise ValueError("does not look like a bot token from @BotFather (digits:secret)")
        return value

    @field_validator("encryption_key")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        parts = [part.strip() for part in value.get_secret_value().split(",") if part.strip()]
        if not parts:
            return None
        for part in parts:
            try:
                raw = base64.urlsafe_b64decode(part.encode())
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) != 32:
                raise ValueError(
                    "is not a Fernet key (32 url-safe base64 bytes); make one with"
                    " python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
                )
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if not value.get_secret_value().strip().startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql://user:password@host:port/database URL (unset: SQLite)")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _admin_ids(cls, value: object) -> object:
        return _split(value)

    @field_validator("symbols", mode="before")
    @classmethod
    def _symbols(cls, value: object) -> object:
        return _split(value)

    @field_validator("symbols")
    @classmethod
    def _symbol_shape(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one symbol is needed")
        bad = [s for s in value if not _SYMBOL.match(s)]
        if bad:
            raise ValueError(f"expected BASE/QUOTE in capitals, got {', '.join(bad)}")
        if len(set(value)) != len(value):
            raise ValueError("a symbol is listed twice")
        quotes = sorted({s.split("/")[1] for s in value})
        if len(quotes) > 1:  # balances, sizes and risk limits are kept in one currency
            raise ValueError(f"all symbols must share one quote currency, got {', '.join(quotes)}")
        return value

    @field_validator("admin_ids")
    @classmethod
    def _admin_id_range(cls, value: frozenset[int]) -> frozenset[int]:
        bad = [str(i) for i in value if not 0 < i < 2**53]  # Telegram's ids fit in 52 bits
        if bad:
            raise ValueError(f"has ids that are not Telegram user ids: {', '.join(bad)}")
        return value

    @field_validator("metrics_host", "webapp_host")
    @classmethod
    def _host(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            if not _HOST.match(value) or value.replace(".", "").isdigit():
                raise ValueError(f"{value!r} is neither an IP address nor a host name") from None
        return value

    @field_validator("max_price_drift_pct")
    @classmethod
    def _drift_pct_gone(cls, value: str | None) -> None:
        if value is not None:
            raise ValueError(
                "is no longer read: the drift a market confirm allows is measured in R now;"
                " remove it and set MAX_ENTRY_DRIFT_R (default 0.25, see the README's Confirm section)"
            )
        return None

    @field_validator("retrain_interval_hours")
    @classmethod
    def _retrain_hours(cls, value: float | None) -> float | None:
        if value is not None and 0 < value < 1:
            raise ValueError("must be 0 (off) or at least 1 hour")
        return value

    @field_validator("database_path")
    @classmethod
    def _database_file(cls, value: Path) -> Path:
        if str(value) in ("", ".") or value.is_dir():
            raise ValueError(f"{str(value)!r} is a folder: give a file, e.g. data/atra.sqlite3")
        return value

    @field_validator("timeframe")
    @classmethod
    def _timeframe(cls, value: str) -> str:
        if not 60 <= timeframe_seconds(value) <= 7 * _DAY:
            raise ValueError("must be between 1m and 1w")
        return value

    @field_validator("telegram_api_base_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("webapp_url")
    @classmethod
    def _webapp_url(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        if value is not None and not re.match(r"^https://[^\s/]+", value):
            raise ValueError("must be the dashboard's public https:// address (Telegram opens Mini Apps over HTTPS)")
        return value

    @field_validator("signal_channel_id")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not _CHANNEL.match(value.strip()):
            raise ValueError("must be a channel's id (-100 followed by digits) or its @username")
        return value.strip()

    @field_validator("replay_start")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value

    @model_validator(mode="after")
    def _replay_needs_source(self) -> Settings:
        if self.market_data == "replay":
            if self.replay_dir is None or self.replay_start is None:
                raise ValueError("MARKET_DATA=replay needs REPLAY_DIR and REPLAY_START")
            if not self.replay_dir.is_dir():
                raise ValueError(f"REPLAY_DIR {self.replay_dir} is not a directory")
        return self

    @model_validator(mode="after")
    def _live_needs_keys_and_exchange(self) -> Settings:
        if self.trading_mode == "live":
            if self.encryption_key is None:
                raise ValueError("TRADING_MODE=live needs ENCRYPTION_KEY (users' API keys are encrypted with it)")
            if self.market_data != "exchange":
                raise ValueError("TRADING_MODE=live needs MARKET_DATA=exchange (prices of the account's exchange)")
        return self

    @model_validator(mode="after")
    def _webapp_url_needs_port(self) -> Settings:
        if self.webapp_url is not None and not self.webapp_port:
            raise ValueError("WEBAPP_URL needs WEBAPP_PORT: the bot itself serves the dashboard")
        return self

    @property
    def signal_channel(self) -> int | str | None:
        """The channel signals are posted to (its id as a number, or its @username); None: off."""
        value = self.signal_channel_id
        return int(value) if value is not None and value.startswith("-") else value

    @property
    def timeframe_seconds(self) -> int:
        return timeframe_seconds(self.timeframe)

    @property
    def scan_interval(self) -> float:
        """Wall-clock seconds between scans: one timeframe of the market clock unless set."""
        if self.scan_interval_seconds is not None:
            return self.scan_interval_seconds
        speed = self.replay_speed if self.market_data == "replay" else 1.0
        return self.timeframe_seconds / speed

    @property
    def monitor_interval(self) -> float:
        """Wall-clock seconds between monitor runs: MONITOR_INTERVAL_SECONDS of the market
        clock, so a replay at REPLAY_SPEED manages positions on the same market-time grid as
        live; never below half a second of the wall clock (or the setting itself, when smaller)."""
        speed = self.replay_speed if self.market_data == "replay" else 1.0
        return max(self.monitor_interval_seconds / speed, min(0.5, self.monitor_interval_seconds))

    @property
    def retrain_interval(self) -> float:
        """Seconds between scheduled retrains; 0 means never."""
        if self.retrain_interval_hours is not None:
            return self.retrain_interval_hours * 3600
        return 0.0 if self.market_data == "replay" else 7 * 24 * 3600.0

    @property
    def signal_ttl(self) -> float:
        """Market-clock seconds a signal stays confirmable."""
        return self.signal_ttl_seconds if self.signal_ttl_seconds is not None else float(self.timeframe_seconds)

    @classmethod
    def load(cls, env_file: str | Path | None = ".env") -> Settings:
        """Read and validate; raise ConfigError naming every bad variable."""
        try:
            return cls(_env_file=env_file)  # type: ignore[call-arg]
        except ValidationError as exc:
            raise ConfigError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        name = "_".join(str(part) for part in error["loc"]).upper() or "settings"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "missing":
            if name == "TELEGRAM_BOT_TOKEN":
                message = "is not set: copy .env.example to .env and set TELEGRAM_BOT_TOKEN"
            else:
                message = "is required"
        lines.append(f"{name} {message}")
    return "invalid configuration: " + "; ".join(lines)

"""Settings: typed, validated, errors name the variable and never echo the token."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from core.settings import Settings

TOKEN = "123456789:AAbbCCddEEffGGhhIIjjKKllMMnnOOppQQ"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(Settings.model_fields):
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_missing_token_says_what_to_do() -> None:
    with pytest.raises(ConfigError) as error:
        Settings.load(env_file=None)
    assert "copy .env.example to .env and set TELEGRAM_BOT_TOKEN" in str(error.value)


def test_empty_token_from_the_example_file_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TELEGRAM_BOT_TOKEN=\nADMIN_IDS=\n")
    with pytest.raises(ConfigError) as error:
        Settings.load()
    assert "TELEGRAM_BOT_TOKEN is not set: copy .env.example to .env and set TELEGRAM_BOT_TOKEN" in str(error.value)


def test_defaults_and_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("ADMIN_IDS", "42, 7")
    monkeypatch.setenv("SYMBOLS", "BTC/USDT,ETH/USDT")
    s = Settings.load(env_file=None)
    assert s.admin_ids == frozenset({42, 7})
    assert s.symbols == ("BTC/USDT", "ETH/USDT")
    assert (s.trading_mode, s.market_data, s.timeframe, s.paper_balance) == ("paper", "exchange", "1h", 10_000.0)
    assert s.scan_interval == 3600 and s.signal_ttl == 3600


def test_env_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"TELEGRAM_BOT_TOKEN={TOKEN}\nTIMEFRAME=30m\n")
    s = Settings.load()
    assert s.timeframe == "30m" and s.scan_interval == 1800


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("ADMIN_IDS", "12,abc", "ADMIN_IDS"),
        ("TRADING_MODE", "yolo", "TRADING_MODE"),
        ("SYMBOLS", "btcusdt", "SYMBOLS"),
        ("TIMEFRAME", "7x", "TIMEFRAME"),
        ("PAPER_BALANCE", "-5", "PAPER_BALANCE"),
        ("REPLAY_SPEED", "0", "REPLAY_SPEED"),
        ("METRICS_PORT", "70000", "METRICS_PORT"),
        ("TELEGRAM_API_BASE_URL", "ftp://x", "TELEGRAM_API_BASE_URL"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as error:
        Settings.load(env_file=None)
    assert fragment in str(error.value)
    assert TOKEN not in str(error.value)


def test_malformed_token_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "not-a-token-but-a-secret")
    with pytest.raises(ConfigError) as error:
        Settings.load(env_file=None)
    assert "TELEGRAM_BOT_TOKEN" in str(error.value)
    assert "not-a-token-but-a-secret" not in str(error.value)


def test_replay_needs_dir_and_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("MARKET_DATA", "replay")
    with pytest.raises(ConfigError) as error:
        Settings.load(env_file=None)
    assert "REPLAY_DIR" in str(error.value)
    monkeypatch.setenv("REPLAY_DIR", str(tmp_path))
    monkeypatch.setenv("REPLAY_START", "2018-06-01T00:00:00")
    monkeypatch.setenv("REPLAY_SPEED", "3600")
    s = Settings.load(env_file=None)
    assert s.replay_start is not None and s.replay_start.utcoffset() is not None
    assert s.scan_interval == 1.0  # one hour of replay at 3600x


@pytest.mark.parametrize(("value", "expected"), [(None, "auto"), ("auto", "auto"), ("true", True), ("false", False)])
def test_ml_filters_are_auto_by_default_and_can_be_forced(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: object
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    if value is not None:
        monkeypatch.setenv("ML_FILTERS", value)
    assert Settings.load(env_file=None).ml_filters == expected


def test_ml_filters_refuse_anything_else(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("ML_FILTERS", "sometimes")
    with pytest.raises(ConfigError, match="ML_FILTERS"):
        Settings.load(env_file=None)


def test_the_default_playbook_is_the_engines(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.signals.playbooks import DEFAULT_PLAYBOOK

    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    assert Settings.load(env_file=None).playbook == DEFAULT_PLAYBOOK


def test_database_url_selects_postgresql_and_a_wrong_one_is_named_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    assert Settings.load(env_file=None).database_url is None  # SQLite, no server
    monkeypatch.setenv("DATABASE_URL", "")
    assert Settings.load(env_file=None).database_url is None  # as copied from .env.example
    monkeypatch.setenv("DATABASE_URL", "postgres://atra:s3cret-pw@db.example:5432/atra")  # Heroku's spelling
    url = Settings.load(env_file=None).database_url
    assert url is not None and url.get_secret_value().endswith("@db.example:5432/atra")
    assert "s3cret-pw" not in repr(Settings.load(env_file=None))
    monkeypatch.setenv("DATABASE_URL", "mysql://atra:s3cret-pw@db.example/atra")
    with pytest.raises(ConfigError) as error:
        Settings.load(env_file=None)
    assert "DATABASE_URL must be a postgresql://" in str(error.value) and "s3cret-pw" not in str(error.value)


def test_symbols_in_two_quote_currencies_are_refused_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    # Balances, sizes and limits are in one quote currency: ETH/BTC would be sized in USDT.
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SYMBOLS", "BTC/USDT,ETH/BTC")
    with pytest.raises(ConfigError) as error:
        Settings.load(env_file=None)
    assert "SYMBOLS" in str(error.value) and "one quote currency" in str(error.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SIGNAL_TTL_SECONDS", "inf"),
        ("REPLAY_SPEED", "inf"),
        ("PAPER_BALANCE", "inf"),
        ("PAPER_BALANCE", "1e302"),
        ("PAPER_BALANCE", "nan"),
        ("SIGNAL_TTL_SECONDS", "1e300"),
        ("SIGNAL_TTL_SECONDS", "5"),
        ("REPLAY_SPEED", "1e12"),
        ("RETRAIN_INTERVAL_HOURS", "1e-9"),
        ("RETRAIN_INTERVAL_HOURS", "inf"),
        ("SCAN_INTERVAL_SECONDS", "0.001"),
        ("MONITOR_INTERVAL_SECONDS", "1e-6"),
        ("MONITOR_INTERVAL_SECONDS", "inf"),
        ("LIVE_SWEEP_SECONDS", "5"),
        ("LIVE_SWEEP_SECONDS", "86400"),
        ("MAX_ENTRY_DRIFT_R", "0"),
        ("MAX_ENTRY_DRIFT_R", "1.5"),
        ("MAX_ENTRY_DRIFT_R", "nan"),
        ("ALERT_DELIVERY_LAG_SECONDS", "inf"),
        ("MODEL_MAX_AGE_DAYS", "1e308"),
        ("PAPER_FEE_PCT", "nan"),
        ("METRICS_HOST", "999.1.1.1"),
        ("METRICS_HOST", "not a host"),
        ("WEBAPP_HOST", "exa mple"),
        ("ADMIN_IDS", "1,100000000000000000000"),
        ("DATABASE_PATH", "."),
        ("TIMEFRAME", "99999w"),
        ("SIGNAL_CHANNEL_ID", "12345"),
        ("SIGNAL_CHANNEL_ID", "-100"),
        ("SIGNAL_CHANNEL_ID", "@ab"),
        ("SIGNAL_CHANNEL_ID", "https://t.me/x"),
        ("SIGNAL_CHANNEL_LANGUAGE", "de"),
        ("PAID_BROADCAST_STARS_PER_DAY", "-1"),
        ("PAID_BROADCAST_STARS_PER_DAY", "1e9"),
        ("PAID_BROADCAST_STARS_PER_DAY", "0.5"),
    ],
)
def test_every_setting_has_a_sane_range(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as error:
        Settings.load(env_file=None)
    assert str(error.value).startswith(f"invalid configuration: {name} ")


def test_the_ranges_keep_the_values_people_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    for name, value in {
        "SIGNAL_TTL_SECONDS": "86400",
        "REPLAY_SPEED": "3600",
        "PAPER_BALANCE": "1000",
        "RETRAIN_INTERVAL_HOURS": "0",
        "SCAN_INTERVAL_SECONDS": "1",
        "MONITOR_INTERVAL_SECONDS": "0.5",
        "METRICS_HOST": "0.0.0.0",
        "WEBAPP_HOST": "localhost",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings.load(env_file=None)
    assert (settings.signal_ttl, settings.replay_speed, settings.retrain_interval) == (86_400, 3600, 0)


def test_the_ws_api_url_is_a_websocket_url_or_ccxts_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    assert Settings.load(env_file=None).exchange_ws_api_url is None  # ccxt's: wss://ws-api.binance.com:443/ws-api/v3
    monkeypatch.setenv("EXCHANGE_WS_API_URL", "ws://127.0.0.1:9000/ws-api/v3")
    assert Settings.load(env_file=None).exchange_ws_api_url == "ws://127.0.0.1:9000/ws-api/v3"
    for wrong in ("https://ws-api.binance.com/ws-api/v3", "wss://", "ws-api.binance.com"):
        monkeypatch.setenv("EXCHANGE_WS_API_URL", wrong)
        with pytest.raises(ConfigError, match="EXCHANGE_WS_API_URL"):
            Settings.load(env_file=None)


def test_channel_and_paid_broadcasts_are_off_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    settings = Settings.load(env_file=None)
    assert settings.signal_channel is None and settings.paid_broadcast_stars_per_day == 0
    monkeypatch.setenv("SIGNAL_CHANNEL_ID", " -1001234567890 ")
    monkeypatch.setenv("PAID_BROADCAST_STARS_PER_DAY", "250")
    settings = Settings.load(env_file=None)
    assert settings.signal_channel == -1001234567890 and settings.paid_broadcast_stars_per_day == 250
    monkeypatch.setenv("SIGNAL_CHANNEL_ID", "@atra_signals")
    assert Settings.load(env_file=None).signal_channel == "@atra_signals"
    monkeypatch.setenv("SIGNAL_CHANNEL_ID", "")
    assert Settings.load(env_file=None).signal_channel is None


def test_the_old_percentage_drift_setting_refuses_to_start_and_names_its_replacement(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Silently ignoring it would leave an operator who set 5 % believing confirms are loose.
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    assert Settings.load(env_file=None).max_entry_drift_r == 0.25
    monkeypatch.setenv("MAX_ENTRY_DRIFT_R", "0.5")
    assert Settings.load(env_file=None).max_entry_drift_r == 0.5
    monkeypatch.setenv("MAX_PRICE_DRIFT_PCT", "1.0")
    with pytest.raises(ConfigError) as error:
        Settings.load(env_file=None)
    assert "MAX_PRICE_DRIFT_PCT" in str(error.value) and "MAX_ENTRY_DRIFT_R" in str(error.value)

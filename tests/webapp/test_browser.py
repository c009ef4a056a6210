"""The dashboard as a user sees it: a real headless Chromium opens the page the way Telegram
does (initData and theme in the URL fragment), against the real bot on a hand-driven
market with the fake Bot API, reads the figures, presses Confirm and Close, and saves a
screenshot of every page in English (light theme) and Russian (dark theme) under
out/dashboard/. telegram-web-app.js cannot load here (every name but 127.0.0.1 fails to
resolve), so the page is shown to work without it.

Expected figures are worked out by hand: fee 0.1 %, no slippage, risk 1 % of the balance to the
stop: published at 10 000, BTC 100 (stop 90) -> 10 units, ETH 50 (stop 45) -> 20 units; a
confirmation takes no more than the signal showed nor than a fresh sizing on the balance then."""

from __future__ import annotations

import json
import math
import os
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from core.clock import ManualClock
from tests.bot.harness import ADMIN, ALICE, BOB, RunningBot
from tests.bot.test_flow import eventually, publish, subscribe
from tests.conftest import T0
from tests.fakes.market import FakeMarketData, candles_frame
from tests.webapp.browser import DARK, LIGHT, Browser, launch_url, missing_browser
from tests.webapp.conftest import base_url
from tests.webapp.signing import sign_init_data

HOUR = timedelta(hours=1)


def walk(end: float, count: int, swing: float, period: float) -> list[tuple[float, float, float, float]]:
    """OHLC candles wandering towards a last close of exactly `end`."""
    closes = [end * (1 + swing * math.sin(i / period) * (count - 1 - i) / count) for i in range(count)]
    rows, previous = [], closes[0]
    for close in closes:
        rows.append((previous, max(previous, close) * 1.002, min(previous, close) * 0.998, close))
        previous = close
    return rows


@pytest.fixture
def market() -> FakeMarketData:
    """48 closed hourly candles each: BTC/USDT ending at 100, ETH/USDT at 50."""
    data = FakeMarketData({"BTC/USDT": 100.0, "ETH/USDT": 50.0})
    data.add_candles("BTC/USDT", candles_frame(T0 - 48 * HOUR, walk(100.0, 48, 0.06, 5.0), HOUR))
    data.add_candles("ETH/USDT", candles_frame(T0 - 48 * HOUR, walk(50.0, 48, 0.05, 3.3), HOUR))
    return data


@pytest.fixture
def dashboard_settings() -> dict[str, Any]:
    """Signals stay confirmable two days, so the story below can let hours pass."""
    return {"signal_ttl_seconds": 2 * 86_400}


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """Skipped where Chromium is not installed, except in CI (.ci/run installs it): there
    a missing browser fails."""
    if (reason := missing_browser()) is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    chromium = Browser(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield chromium
    finally:
        chromium.quit()


@pytest.fixture
async def opened(dashboard_bot: RunningBot, browser: Browser) -> AsyncIterator[tuple[RunningBot, Browser]]:
    yield dashboard_bot, browser


def figure(field: str) -> str:
    return f"[data-field='{field}'] .value"


NAMES = {ALICE: "Alice", BOB: "Борис", ADMIN: "Admin"}


async def open_as(
    bot: RunningBot, browser: Browser, user: int, language: str, theme: dict[str, str], page: str
) -> None:
    init = sign_init_data(bot.fake.token, user, language_code=language, first_name=NAMES[user])
    await browser.open(launch_url(base_url(bot), init, theme), page)


async def trade_eth(bot: RunningBot, market: FakeMarketData, clock: ManualClock, user: int, exit_price: float) -> None:
    """Confirm the ETH signal now, close it five hours later at `exit_price`, let three more pass."""
    rows = {r.symbol: r.id for r in await bot.services.trading.active_signals(user)}
    execution = await bot.services.trading.confirm(rows["ETH/USDT"], user)
    clock.advance(5 * HOUR)
    market.prices["ETH/USDT"] = exit_price
    await bot.services.trading.close_position(execution.position.id, user)
    clock.advance(3 * HOUR)


async def test_english_pages_confirm_and_close(
    opened: tuple[RunningBot, Browser], market: FakeMarketData, clock: ManualClock, tmp_path: Path
) -> None:
    bot, browser = opened
    await subscribe(bot, ALICE)
    await publish(bot, (ALICE,))  # BTC long 100, stop 90, TP 110/120
    await publish(bot, (ALICE,), "/signal ETH/USDT long sl=45 tp=55,60")
    await trade_eth(bot, market, clock, ALICE, 52.0)  # +40 gross, fees 1.00 + 1.04: +37.96
    await publish(bot, (ALICE,), "/signal ETH/USDT short sl=55 tp=45,40")  # stays pending
    eth_net = 37.96

    await open_as(bot, browser, ALICE, "en", LIGHT, "home")
    assert await browser.js("return typeof window.Telegram") == "undefined"  # rendered without Telegram's script
    assert await browser.js("return document.documentElement.dataset.scheme") == "light"
    assert await browser.value(figure("balance")) == pytest.approx(10_000 + eth_net)
    assert await browser.text(figure("balance")) == "10,037.96"
    btc_qty = min(10.0, (10_000 + eth_net) * 0.01 / (100 - 90))  # 10: never more than the signal showed
    btc_fee = 100 * btc_qty * 0.001
    assert await browser.text(figure("pnl_today")) == "+37.96"
    assert await browser.text(figure("open_positions")) == "0"

    await browser.tab("signals")
    cards = await browser.texts(".signal h2")
    assert cards == ["ETH/USDT SHORT", "BTC/USDT LONG"]  # newest first
    btc = await browser.js("return document.querySelector('.signal:nth-of-type(2)').dataset.id")
    await browser.click(f".signal[data-id='{btc}'] button.confirm")
    await browser.wait(lambda: "Filled: BTC/USDT 10 @ 100." in browser.driver.find_element("id", "toast").text)
    (view,) = await bot.services.trading.positions_view(ALICE)
    assert (view.position.symbol, view.position.entry_price) == ("BTC/USDT", 100)
    assert view.position.quantity == pytest.approx(btc_qty)
    await browser.wait_page("signals")
    assert await browser.texts(".signal h2") == ["ETH/USDT SHORT"]
    await browser.screenshot("en-signals")

    market.prices["BTC/USDT"] = 106.0
    await browser.tab("home")
    balance = 10_000 + eth_net - btc_fee
    equity = balance + 6 * btc_qty
    assert await browser.text(figure("balance")) == f"{balance:,.2f}" == "10,036.96"
    assert await browser.text(figure("equity")) == f"{equity:,.2f}" == "10,096.96" and await browser.value(
        figure("equity")
    ) == pytest.approx(equity)
    assert await browser.text(figure("unrealized_pnl")) == f"+{6 * btc_qty:.2f}" == "+60.00"
    risk = 10 * btc_qty
    assert await browser.text(figure("open_risk")) == f"{risk:.2f} ({risk / equity * 100:.2f}%)" == "100.00 (0.99%)"
    assert await browser.text(figure("pnl_30d")) == "+37.96"
    path = await browser.js("return document.querySelector('svg.chart.equity path.stroke').getAttribute('d')")
    assert path.count("H") == 2  # start, ETH's close five hours later, now: a step at each
    await browser.screenshot("en-home")

    await browser.tab("positions")
    card = f".position[data-id='{view.position.id}']"
    for field, text in (("entry", "100"), ("stop", "90"), ("tp1", "110"), ("tp2", "120"), ("price", "106")):
        assert await browser.text(f"{card} {figure(field)}") == text, field
    assert await browser.text(f"{card} {figure('unrealized_pnl')}") == "+60.00"
    assert await browser.js(f'return document.querySelectorAll("{card} svg .level").length') == 4
    await browser.screenshot("en-positions")
    assert await browser.text(f"{card} button.break-even") == "Stop to break-even"
    await browser.click(f"{card} button.break-even")  # 106 is past the entry: the stop may rest at 100
    await browser.wait(
        lambda: "BTC/USDT: stop moved to the entry, 100." in browser.driver.find_element("id", "toast").text
    )
    (moved,) = await bot.services.trading.positions_view(ALICE)
    assert moved.position.stop_price == 100
    await browser.wait(
        lambda: browser.driver.find_element("css selector", f"{card} {figure('stop')}").text == "100",
        what="the card's stop refreshed to the entry",
    )
    before = len(bot.fake.sent(ALICE))
    await browser.click(f"{card} button.close")
    assert await browser.text(f"{card} button.close") == "Close at market?"  # a second press closes
    assert await bot.services.trading.positions_view(ALICE)  # not yet
    await browser.click(f"{card} button.close")
    btc_net = 6 * btc_qty - btc_fee - 106 * btc_qty * 0.001  # 60 - 1.00 - 1.06 = 57.94
    await browser.wait(
        lambda: f"Closed BTC/USDT at 106: +{btc_net:.2f} after fees." in browser.driver.find_element("id", "toast").text
    )
    assert await bot.services.trading.positions_view(ALICE) == []
    await bot.fake.wait_for(lambda: len(bot.fake.sent(ALICE)) > before)
    assert "closed (manual) @ 106" in (bot.fake.last_text(ALICE) or "")  # the chat is told, as after /positions
    await browser.wait_page("positions")
    assert await browser.text(".empty") == "No open positions."

    await browser.tab("performance")
    assert await browser.text(figure("n_trades")) == "2"
    assert await browser.text(figure("win_rate")) == "100.00%"
    assert await browser.value(figure("realized_pnl")) == pytest.approx(eth_net + btc_net)
    assert await browser.text(figure("realized_pnl")) == f"+{eth_net + btc_net:.2f}" == "+95.90"
    fees = 1.00 + 1.04 + btc_fee + 106 * btc_qty * 0.001
    assert await browser.text(figure("fees")) == f"{fees:.2f}" == "4.10"
    card = ".playbook[data-name='admin']"
    assert await browser.text(f"{card} h2") == "admin signals"  # the public record: 3 signals, none closed
    assert await browser.text(f"{card} tr[data-field='signals'] td.recent") == "3"
    assert await browser.text(f"{card} tr[data-field='closed'] td.all-time") == "0"
    await browser.screenshot("en-performance")

    await browser.tab("history")
    assert await browser.texts("table.trades tr[data-id] td:nth-child(2)") == ["BTC/USDT LONG", "ETH/USDT LONG"]
    assert await browser.text("table.trades tr.total td:nth-child(2)") == "+95.90"
    await browser.screenshot("en-history")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    await browser.run(
        browser.driver.execute_cdp_cmd,
        "Browser.setDownloadBehavior",
        {"behavior": "allow", "downloadPath": str(downloads)},
    )
    await browser.js("document.querySelector(\"input[name='symbol']\").value = 'eth/usdt'")
    await browser.click("button.apply")
    await browser.wait(
        lambda: (
            browser.driver.execute_script("return document.querySelectorAll('table.trades tr[data-id]').length") == 1
        )
    )
    assert await browser.text("table.trades tr.total td:nth-child(2)") == "+37.96"
    await browser.click("button.export")
    csv_file = downloads / "atra-history.csv"
    await browser.wait(csv_file.exists, what="the CSV download")
    lines = csv_file.read_text().strip().split("\n")
    assert len(lines) == 2 and ",ETH/USDT,long," in lines[1]

    await open_as(bot, browser, ADMIN, "en", LIGHT, "admin")  # not registered, but an admin
    assert await browser.text(figure("trading")) == "running"
    await browser.click("button.pause")
    await browser.click("button.pause")
    await browser.wait(lambda: "Trading is paused." in browser.driver.find_element("id", "toast").text)
    assert (await bot.services.admin.status()).paused is True
    await browser.wait_page("admin")
    assert await browser.text(figure("trading")) == "paused"
    await browser.click("button.resume")
    await eventually(lambda: _not_paused(bot))
    await browser.wait_page("admin")
    assert await browser.texts("table.users tr[data-id] td:first-child") == [str(ALICE)]
    await browser.screenshot("en-admin")

    await open_as(bot, browser, ALICE, "en", LIGHT, "home")  # the tabs an ordinary user sees
    assert await browser.texts("#tabs button") == ["Home", "Positions", "Signals", "Performance", "History"]


async def _not_paused(bot: RunningBot) -> bool:
    return not (await bot.services.admin.status()).paused


async def test_russian_dark_pages_and_confirm(
    opened: tuple[RunningBot, Browser], market: FakeMarketData, clock: ManualClock
) -> None:
    bot, browser = opened
    await subscribe(bot, ALICE)
    await bot.reply_to(BOB, "/start", language_code="ru")
    await publish(bot, (BOB,))
    await publish(bot, (BOB,), "/signal ETH/USDT long sl=45 tp=55,60")
    await trade_eth(bot, market, clock, BOB, 48.0)  # -40 gross, fees 1.00 + 0.96: -41.96
    await publish(bot, (BOB,), "/signal ETH/USDT short sl=51 tp=45,40")

    await open_as(bot, browser, BOB, "ru", DARK, "home")
    assert await browser.js("return document.documentElement.dataset.scheme") == "dark"
    assert await browser.js("return getComputedStyle(document.body).backgroundColor") == "rgb(23, 33, 43)"
    assert await browser.texts("#tabs button") == ["Главная", "Позиции", "Сигналы", "Результаты", "История"]
    assert await browser.text("[data-field='balance'] .label") == "Баланс"
    raw = await browser.js(f'return document.querySelector("{figure("balance")}").textContent')
    assert raw == "9\u00a0958,04"  # a no-break space between groups, a decimal comma, as in the chat
    assert await browser.text(figure("pnl_today")) == "-41,96"
    assert await browser.text(figure("max_drawdown_pct")) == "0,42%"  # 41.96 of 10 000

    await browser.tab("signals")
    btc = next(r.id for r in await bot.services.trading.active_signals(BOB) if r.symbol == "BTC/USDT")
    await browser.click(f".signal[data-id='{btc}'] button.confirm")
    await browser.wait(lambda: "Исполнено: BTC/USDT 9,95804 по 100." in browser.driver.find_element("id", "toast").text)
    assert [v.position.symbol for v in await bot.services.trading.positions_view(BOB)] == ["BTC/USDT"]
    await browser.wait_page("signals")
    await browser.screenshot("ru-signals")

    market.prices["BTC/USDT"] = 97.0
    await browser.tab("performance")
    assert await browser.text(".playbook[data-name='admin'] h2") == "сигналы администратора"
    for page in ("home", "positions", "performance", "history"):
        await browser.tab(page)
        await browser.screenshot(f"ru-{page}")
    await browser.tab("positions")
    assert await browser.text(figure("unrealized_pnl")) == "-29,87"  # -3 x 9.95804 (9 958.04 x 1 % / 10)
    assert await browser.text("button.close") == "Закрыть"
    assert await browser.text("button.break-even") == "Стоп в безубыток"
    assert await browser.js("return document.querySelectorAll('.position .executing').length") == 0  # 97: above 90
    market.prices["BTC/USDT"] = 88.0  # through the stop: the card says it is being executed
    await browser.tab("home")
    await browser.tab("positions")
    assert await browser.text(".position .executing") == "Цена дошла до стопа 90 или прошла его: стоп исполняется."

    await open_as(bot, browser, ADMIN, "ru", DARK, "admin")
    assert await browser.text(figure("trading")) == "идёт"
    assert "Лимиты риска" in await browser.texts("section h2")
    await browser.screenshot("ru-admin")
    assert (await bot.services.admin.status()).paused is False


async def test_with_telegrams_script_the_page_takes_initdata_and_theme_from_it(
    opened: tuple[RunningBot, Browser],
) -> None:
    """Inside Telegram, telegram-web-app.js sets window.Telegram.WebApp. A stand-in with the
    same fields (injected before the page's own scripts run) drives the page: no fragment."""
    bot, browser = opened
    await bot.reply_to(ALICE, "/start")
    init = sign_init_data(bot.fake.token, ALICE, language_code="en")
    stand_in = """
        window.__calls = [];
        window.Telegram = {WebApp: {
            initData: INIT_DATA, colorScheme: 'dark', themeParams: THEME,
            ready() { window.__calls.push('ready'); }, expand() { window.__calls.push('expand'); },
            onEvent(name) { window.__calls.push('on:' + name); },
            HapticFeedback: {notificationOccurred(kind) { window.__calls.push('haptic:' + kind); }},
        }};
    """.replace("INIT_DATA", json.dumps(init)).replace("THEME", json.dumps(DARK))
    script = await browser.run(
        browser.driver.execute_cdp_cmd, "Page.addScriptToEvaluateOnNewDocument", {"source": stand_in}
    )
    try:
        await browser.open(base_url(bot) + "/", "home")
        assert await browser.js("return window.__calls") == ["ready", "expand", "on:themeChanged"]
        assert await browser.js("return document.documentElement.dataset.scheme") == "dark"
        assert await browser.text(figure("balance")) == "10,000.00"
    finally:
        await browser.run(
            browser.driver.execute_cdp_cmd,
            "Page.removeScriptToEvaluateOnNewDocument",
            {"identifier": script["identifier"]},
        )

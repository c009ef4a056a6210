"""The dashboard's API against the real bot (paper mode, fake Bot API, hand-driven market):
the figures of the user's own account, Close/Confirm/Skip through the chat's services, and
the refusals: forged, expired or missing initData, another user's objects, replays.

Expected numbers are worked out by hand from the test's own setup: fee 0.1 %, no slippage,
risk 1 % of the balance to the stop, under the 25 % notional cap: published at 10 000, BTC
100 / (100 - 90) = 10 units and ETH 100 / (50 - 45) = 20 units; a confirmation never takes
more than the signal showed nor more than a fresh sizing on the balance then (BTC after the
ETH gain: min(10, 10 037.96 x 1 % / 10) = 10)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest

from core.clock import ManualClock
from core.models import PositionStatus, SignalState
from tests.bot.harness import ADMIN, ALICE, BOB, RunningBot
from tests.bot.test_flow import publish, subscribe
from tests.conftest import T0
from tests.fakes.market import FakeMarketData, candles_frame
from tests.webapp.api_client import DashboardClient
from tests.webapp.conftest import base_url
from tests.webapp.signing import sign_init_data, tma

HOUR = timedelta(hours=1)
ETH_NET = (52 - 50) * 20 - 50 * 20 * 0.001 - 52 * 20 * 0.001  # 40 - 1.00 - 1.04 = 37.96
BTC_QTY = min(10_000 * 0.01 / (100 - 90), (10_000 + ETH_NET) * 0.01 / (100 - 90))  # 10
BTC_FEE = 100 * BTC_QTY * 0.001  # the entry fee


@pytest.fixture
async def api(dashboard_bot: RunningBot, client: aiohttp.ClientSession) -> AsyncIterator[DashboardClient]:
    yield DashboardClient(client, base_url(dashboard_bot), dashboard_bot.fake.token)


def flip_last(init_data: str) -> str:
    """The same initData with the last hex digit of its hash changed."""
    return init_data[:-1] + ("0" if init_data[-1] != "0" else "1")


async def signals_for(bot: RunningBot, user: int) -> dict[str, int]:
    return {row.symbol: row.id for row in await bot.services.trading.active_signals(user)}


async def setup_trades(bot: RunningBot, market: FakeMarketData) -> dict[str, int]:
    """Alice and Bob get a BTC and an ETH signal; Alice trades ETH 50 -> 52 (closed, +37.96)
    and holds BTC from 100. Returns Alice's signal rows by symbol."""
    await subscribe(bot, ALICE, BOB)
    await publish(bot, (ALICE, BOB))
    await publish(bot, (ALICE, BOB), "/signal ETH/USDT long sl=45 tp=55,60")
    rows = await signals_for(bot, ALICE)
    trading = bot.services.trading
    eth = await trading.confirm(rows["ETH/USDT"], ALICE)
    market.prices["ETH/USDT"] = 52.0
    await trading.close_position(eth.position.id, ALICE)
    await trading.confirm(rows["BTC/USDT"], ALICE)
    return rows


async def alice_btc_position(bot: RunningBot) -> int:
    (view,) = await bot.services.trading.positions_view(ALICE)
    return view.position.id


async def test_summary_is_the_users_account_marked_to_market(
    dashboard_bot: RunningBot, api: DashboardClient, market: FakeMarketData
) -> None:
    await setup_trades(dashboard_bot, market)
    market.prices["BTC/USDT"] = 95.0
    status, s = await api.get("/api/summary", ALICE)
    assert status == 200, s
    balance = 10_000 + ETH_NET - BTC_FEE
    equity = balance + (95 - 100) * BTC_QTY
    assert s["balance"] == pytest.approx(balance) and s["balance"] == pytest.approx(10_036.96)
    assert s["equity"] == pytest.approx(equity) and s["unrealized_pnl"] == pytest.approx(-5 * BTC_QTY)
    assert s["open_risk"] == pytest.approx(10 * BTC_QTY)
    assert s["open_risk_pct"] == pytest.approx(10 * BTC_QTY / equity * 100)
    assert s["pnl_today"] == pytest.approx(37.96) and s["trades_today"] == 1
    assert s["pnl_30d"] == pytest.approx(37.96) and s["open_positions"] == 1
    assert [p["equity"] for p in s["curve"]] == pytest.approx([10_000.0, 10_037.96, equity])
    peak = 10_037.96
    assert s["max_drawdown_pct"] == pytest.approx((peak - equity) / peak * 100)
    assert s["curve"][-1]["drawdown_pct"] == pytest.approx((peak - equity) / peak * 100)
    assert [p["symbol"] for p in s["positions"]] == ["BTC/USDT"]

    status, bob = await api.get("/api/summary", BOB)  # Bob traded nothing: his own account only
    assert status == 200 and bob["balance"] == 10_000 and bob["positions"] == [] and bob["pnl_today"] == 0


async def test_pnl_windows_follow_the_market_clock(
    dashboard_bot: RunningBot, api: DashboardClient, market: FakeMarketData, clock: ManualClock
) -> None:
    await setup_trades(dashboard_bot, market)
    clock.advance(timedelta(days=2))
    _, s = await api.get("/api/summary", ALICE)
    assert s["pnl_today"] == 0 and s["trades_today"] == 0 and s["pnl_30d"] == pytest.approx(37.96)
    clock.advance(timedelta(days=29))
    _, s = await api.get("/api/summary", ALICE)
    assert s["pnl_30d"] == 0 and s["trades_30d"] == 0


async def test_close_acts_through_the_service_and_the_chat_hears_of_it(
    dashboard_bot: RunningBot, api: DashboardClient, market: FakeMarketData
) -> None:
    bot = dashboard_bot
    await setup_trades(bot, market)
    market.prices["BTC/USDT"] = 105.0
    status, body = await api.get("/api/positions", ALICE)
    assert status == 200
    (p,) = body["positions"]
    assert (p["entry"], p["stop"], p["tp1"], p["tp2"]) == (100, 90, 110, 120)
    assert p["quantity"] == pytest.approx(BTC_QTY)
    assert p["unrealized_pnl"] == pytest.approx(5 * BTC_QTY) and p["price"] == 105
    assert p["executing"] is None  # between the stop (90) and TP1 (110)
    market.prices["BTC/USDT"] = 89.0  # through the stop: said to be executing, as /positions says
    assert (await api.get("/api/positions", ALICE))[1]["positions"][0]["executing"] == "stop_loss"
    market.prices["BTC/USDT"] = 105.0
    assert body["charts"]["BTC/USDT"]["close"] == [100.0]  # the fixture's one closed candle

    before = len(bot.fake.sent(ALICE))
    status, closed = await api.act(f"/api/positions/{p['id']}/close", ALICE)
    assert status == 200, closed
    net = 5 * BTC_QTY - BTC_FEE - 105 * BTC_QTY * 0.001  # 50 - 1.00 - 1.05 = 47.95
    assert closed["exit_price"] == 105 and closed["pnl"] == pytest.approx(net)
    stored = await bot.services.trading.positions_view(ALICE)
    assert stored == []
    await bot.fake.wait_for(lambda: len(bot.fake.sent(ALICE)) > before)
    text = bot.fake.last_text(ALICE) or ""
    assert "BTC/USDT LONG closed (manual) @ 105" in text and f"+{net:.2f}" == "+47.95" and "+47.95" in text

    status, again = await api.act(f"/api/positions/{p['id']}/close", ALICE)
    assert status == 409 and again["error"] == "position_already_closed" and again["message"]


async def test_break_even_moves_the_stop_to_the_entry_through_the_service(
    dashboard_bot: RunningBot, api: DashboardClient, market: FakeMarketData
) -> None:
    bot = dashboard_bot
    await setup_trades(bot, market)  # Alice holds BTC from 100 with the stop at 90
    position = await alice_btc_position(bot)
    market.prices["BTC/USDT"] = 105.0  # past the entry: a stop at 100 would rest

    status, body = await api.act(f"/api/positions/{position}/break-even", BOB)
    assert status == 404 and body["error"] == "position_not_found"
    (view,) = await bot.services.trading.positions_view(ALICE)
    assert view.position.stop_price == 90  # Bob's request changed nothing

    status, moved = await api.act(f"/api/positions/{position}/break-even", ALICE)
    assert status == 200, moved
    assert (moved["position_id"], moved["symbol"], moved["stop"]) == (position, "BTC/USDT", 100)
    (view,) = await bot.services.trading.positions_view(ALICE)
    assert view.position.stop_price == 100 and view.position.status is PositionStatus.OPEN
    _, listed = await api.get("/api/positions", ALICE)
    assert listed["positions"][0]["stop"] == 100

    status, again = await api.act(f"/api/positions/{position}/break-even", ALICE)
    assert status == 409 and again["error"] == "break_even_already"
    assert again["message"] == "The stop is already at or past the entry."


async def test_break_even_before_the_price_passes_the_entry_is_refused(
    dashboard_bot: RunningBot, api: DashboardClient, market: FakeMarketData
) -> None:
    bot = dashboard_bot
    await setup_trades(bot, market)
    position = await alice_btc_position(bot)
    market.prices["BTC/USDT"] = 99.0  # under the entry of a long: a stop at 100 would fill at once
    status, body = await api.act(f"/api/positions/{position}/break-even", ALICE)
    assert status == 409 and body["error"] == "break_even_not_past_entry" and "99" in body["message"]
    (view,) = await bot.services.trading.positions_view(ALICE)
    assert view.position.stop_price == 90


async def test_confirm_and_skip_then_recent_outcomes(
    dashboard_bot: RunningBot, api: DashboardClient, market: FakeMarketData
) -> None:
    bot = dashboard_bot
    await subscribe(bot, ALICE)
    await publish(bot, (ALICE,))
    await publish(bot, (ALICE,), "/signal ETH/USDT long sl=45 tp=55,60")
    rows = await signals_for(bot, ALICE)
    status, listed = await api.get("/api/signals", ALICE)
    assert status == 200 and {s["id"] for s in listed["active"]} == set(rows.values())
    assert all(s["state"] == "pending" for s in listed["active"])

    status, filled = await api.act(f"/api/signals/{rows['BTC/USDT']}/confirm", ALICE)
    assert status == 200, filled
    assert (filled["symbol"], filled["quantity"], filled["price"], filled["fee"]) == ("BTC/USDT", 10, 100, 1.0)
    status, skipped = await api.act(f"/api/signals/{rows['ETH/USDT']}/skip", ALICE)
    assert status == 200 and skipped["state"] == "skipped"

    (view,) = await bot.services.trading.positions_view(ALICE)
    assert view.position.symbol == "BTC/USDT" and view.position.quantity == 10
    _, listed = await api.get("/api/signals", ALICE)
    assert listed["active"] == []
    outcomes = {r["symbol"]: r for r in listed["recent"]}
    assert outcomes["BTC/USDT"]["state"] == "executed" and outcomes["BTC/USDT"]["position"]["status"] == "open"
    assert outcomes["ETH/USDT"]["state"] == "skipped" and outcomes["ETH/USDT"]["position"] is None

    status, twice = await api.act(f"/api/signals/{rows['BTC/USDT']}/confirm", ALICE)
    assert status == 409 and twice["error"] == "signal_state_executed"


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda token, user: {}, id="no-header"),
        pytest.param(lambda token, user: {"Authorization": "Bearer x"}, id="other-scheme"),
        pytest.param(lambda token, user: tma(flip_last(sign_init_data(token, user))), id="forged-hash"),
        pytest.param(
            lambda token, user: tma(sign_init_data("987654321:AAnotherBotsTokenXXXXXXXXXXXXXXXXX", user)),
            id="other-bot",
        ),
        pytest.param(
            lambda token, user: tma(sign_init_data(token, user, auth_date=time.time() - 86_401)),
            id="expired",
        ),
    ],
)
async def test_bad_init_data_changes_nothing(
    dashboard_bot: RunningBot, api: DashboardClient, market: FakeMarketData, forge: object
) -> None:
    bot = dashboard_bot
    await subscribe(bot, ALICE)
    await publish(bot, (ALICE,))
    await publish(bot, (ALICE,), "/signal ETH/USDT long sl=45 tp=55,60")
    rows = await signals_for(bot, ALICE)
    await bot.services.trading.confirm(rows["ETH/USDT"], ALICE)
    position = (await bot.services.trading.positions_view(ALICE))[0].position.id
    market.prices["ETH/USDT"] = 52.0  # past the entry (50): a genuine break-even would move the stop
    headers = forge(bot.fake.token, ALICE)  # type: ignore[operator]

    assert (await api.get("/api/summary", headers=headers))[0] == 401
    assert (await api.get("/api/nonce", headers=headers))[0] == 401
    good_nonce = await api.nonce(api.headers(ALICE))  # even with a genuine nonce beside it
    paths = [f"/api/signals/{rows['BTC/USDT']}/confirm", f"/api/positions/{position}/close"]
    for path in paths + [f"/api/positions/{position}/break-even"]:
        status, body = await api.post(path, headers, nonce=good_nonce)
        assert status == 401 and body["error"] == "unauthorized", body
    status, _ = await api.post("/api/admin/pause", headers, nonce=good_nonce)
    assert status == 401

    row = await bot.services.trading.active_signals(ALICE)
    assert {r.id: r.state for r in row}[rows["BTC/USDT"]] is SignalState.PENDING
    (view,) = await bot.services.trading.positions_view(ALICE)
    assert view.position.status is PositionStatus.OPEN and view.position.stop_price == 45
    assert (await bot.services.admin.status()).paused is False


async def test_another_users_objects_are_refused_and_nothing_changes(
    dashboard_bot: RunningBot, api: DashboardClient, market: FakeMarketData
) -> None:
    bot = dashboard_bot
    alice_rows = await setup_trades(bot, market)
    await publish(bot, (ALICE, BOB), "/signal ETH/USDT long sl=45 tp=55,60")
    alice_pending = (await signals_for(bot, ALICE))["ETH/USDT"]
    position = await alice_btc_position(bot)

    status, body = await api.act(f"/api/positions/{position}/close", BOB)
    assert status == 404 and body["error"] == "position_not_found"
    status, body = await api.act(f"/api/signals/{alice_pending}/confirm", BOB)
    assert status == 404 and body["error"] == "signal_not_found"
    status, body = await api.act(f"/api/signals/{alice_pending}/skip", BOB)
    assert status == 404 and body["error"] == "signal_not_found"
    assert (await api.get("/api/positions", BOB))[1]["positions"] == []
    assert alice_rows["BTC/USDT"] not in {s["id"] for s in (await api.get("/api/signals", BOB))[1]["recent"]}
    assert (await api.get("/api/history", BOB))[1]["trades"] == []

    assert await alice_btc_position(bot) == position  # still open
    assert alice_pending in (await signals_for(bot, ALICE)).values()  # still pending


async def test_replayed_or_unsigned_for_one_use_requests_are_refused(
    dashboard_bot: RunningBot, api: DashboardClient
) -> None:
    bot = dashboard_bot
    await subscribe(bot, ALICE)
    await publish(bot, (ALICE,))
    await publish(bot, (ALICE,), "/signal ETH/USDT long sl=45 tp=55,60")
    rows = await signals_for(bot, ALICE)
    headers = api.headers(ALICE)

    status, body = await api.post(f"/api/signals/{rows['BTC/USDT']}/skip", headers)
    assert status == 428 and body["error"] == "nonce_required"
    nonce = await api.nonce(headers)
    assert (await api.post(f"/api/signals/{rows['BTC/USDT']}/skip", headers, nonce=nonce))[0] == 200
    # The same request again, byte for byte, aimed at another row: refused before it acts.
    status, body = await api.post(f"/api/signals/{rows['ETH/USDT']}/skip", headers, nonce=nonce)
    assert status == 409 and body["error"] == "replayed"
    status, body = await api.post(f"/api/signals/{rows['ETH/USDT']}/confirm", headers, nonce="made-up")
    assert status == 409 and body["error"] == "replayed"
    bobs = await api.nonce(api.headers(BOB))
    status, body = await api.post(f"/api/signals/{rows['ETH/USDT']}/confirm", headers, nonce=bobs)
    assert status == 409 and body["error"] == "replayed"
    other_session = tma(sign_init_data(bot.fake.token, ALICE, auth_date=time.time() - 60))
    status, body = await api.post(f"/api/signals/{rows['ETH/USDT']}/confirm", other_session, nonce=nonce)
    assert status == 409

    assert {r.id for r in await bot.services.trading.active_signals(ALICE)} == {rows["ETH/USDT"]}


async def test_break_even_without_a_fresh_nonce_changes_nothing(
    dashboard_bot: RunningBot, api: DashboardClient, market: FakeMarketData
) -> None:
    bot = dashboard_bot
    await setup_trades(bot, market)
    position = await alice_btc_position(bot)
    market.prices["BTC/USDT"] = 105.0
    headers = api.headers(ALICE)
    path = f"/api/positions/{position}/break-even"
    status, body = await api.post(path, headers)
    assert status == 428 and body["error"] == "nonce_required"
    nonce = await api.nonce(headers)
    assert (await api.post("/api/signals/999/skip", headers, nonce=nonce))[0] == 404  # spends the nonce
    status, body = await api.post(path, headers, nonce=nonce)
    assert status == 409 and body["error"] == "replayed"
    status, body = await api.post(path, headers, nonce="made-up")
    assert status == 409 and body["error"] == "replayed"
    (view,) = await bot.services.trading.positions_view(ALICE)
    assert view.position.stop_price == 90


async def test_admin_routes_check_admin_ids_on_the_server(dashboard_bot: RunningBot, api: DashboardClient) -> None:
    bot = dashboard_bot
    await subscribe(bot, ALICE)
    status, body = await api.get("/api/admin/overview", ALICE)
    assert status == 403 and body["error"] == "admin_only" and "administrators" in body["message"]
    assert (await api.act("/api/admin/pause", ALICE))[0] == 403
    assert (await api.act("/api/admin/limits", ALICE, {"name": "max_open_positions", "value": "9"}))[0] == 403
    assert (await bot.services.admin.status()).paused is False
    assert (await bot.services.admin.limits()).max_open_positions == 3

    status, overview = await api.get("/api/admin/overview", ADMIN)
    assert status == 200
    assert overview["status"]["paused"] is False and overview["status"]["users"] == 1
    assert [u["id"] for u in overview["users"]] == [ALICE] and overview["users"][0]["balance"] == 10_000
    assert overview["limits"]["max_open_positions"] == 3
    assert overview["health"]["figures"]["outbox_depth"] == 0 and overview["health"]["failed"] == 0
    assert (await api.act("/api/admin/pause", ADMIN))[1] == {"paused": True}
    assert (await bot.services.admin.status()).paused is True
    assert (await api.act("/api/admin/resume", ADMIN))[1] == {"paused": False}
    assert (await api.act("/api/admin/pause", ADMIN))[0] == 200  # pause again: a new nonce, a new request
    assert (await bot.services.admin.status()).paused is True

    status, body = await api.act("/api/admin/limits", ADMIN, {"name": "max_open_positions", "value": "5"})
    assert status == 200 and body["limits"]["max_open_positions"] == 5
    status, body = await api.act("/api/admin/limits", ADMIN, {"name": "max_open_positions", "value": "lots"})
    assert status == 409 and body["error"] == "limit_not_number" and "lots" in body["message"]
    status, body = await api.act("/api/admin/limits", ADMIN, ["not", "an", "object"])
    assert status == 409 and body["error"] == "setlimit_usage"
    assert (await bot.services.admin.limits()).max_open_positions == 5


async def test_history_filters_and_csv(
    dashboard_bot: RunningBot, api: DashboardClient, market: FakeMarketData, clock: ManualClock
) -> None:
    bot = dashboard_bot
    await setup_trades(bot, market)  # ETH closed on 2024-03-01
    clock.advance(timedelta(days=3))
    market.prices["BTC/USDT"] = 110.0 - 0.5  # just under TP1: closed by hand on 2024-03-04
    await bot.services.trading.close_position(await alice_btc_position(bot), ALICE)
    btc_net = 9.5 * BTC_QTY - BTC_FEE - 109.5 * BTC_QTY * 0.001

    _, everything = await api.get("/api/history", ALICE)
    assert [t["symbol"] for t in everything["trades"]] == ["BTC/USDT", "ETH/USDT"]  # newest first
    assert [t["pnl"] for t in everything["trades"]] == pytest.approx([btc_net, 37.96])
    _, eth = await api.get("/api/history?symbol=eth/usdt", ALICE)
    assert [t["symbol"] for t in eth["trades"]] == ["ETH/USDT"]
    _, march_first = await api.get("/api/history?from=2024-03-01&to=2024-03-01", ALICE)
    assert [t["symbol"] for t in march_first["trades"]] == ["ETH/USDT"]
    _, later = await api.get("/api/history?from=2024-03-02", ALICE)
    assert [t["symbol"] for t in later["trades"]] == ["BTC/USDT"]
    for bad in ("?symbol=BTC;DROP", "?from=yesterday", "?to=2024-13-01"):
        status, body = await api.get("/api/history" + bad, ALICE)
        assert status == 400 and body["error"] == "bad_filter", bad

    status, text = await api.get("/api/history.csv?symbol=BTC/USDT", ALICE)
    assert status == 200
    header, row, *rest = text.strip().split("\n")
    assert header.split(",")[:3] == ["id", "symbol", "side"] and rest == []
    cells = dict(zip(header.split(","), row.split(","), strict=True))
    assert cells["symbol"] == "BTC/USDT" and cells["exit_reason"] == "manual"
    assert float(cells["pnl"]) == pytest.approx(btc_net) and float(cells["fees"]) == pytest.approx(
        BTC_FEE + 109.5 * BTC_QTY * 0.001
    )


async def test_performance_is_the_users_own_record_and_the_track_record(
    dashboard_bot: RunningBot, api: DashboardClient, market: FakeMarketData
) -> None:
    bot = dashboard_bot
    await setup_trades(bot, market)
    status, body = await api.get("/api/performance", ALICE)
    assert status == 200 and body["window_days"] == 30
    own = body["own"]
    assert own["n_trades"] == 1 and own["win_rate"] == 100 and own["realized_pnl"] == pytest.approx(37.96)
    assert own["fees"] == pytest.approx(2.04) and own["profit_factor"] is None  # no loss: infinite, sent as null
    (admin,) = body["playbooks"]  # both signals were the admin's: one playbook, none closed yet
    assert admin["name"] == "admin" and admin["on_probation"] is False
    assert (admin["recent"]["signals"], admin["recent"]["closed"], admin["recent"]["avg_r"]) == (2, 0, None)

    # The BTC signal's shadow (one unit) runs 100 -> half at TP1 110, half at TP2 120: +15 gross,
    # fees 0.100 + 0.055 + 0.060 -> +14.785 on 10 risked: +1.4785 R, +14.785 % of the entry notional.
    market.add_candles("BTC/USDT", candles_frame(T0, [(100, 111, 99, 108), (108, 121, 107, 120)], HOUR))
    market.add_candles("ETH/USDT", candles_frame(T0, [(52, 53, 51, 52), (52, 53, 51, 52)], HOUR))  # ETH's stays open
    await bot.services.track_record.advance()
    _, body = await api.get("/api/performance", BOB)  # the same public record for every user
    (admin,) = body["playbooks"]
    for window in ("recent", "all_time"):
        record = admin[window]
        assert (record["signals"], record["closed"], record["open_now"], record["win_pct"]) == (2, 1, 1, 100)
        assert record["avg_r"] == pytest.approx(1.4785) and record["expectancy_pct"] == pytest.approx(14.785)
        assert record["best_r"] == record["worst_r"] == pytest.approx(1.4785)
        assert record["expectancy_interval"] is None  # one closed signal: no interval
    assert body["own"]["n_trades"] == 0  # Bob's own record: he traded nothing


async def test_a_signed_user_who_never_started_the_bot(dashboard_bot: RunningBot, api: DashboardClient) -> None:
    status, me = await api.get("/api/me", 555)
    assert status == 200 and me == {
        "user_id": 555,
        "first_name": "Alice",
        "registered": False,
        "language": "en",
        "admin": False,
        "mode": "paper",
        "quote": "USDT",
    }
    ru = {"Authorization": f"tma {sign_init_data(dashboard_bot.fake.token, 555, language_code='ru')}"}
    status, body = await api.get("/api/summary", headers=ru)
    assert status == 403 and body["error"] == "not_registered" and "/start" in body["message"]
    assert "зарегистрированы" in body["message"]  # in the language Telegram reports


async def test_rate_limits_answer_429_with_retry_after(dashboard_bot: RunningBot, api: DashboardClient) -> None:
    await subscribe(dashboard_bot, ALICE)
    headers = api.headers(ALICE)
    statuses = [(await api.get("/api/me", headers=headers))[0] for _ in range(100)]
    assert statuses[:40] == [200] * 40 and 429 in statuses  # a burst of 40, then 5 per second
    async with api.session.get(api.base + "/api/me", headers=headers) as response:
        assert response.status == 429 and int(response.headers["Retry-After"]) >= 1
    assert (await api.get("/api/me", BOB))[0] == 200  # per user
    forged = tma(sign_init_data("987654321:AAnotherBotsTokenXXXXXXXXXXXXXXXXX", BOB))
    failures = [(await api.get("/api/me", headers=forged))[0] for _ in range(30)]
    assert failures[:10] == [401] * 10 and 429 in failures  # failed sign-ins: 10, then 1 per second

"""Shadow positions of the track record, worked by hand: one unit per signal, entry and stops
through the paper fill model (0.05 % slippage against the trader, 0.1 % fee per fill), targets
at their price, the exit rules of core/rules/exits.py. A restart continues each shadow from the
last candle it applied."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from core.clock import ManualClock
from core.models import ExitReason, Limits, Side, SignalDraft, SignalLevels
from core.records import ShadowPosition, ShadowStatus
from core.rules.exits import ManagementRules
from core.rules.fills import FillModel
from core.trading.track_record import RecordConfig, TrackRecord
from db.database import Database
from db.signals import SignalRepository
from db.system import SystemRepository
from db.track_record import ShadowRepository
from tests.conftest import T0
from tests.fakes.market import FakeMarketData, candles_frame

HOUR = timedelta(hours=1)
FILLS = FillModel(fee_rate=0.001, slippage_pct=0.05)


def record(db: Database, clock: ManualClock, market: FakeMarketData, candles: int = 500) -> TrackRecord:
    return TrackRecord(
        config=RecordConfig(fills=FILLS, rules=ManagementRules(), admin_ids=frozenset({1}), candles=candles),
        clock=clock,
        market_data=market,
        shadows=ShadowRepository(db),
        system=SystemRepository(db, clock),
    )


async def store_signal(
    db: Database,
    side: Side,
    levels: tuple[float, float, float, float],
    candle_time: datetime = T0,
    source: str = "engine",
    created: datetime = T0 + HOUR,
    symbol: str = "BTC/USDT",
) -> int:
    """A published signal nobody received (fan-out to no user): the track record follows it all the same."""
    draft = SignalDraft(
        symbol=symbol, timeframe="1h", levels=SignalLevels(side, *levels), candle_time=candle_time, source=source,
        meta={"strategy": "hybrid"} if source == "engine" else {},
    )  # fmt: skip
    rows = await SignalRepository(db).publish(draft, [], created, created + HOUR, lambda row: None)  # type: ignore[arg-type,return-value]
    assert rows == []
    signal = await db.fetchone("SELECT MAX(id) FROM signals")
    return int(signal[0])


async def shadow_of(db: Database, signal_id: int) -> ShadowPosition:
    shadow = await ShadowRepository(db).get(signal_id)
    assert shadow is not None
    return shadow


def market_with(*rows: tuple[float, float, float, float], start: datetime = T0 + HOUR) -> FakeMarketData:
    """The decision candle at T0, then `rows` from `start`."""
    market = FakeMarketData({"BTC/USDT": 100.0})
    market.add_candles("BTC/USDT", candles_frame(T0, [(100, 100, 100, 100)], HOUR))
    if rows:
        market.add_candles("BTC/USDT", candles_frame(start, list(rows), HOUR))
    return market


async def test_a_long_stopped_out(db: Database, clock: ManualClock) -> None:
    signal = await store_signal(db, Side.LONG, (100, 95, 107.5, 112.5))
    market = market_with((100, 101, 94, 95))  # the low 94 crosses the stop 95
    await record(db, clock, market).advance()
    shadow = await shadow_of(db, signal)
    p = shadow.position
    # entry 100 * 1.0005 = 100.05, fee 0.10005; stop 95 * 0.9995 = 94.9525, fee 0.0949525
    assert p.entry_price == pytest.approx(100.05) and p.exit_price == pytest.approx(94.9525)
    net = (94.9525 - 100.05) - 0.10005 - 0.0949525  # -5.2925025
    assert p.net_pnl == pytest.approx(net) and net == pytest.approx(-5.2925025)
    assert shadow.status is ShadowStatus.CLOSED and p.exit_reason is ExitReason.STOP_LOSS
    assert shadow.r_multiple == pytest.approx(-5.2925025 / 5.05)  # risk 100.05 - 95 = 5.05 -> -1.048
    assert shadow.return_pct == pytest.approx(-5.2925025 / 100.05 * 100)  # -5.29 %
    assert p.closed_at == T0 + 2 * HOUR  # the close of the candle that stopped it
    assert shadow.playbook == "hybrid" and shadow.source == "engine"


async def test_tp1_then_break_even(db: Database, clock: ManualClock) -> None:
    signal = await store_signal(db, Side.LONG, (100, 95, 107.5, 112.5))
    market = market_with((100, 108, 99, 106), (106, 107, 99, 100))
    await record(db, clock, market).advance()
    shadow = await shadow_of(db, signal)
    p = shadow.position
    # TP1: half at 107.5 -> +3.725, fee 0.05375; the stop moves to the entry fill 100.05.
    # Next candle's low 99 takes the rest at 100.05 * 0.9995 = 99.999975 -> -0.0250125, fee 0.0499999875.
    net = 3.725 - 0.0250125 - (0.10005 + 0.05375 + 0.0499999875)
    assert net == pytest.approx(3.4961875125)
    assert p.net_pnl == pytest.approx(net) and p.exit_reason is ExitReason.BREAK_EVEN and p.tp1_done
    assert shadow.r_multiple == pytest.approx(3.4961875125 / 5.05)  # +0.692 R
    assert p.fees == pytest.approx(0.2037999875) and p.closed_at == T0 + 3 * HOUR


async def test_a_short_through_tp1_to_tp2(db: Database, clock: ManualClock) -> None:
    signal = await store_signal(db, Side.SHORT, (200, 210, 185, 175))
    market = FakeMarketData({"BTC/USDT": 200.0})
    market.add_candles(
        "BTC/USDT", candles_frame(T0, [(200, 200, 200, 200), (200, 201, 184, 186), (186, 190, 174, 176)], HOUR)
    )
    await record(db, clock, market).advance()
    shadow = await shadow_of(db, signal)
    p = shadow.position
    # sold at 200 * 0.9995 = 199.9 (fee 0.1999); half bought back at 185 (+7.45, fee 0.0925),
    # the rest at 175 (+12.45, fee 0.0875): net 19.9 - 0.3799 = 19.5201 on a risk of 210 - 199.9 = 10.1
    assert p.entry_price == pytest.approx(199.9) and p.exit_reason is ExitReason.TP2 and p.exit_price == 175
    assert p.net_pnl == pytest.approx(19.5201)
    assert shadow.r_multiple == pytest.approx(19.5201 / 10.1)  # +1.93 R
    assert shadow.return_pct == pytest.approx(19.5201 / 199.9 * 100)


async def test_a_gap_through_the_stop_fills_at_the_open(db: Database, clock: ManualClock) -> None:
    signal = await store_signal(db, Side.LONG, (100, 95, 107.5, 112.5))
    market = market_with((90, 92, 88, 91))  # opens 5 below the stop
    await record(db, clock, market).advance()
    p = (shadow := await shadow_of(db, signal)).position
    # 90 * 0.9995 = 89.955: -10.095 gross, fees 0.10005 + 0.089955
    assert p.exit_price == pytest.approx(89.955) and p.net_pnl == pytest.approx(-10.285005)
    assert shadow.r_multiple == pytest.approx(-10.285005 / 5.05)  # -2.04 R: a gap loses more than 1 R


async def test_a_gap_over_both_targets_fills_both_at_the_open(db: Database, clock: ManualClock) -> None:
    signal = await store_signal(db, Side.LONG, (100, 95, 107.5, 112.5))
    market = market_with((115, 116, 114, 115))
    await record(db, clock, market).advance()
    p = (shadow := await shadow_of(db, signal)).position
    # both halves at the open 115: +14.95 gross, fees 0.10005 + 2 * 0.0575
    assert p.exit_reason is ExitReason.TP2 and p.net_pnl == pytest.approx(14.95 - 0.21505)
    assert shadow.r_multiple == pytest.approx(14.73495 / 5.05)


async def test_an_admin_signal_counts_from_the_candle_it_was_published_in(db: Database, clock: ManualClock) -> None:
    # Published at 13:20: the candle that opened at 13:00 is the first one it lives through.
    signal = await store_signal(
        db, Side.LONG, (100, 95, 107.5, 112.5), source="manual", candle_time=T0 + 80 * timedelta(minutes=1),
        created=T0 + 80 * timedelta(minutes=1),
    )  # fmt: skip
    market = market_with((100, 101, 94, 95))  # the 13:00 candle
    await record(db, clock, market).advance()
    shadow = await shadow_of(db, signal)
    assert shadow.playbook == "admin" and shadow.status is ShadowStatus.CLOSED
    assert shadow.position.exit_reason is ExitReason.STOP_LOSS


async def test_a_restart_continues_from_the_last_candle_applied(tmp_path: Path, clock: ManualClock) -> None:
    path = tmp_path / "atra.sqlite3"
    market = market_with((100, 108, 99, 106))
    first = Database(path)
    await first.connect()
    signal = await store_signal(first, Side.LONG, (100, 95, 107.5, 112.5))
    assert await record(first, clock, market).advance() == 1
    half = await shadow_of(first, signal)
    assert half.status is ShadowStatus.OPEN and half.position.tp1_done and half.position.quantity == 0.5
    await first.close()

    market.add_candles("BTC/USDT", candles_frame(T0 + 2 * HOUR, [(106, 107, 99, 100)], HOUR))
    again = Database(path)
    await again.connect()
    assert await record(again, clock, market).advance() == 1
    shadow = await shadow_of(again, signal)
    # the same outcome as in one run: TP1 is not taken twice, break-even closes the rest
    assert shadow.position.net_pnl == pytest.approx(3.4961875125)
    assert shadow.r_multiple == pytest.approx(3.4961875125 / 5.05)
    assert await record(again, clock, market).advance() == 0  # nothing new: nothing changes
    assert (await again.fetchone("SELECT COUNT(*) FROM shadow_positions"))[0] == 1
    await again.close()


async def test_a_shadow_whose_candles_are_gone_is_not_counted(db: Database, clock: ManualClock) -> None:
    signal = await store_signal(db, Side.LONG, (100, 95, 107.5, 112.5))
    market = market_with((100, 101, 99, 100), (100, 101, 99, 100), (100, 101, 99, 100), start=T0 + 5 * HOUR)
    await record(db, clock, market, candles=3).advance()  # the 3 candles fetched start 4 h after the last seen
    assert (await shadow_of(db, signal)).status is ShadowStatus.VOID
    assert (await record(db, clock, market).performance()).playbooks == []


async def test_probation_state_changes_alert_the_admins_once(db: Database, clock: ManualClock) -> None:
    system = SystemRepository(db, clock)
    await system.save_limits(Limits(probation_trades=2, probation_min_r=0.0), 1, "probation_trades")
    market = market_with((100, 101, 94, 95))
    for hour in (0, 1):  # two engine signals on consecutive candles that both stop out
        await store_signal(
            db, Side.LONG, (100, 95, 107.5, 112.5), candle_time=T0 - hour * HOUR, created=T0 + hour * HOUR
        )
    tracker = record(db, clock, market)
    await tracker.advance()
    await tracker.advance()
    alerts = await db.fetchall("SELECT user_id, payload FROM outbox WHERE kind = 'alert'")
    assert len(alerts) == 1 and "probation_on_mark_admin" in alerts[0]["payload"]
    assert (await tracker.brief("hybrid")).on_probation and not (await tracker.brief("hybrid")).held
    await system.save_limits(Limits(probation_trades=2, probation_min_r=-1.5, probation_hold=1), 1, "probation_min_r")
    await tracker.advance()  # -1.048 R and -1.048 R average above -1.5: off probation
    alerts = await db.fetchall("SELECT payload FROM outbox WHERE kind = 'alert' ORDER BY id")
    assert len(alerts) == 2 and "probation_off_admin" in alerts[1]["payload"]
    assert not (await tracker.brief("hybrid")).on_probation

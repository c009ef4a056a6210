"""Pictures: the signal chart and the equity curve are real PNGs; a signal's chart is
rendered off the event loop once per language however many recipients, and uploaded once."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

import pandas as pd

from bot.charts import SignalCharts, render_equity_chart, render_signal_chart
from core.clock import ManualClock
from core.errors import ExchangeUnavailable
from core.events import SignalIssued
from core.models import Side, SignalDraft, SignalLevels
from core.precision import MarketPrecision
from db.database import Database
from db.outbox import ChartRepository
from db.signals import SignalRepository
from tests.conftest import T0
from tests.fakes.market import FakeMarketData, candles_frame

PNG = b"\x89PNG\r\n\x1a\n"
HOUR = timedelta(hours=1)


def signal(symbol: str = "BTC/USDT") -> SignalIssued:
    return SignalIssued(
        user_id=1,
        user_signal_id=7,
        symbol=symbol,
        timeframe="1h",
        side="long",
        entry=100.0,
        stop=95.0,
        tp1=107.5,
        tp2=112.5,
        quantity=2.0,
        expires_at=datetime(2024, 3, 1, 13, tzinfo=UTC),
        source="engine",
        strength=0.8,
        regime="trend",
    )


def market() -> FakeMarketData:
    data = FakeMarketData({"BTC/USDT": 100.0, "ETH/USDT": 50.0})
    rows = [(97 + i * 0.05, 98 + i * 0.05, 96.5 + i * 0.05, 97.5 + i * 0.05) for i in range(80)]
    data.add_candles("BTC/USDT", candles_frame(T0 - 80 * HOUR, rows, HOUR))
    return data


def test_signal_chart_is_a_png_of_the_recent_candles() -> None:
    frame = market().frames["BTC/USDT"]
    png = render_signal_chart(frame, signal(), "ru")
    assert png.startswith(PNG) and len(png) > 10_000


def test_equity_chart_is_a_png() -> None:
    times = [T0 + i * HOUR for i in range(5)]
    png = render_equity_chart(times, [10_000, 10_150, 9_900, 10_300, 10_250], "en")
    assert png.startswith(PNG)


class Recorder:
    def __init__(self) -> None:
        self.threads: list[str] = []

    def __call__(
        self, candles: pd.DataFrame, event: SignalIssued, language: str, market: MarketPrecision | None
    ) -> bytes:
        self.threads.append(threading.current_thread().name)
        return render_signal_chart(candles, event, language, market)


async def stored_signal(db: Database) -> int:
    draft = SignalDraft("BTC/USDT", "1h", SignalLevels(Side.LONG, 100, 95, 107.5, 112.5), T0)
    await SignalRepository(db).publish(draft, [], T0, T0 + HOUR, lambda row: signal())
    return 1


async def test_rendered_off_the_loop_once_per_language_and_uploaded_once(db: Database) -> None:
    await stored_signal(db)
    recorder = Recorder()
    charts = SignalCharts(market(), ChartRepository(db), ManualClock(T0), render=recorder)
    uploads: list[str] = []

    async def send(recipient: int, language: str) -> str:
        async with charts.photo(1, language, signal()) as chart:
            assert chart is not None
            if chart.file_id is not None:
                return chart.file_id
            assert chart.png is not None and chart.png.startswith(PNG)
            await asyncio.sleep(0.01)  # the upload; everyone else for this language waits for it
            uploads.append(f"file-{language}")
            chart.uploaded(f"file-{language}")
            return f"file-{language}"

    sent = await asyncio.gather(*(send(i, "en" if i % 3 else "ru") for i in range(60)))
    assert set(sent) == {"file-en", "file-ru"} and sorted(uploads) == ["file-en", "file-ru"]
    assert len(recorder.threads) == 2 and threading.main_thread().name not in recorder.threads
    # A restart keeps the file ids: nothing is rendered or uploaded again.
    again = SignalCharts(market(), ChartRepository(db), ManualClock(T0), render=recorder)
    async with again.photo(1, "en", signal()) as chart:
        assert chart is not None and chart.file_id == "file-en"
    assert len(recorder.threads) == 2


async def test_no_candles_or_no_market_means_no_chart(db: Database) -> None:
    class Down(FakeMarketData):
        async def candles(self, symbol: str, timeframe: str, limit: int) -> pd.DataFrame:
            raise ExchangeUnavailable("down")

    for data in (market(), Down({"BTC/USDT": 100.0})):
        charts = SignalCharts(data, ChartRepository(db), ManualClock(T0))
        async with charts.photo(2, "en", signal("ETH/USDT" if data.frames else "BTC/USDT")) as chart:
            assert chart is None


async def test_a_picture_telegram_refuses_is_not_offered_again(db: Database) -> None:
    charts = SignalCharts(market(), ChartRepository(db), ManualClock(T0))
    async with charts.photo(3, "en", signal()) as chart:
        assert chart is not None and chart.png is not None
        chart.refuse()
    async with charts.photo(3, "en", signal()) as chart:
        assert chart is None

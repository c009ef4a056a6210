"""Pictures: a signal's candlestick chart with its levels, a user's equity curve.

Rendering is CPU work (about 0.1 s): it runs in a worker thread (`asyncio.to_thread`),
never on the event loop, and uses matplotlib's object API (a Figure per picture, the Agg
canvas, no pyplot state), which is safe off the main thread.

`SignalCharts` renders a signal's chart once per language, uploads it with the first
recipient's message and sends Telegram's file_id to everyone else (the file id is kept
in the database, so a restart in the middle of a fan-out uploads nothing again).
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from bot.i18n import t
from bot.i18n.format import compact, day_time, money, price
from core.errors import RetryableExchangeError, UnknownSymbol
from core.events import SignalIssued
from core.ports import Clock, MarketData
from core.precision import MarketPrecision
from db.outbox import ChartRepository

log = logging.getLogger(__name__)

CHART_CANDLES = 60
_V = TypeVar("_V")
_UP, _DOWN = "#26a69a", "#ef5350"
_ENTRY, _STOP, _TARGET = "#1e88e5", "#e53935", "#43a047"


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def render_signal_chart(
    candles: pd.DataFrame, signal: SignalIssued, language: str, market: MarketPrecision | None = None
) -> bytes:
    """PNG of the recent candles with the signal's entry, stop-loss, TP1 and TP2 (labelled on
    the market's tick)."""
    frame = candles.tail(CHART_CANDLES)
    x = np.arange(len(frame))
    opens, closes = frame["open"].to_numpy(), frame["close"].to_numpy()
    highs, lows = frame["high"].to_numpy(), frame["low"].to_numpy()
    colours = [_UP if c >= o else _DOWN for o, c in zip(opens, closes, strict=True)]
    figure = Figure(figsize=(8, 4.5))
    ax = figure.add_subplot()
    ax.vlines(x, lows, highs, colors=colours, linewidth=1)
    span = float(np.nanmax(highs) - np.nanmin(lows)) if len(frame) else signal.entry * 0.01
    bodies = np.maximum(np.abs(closes - opens), span * 0.002)
    ax.bar(x, bodies, bottom=np.minimum(opens, closes), color=colours, width=0.65)
    right = len(frame) + 1
    ax.axhspan(min(signal.entry, signal.stop), max(signal.entry, signal.stop), color=_STOP, alpha=0.07)
    ax.axhspan(min(signal.entry, signal.tp2), max(signal.entry, signal.tp2), color=_TARGET, alpha=0.07)
    for key, level, colour, style in (
        ("chart_entry", signal.entry, _ENTRY, "-"),
        ("chart_stop", signal.stop, _STOP, "--"),
        ("chart_tp1", signal.tp1, _TARGET, "--"),
        ("chart_tp2", signal.tp2, _TARGET, "--"),
    ):
        ax.axhline(level, color=colour, linestyle=style, linewidth=1.2)
        ax.text(
            right, level, f" {t(language, key, escape=False)} {price(level, language, market)}",
            color=colour, va="center",
            fontsize=9, bbox={"facecolor": "white", "edgecolor": colour, "boxstyle": "round,pad=0.2"},
        )  # fmt: skip
    ax.set_xlim(-1, right + 0.5)
    ticks = x[:: max(1, len(x) // 6)]
    ax.set_xticks(ticks, [day_time(frame.index[i], language) for i in ticks], fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: price(value, language)))
    ax.grid(alpha=0.25)
    side = t(language, f"side_{signal.side}", escape=False)
    ax.set_title(f"{signal.symbol} · {signal.timeframe} · {side}", fontsize=11)
    figure.tight_layout()
    return _png(figure)


def render_equity_chart(times: Sequence[datetime], equity: Sequence[float], language: str) -> bytes:
    """PNG of an equity curve (a step at each close) over its drawdown from the running peak."""
    values = np.asarray(equity, dtype=float)
    peaks = np.maximum.accumulate(values)
    drawdown = (peaks - values) / peaks * 100.0
    figure = Figure(figsize=(8, 5))
    top, bottom = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot(times, values, drawstyle="steps-post", color=_ENTRY, linewidth=1.6)
    top.axhline(values[0], color="grey", linewidth=0.8, linestyle=":")
    top.set_ylabel(t(language, "chart_equity", escape=False))
    top.grid(alpha=0.25)
    top.yaxis.set_major_formatter(FuncFormatter(lambda value, _: money(value, language)))
    bottom.fill_between(times, -drawdown, 0, step="post", color=_STOP, alpha=0.4)
    bottom.set_ylabel(t(language, "chart_drawdown", escape=False))
    bottom.grid(alpha=0.25)
    bottom.yaxis.set_major_formatter(FuncFormatter(lambda value, _: compact(value, language) + "%"))
    figure.autofmt_xdate()
    figure.tight_layout()
    return _png(figure)


@dataclass(slots=True)
class ChartPhoto:
    """What to put in sendPhoto: Telegram's file id when known, else the PNG to upload
    (then report the new file id with `uploaded`)."""

    file_id: str | None = None
    png: bytes | None = None
    new_file_id: str | None = None
    refused: bool = False

    def uploaded(self, file_id: str) -> None:
        self.new_file_id = file_id

    def refuse(self) -> None:
        """Telegram would not take this picture: send the signal without it from now on."""
        self.refused = True


class SignalCharts:
    """One chart per signal and language, rendered once, uploaded once."""

    def __init__(
        self,
        market_data: MarketData,
        repository: ChartRepository,
        clock: Clock,
        cache_size: int = 128,
        render: Callable[[pd.DataFrame, SignalIssued, str, MarketPrecision | None], bytes] = render_signal_chart,
    ) -> None:
        self._render_png = render
        self._market_data = market_data
        self._repository = repository
        self._clock = clock
        self._cache_size = cache_size
        self._file_ids: OrderedDict[tuple[int, str], str | None] = OrderedDict()  # None: no chart
        self._pngs: OrderedDict[tuple[int, str], bytes | None] = OrderedDict()
        self._locks: dict[tuple[int, str], asyncio.Lock] = {}
        self.rendered = 0

    @asynccontextmanager
    async def photo(self, signal_id: int, language: str, signal: SignalIssued) -> AsyncIterator[ChartPhoto | None]:
        """The chart to send with this signal message, or None to send it as text.

        The first caller for a signal and language renders and uploads while the others
        wait for its file id (a lock held through the body); the rest never wait."""
        key = (signal_id, language)
        if key in self._file_ids:
            known = self._file_ids[key]
            yield ChartPhoto(file_id=known) if known else None
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in self._file_ids and (stored := await self._repository.file_id(*key)) is not None:
                self._remember(self._file_ids, key, stored)
            if key in self._file_ids:
                known = self._file_ids[key]
                yield ChartPhoto(file_id=known) if known else None
                return
            png = await self._render(key, signal)
            if png is None:
                self._remember(self._file_ids, key, None)
                yield None
                return
            photo = ChartPhoto(png=png)
            yield photo
            if photo.refused:
                self._remember(self._file_ids, key, None)
            elif photo.new_file_id:
                await self._repository.save(signal_id, language, photo.new_file_id, self._clock.now())
                self._remember(self._file_ids, key, photo.new_file_id)
        self._locks.pop(key, None)

    async def _render(self, key: tuple[int, str], signal: SignalIssued) -> bytes | None:
        if key in self._pngs:
            return self._pngs[key]
        png: bytes | None = None
        try:
            candles = await self._market_data.candles(signal.symbol, signal.timeframe, CHART_CANDLES)
        except (UnknownSymbol, RetryableExchangeError) as exc:
            log.warning("no candles for the chart of %s: %s; sending the signal as text", signal.symbol, exc)
            candles = None
        if candles is not None and len(candles):
            try:
                market = self._market_data.precision(signal.symbol)
                png = await asyncio.to_thread(self._render_png, candles, signal, key[1], market)
                self.rendered += 1
            except Exception:  # a broken picture must not hold a signal back: it goes as text
                log.exception("rendering the chart of %s failed; sending the signal as text", signal.symbol)
        self._remember(self._pngs, key, png)
        return png

    def _remember(self, cache: OrderedDict[tuple[int, str], _V], key: tuple[int, str], value: _V) -> None:
        cache[key] = value
        cache.move_to_end(key)
        while len(cache) > self._cache_size:
            cache.popitem(last=False)

"""The signal engine: candles -> indicators -> strategy -> filters -> models -> signals.

`evaluate` is pure and works on one prepared frame, so the bot's scan and the
backtester run the very same decision code.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from core.errors import UnknownSymbol
from core.indicators import WARMUP, add_indicators
from core.models import Side, SignalDraft
from core.ports import Candidate, Clock, MarketData, SignalModel
from core.stops import StopConfig, initial_levels

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EngineConfig:
    lookback: int = 300  # candles fetched per scan
    rsi_long_min: float = 50.0
    rsi_long_max: float = 70.0
    rsi_short_min: float = 30.0
    rsi_short_max: float = 50.0
    stops: StopConfig = field(default_factory=StopConfig)


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str


@dataclass(slots=True)
class ScanResult:
    started_at: datetime
    finished_at: datetime | None = None
    signals: list[SignalDraft] = field(default_factory=list)
    rejections: Counter[str] = field(default_factory=Counter)
    errors: dict[str, str] = field(default_factory=dict)
    symbols: int = 0


class SignalEngine:
    """Trend plus momentum on closed candles, with an ATR stop and R-multiple targets."""

    def __init__(
        self,
        market_data: MarketData,
        timeframe: str,
        clock: Clock,
        config: EngineConfig | None = None,
        models: Sequence[SignalModel] = (),
    ) -> None:
        self._market_data = market_data
        self._timeframe = timeframe
        self._clock = clock
        self._config = config or EngineConfig()
        self._models = list(models)
        self.rejections: Counter[str] = Counter()  # since start, by reason

    @property
    def timeframe(self) -> str:
        return self._timeframe

    def prepare(self, candles: pd.DataFrame) -> pd.DataFrame:
        return add_indicators(candles)

    def evaluate(self, symbol: str, frame: pd.DataFrame) -> Candidate | Rejection:
        """Decide on the last row of a prepared frame."""
        if len(frame) < WARMUP:
            return Rejection("not_enough_data")
        row = frame.iloc[-1]
        prev = frame.iloc[-2]
        values = row[["ema_50", "ema_200", "rsi_14", "macd_hist", "atr_14"]].to_numpy(dtype=float)
        if not np.all(np.isfinite(values)) or not np.isfinite(prev["macd_hist"]):
            return Rejection("indicators_unavailable")
        close = float(row["close"])
        cfg = self._config
        if close > row["ema_50"] > row["ema_200"]:
            side = Side.LONG
        elif close < row["ema_50"] < row["ema_200"]:
            side = Side.SHORT
        else:
            return Rejection("no_trend")
        turned = (
            prev["macd_hist"] <= 0 < row["macd_hist"]
            if side is Side.LONG
            else (prev["macd_hist"] >= 0 > row["macd_hist"])
        )
        if not turned:
            return Rejection("no_momentum")
        rsi = float(row["rsi_14"])
        lo, hi = (cfg.rsi_long_min, cfg.rsi_long_max) if side is Side.LONG else (cfg.rsi_short_min, cfg.rsi_short_max)
        if not lo <= rsi <= hi:
            return Rejection("rsi_out_of_band")
        levels = initial_levels(side, close, float(row["atr_14"]), cfg.stops)
        strength = min(2.0, abs(close - row["ema_50"]) / row["atr_14"] * 0.5 + 0.5)
        return Candidate(
            symbol=symbol,
            timeframe=self._timeframe,
            side=side,
            frame=frame,
            levels=levels,
            regime=None,
            strength=float(strength),
        )

    async def scan(self, symbols: Sequence[str]) -> ScanResult:
        """Evaluate every symbol on its latest closed candle."""
        result = ScanResult(started_at=self._clock.now(), symbols=len(symbols))
        candidates: list[Candidate] = []
        for symbol in symbols:
            try:
                candles = await self._market_data.candles(symbol, self._timeframe, self._config.lookback)
            except UnknownSymbol as exc:
                result.errors[symbol] = str(exc)
                continue
            frame = await asyncio.to_thread(self.prepare, candles)
            decision = self.evaluate(symbol, frame)
            if isinstance(decision, Rejection):
                result.rejections[decision.reason] += 1
            else:
                candidates.append(decision)
        for candidate in await self._apply_models(candidates, result):
            result.signals.append(self._draft(candidate))
        self.rejections.update(result.rejections)
        result.finished_at = self._clock.now()
        return result

    async def _apply_models(self, candidates: list[Candidate], result: ScanResult) -> list[Candidate]:
        for model in self._models:
            if not candidates:
                break
            opinions = await asyncio.to_thread(model.assess, candidates)
            kept = []
            for candidate, opinion in zip(candidates, opinions, strict=True):
                if opinion.passed:
                    kept.append(_scaled(candidate, opinion.strength_factor))
                else:
                    result.rejections[f"{model.name}:{opinion.reason}"] += 1
            candidates = kept
        return candidates

    def _draft(self, candidate: Candidate) -> SignalDraft:
        last = candidate.frame.index[-1]
        atr = float(candidate.frame["atr_14"].iloc[-1])
        return SignalDraft(
            symbol=candidate.symbol,
            timeframe=candidate.timeframe,
            levels=candidate.levels,
            candle_time=last.to_pydatetime(),
            source="engine",
            strength=candidate.strength,
            regime=candidate.regime,
            atr=atr,
        )


def _scaled(candidate: Candidate, factor: float) -> Candidate:
    if factor == 1.0:
        return candidate
    return Candidate(
        symbol=candidate.symbol,
        timeframe=candidate.timeframe,
        side=candidate.side,
        frame=candidate.frame,
        levels=candidate.levels,
        regime=candidate.regime,
        strength=min(2.0, candidate.strength * factor),
    )

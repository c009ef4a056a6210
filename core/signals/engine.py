"""The signal engine: candles -> indicators -> regime -> strategy -> filters -> stops
-> models -> signals.

`SignalPipeline.decide` computes every decision of a frame at once (vectorised and
causal). The live scan takes its last row; the backtester takes every row of the very
same computation, so there is one implementation of the trading rules.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import numpy as np
import pandas as pd

from core.errors import ConfigError, RetryableExchangeError, UnknownSymbol
from core.models import Side, SignalDraft, SignalLevels
from core.ports import Candidate, Clock, MarketData, ModelOpinion, SignalModel
from core.rules.exits import ManagementRules
from core.rules.stops import calculate_initial_stop
from core.signals.filters import PASS, apply_filters
from core.signals.indicators import add_indicators, higher_timeframe_trend
from core.signals.playbooks import Playbook, default_playbook
from core.signals.regime import Regime, classify_regimes
from core.timeframes import timeframe_seconds

log = logging.getLogger(__name__)

_HIGHER_LADDER = ("15m", "1h", "4h", "1d", "1w")


def default_higher_timeframe(timeframe: str) -> str:
    """The confirmation timeframe: the first of 15m, 1h, 4h, 1d, 1w at least 4x longer."""
    base = timeframe_seconds(timeframe)
    for candidate in _HIGHER_LADDER:
        if timeframe_seconds(candidate) >= 4 * base:
            return candidate
    raise ConfigError(f"no higher timeframe for {timeframe}")


class SignalPipeline:
    """One playbook's decisions on one timeframe, for whole frames at once."""

    def __init__(self, playbook: Playbook, timeframe: str, higher_timeframe: str | None = None) -> None:
        self.playbook = playbook
        self.timeframe = timeframe
        self.higher_timeframe = higher_timeframe or default_higher_timeframe(timeframe)

    @property
    def warmup(self) -> int:
        """Candles of this timeframe before the first decision (the playbook's windows
        are spans of time: 30 days are 720 candles of 1h but 180 of 4h)."""
        return self.playbook.warmup(self.timeframe)

    def decide(self, candles: pd.DataFrame, higher: pd.DataFrame | None = None) -> pd.DataFrame:
        """`candles` with indicator columns and, per row, the decision: side (+1/-1/0,
        the candidate's side even when rejected), strength, regime, reason ('' for an
        accepted signal) and, for accepted rows, entry, stop, tp1, tp2, stop_type and
        atr_multiplier. `higher`: the higher timeframe's candles, needed when the
        playbook confirms on it (`htf_trend` is NaN without them)."""
        frame = add_indicators(candles)
        if higher is not None:
            frame["htf_trend"] = higher_timeframe_trend(frame.index, self.timeframe, higher, self.higher_timeframe)
        elif self.playbook.uses_higher_timeframe:
            raise ValueError(f"playbook {self.playbook.name} needs {self.higher_timeframe} candles")
        else:
            frame["htf_trend"] = np.nan
        frame["regime"] = classify_regimes(frame, self.playbook.regime, self.timeframe)
        setup = self.playbook.strategy.signals(frame, self.timeframe)
        side = setup["side"].to_numpy()
        strength = setup["strength"].to_numpy(dtype=np.float64)
        reasons = setup["reason"].to_numpy(dtype=object)
        early = (np.arange(len(frame)) < self.warmup) & (reasons == PASS)
        reasons = np.where(early, "warmup", reasons)
        if self.playbook.long_only:
            reasons = np.where((side < 0) & (reasons == PASS), "long_only", reasons)
        reasons = apply_filters(frame, side, strength, reasons, self.playbook.filters)
        frame["side"], frame["strength"], frame["reason"] = side, strength, reasons
        return self._add_levels(frame)

    def _add_levels(self, frame: pd.DataFrame) -> pd.DataFrame:
        n = len(frame)
        levels = {name: np.full(n, np.nan) for name in ("entry", "stop", "tp1", "tp2", "atr_multiplier")}
        stop_type = np.full(n, PASS, dtype=object)
        side, reasons = frame["side"].to_numpy(), frame["reason"].to_numpy(dtype=object)
        close, atr = frame["close"].to_numpy(dtype=np.float64), frame["atr_14"].to_numpy(dtype=np.float64)
        regimes = frame["regime"].to_numpy(dtype=object)
        adaptive = self.playbook.adaptive
        reasons = reasons.copy()
        for i in np.flatnonzero((side != 0) & (reasons == PASS)):
            k = adaptive.for_regime(Regime(regimes[i])).params.stop_atr_multiplier if adaptive else None
            try:
                stop = calculate_initial_stop(
                    float(close[i]), Side.LONG if side[i] > 0 else Side.SHORT, float(atr[i]), self.playbook.stops, k
                )
            except ValueError:  # a stop (or a short's target) beyond zero: no sensible trade
                reasons[i] = "stop_out_of_range"
                continue
            lv = stop.levels
            levels["entry"][i], levels["stop"][i], levels["tp1"][i], levels["tp2"][i] = (
                lv.entry,
                lv.stop,
                lv.tp1,
                lv.tp2,
            )
            levels["atr_multiplier"][i] = np.nan if stop.atr_multiplier is None else stop.atr_multiplier
            stop_type[i] = stop.stop_type.value
        return frame.assign(**levels, stop_type=stop_type, reason=reasons)

    @staticmethod
    def levels_at(frame: pd.DataFrame, row: int) -> SignalLevels:
        """Entry, stop and targets of the accepted signal at position `row` of a decided frame."""
        columns = [frame.columns.get_loc(name) for name in ("side", "entry", "stop", "tp1", "tp2")]
        side, entry, stop, tp1, tp2 = (frame.iat[row, c] for c in columns)
        return SignalLevels(Side.LONG if side > 0 else Side.SHORT, float(entry), float(stop), float(tp1), float(tp2))

    def candidate(self, symbol: str, frame: pd.DataFrame, row: int) -> Candidate:
        """The accepted signal at position `row` of a decided frame, as the models see
        it: the frame up to and including that row."""
        levels = self.levels_at(frame, row)
        return Candidate(
            symbol=symbol,
            timeframe=self.timeframe,
            side=levels.side,
            frame=frame.iloc[: row + 1],
            levels=levels,
            regime=str(frame["regime"].iat[row]),
            strength=float(frame["strength"].iat[row]),
        )


@dataclass(frozen=True, slots=True)
class EngineConfig:
    lookback: int = 1000  # candles fetched per scan; >= the playbook's warm-up
    higher_timeframe: str | None = None  # None: default_higher_timeframe(timeframe)
    higher_lookback: int = 300
    playbook: Playbook = field(default_factory=default_playbook)


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


def scale_strength(candidate: Candidate, opinion: ModelOpinion) -> Candidate:
    """The candidate with its strength multiplied by the model's factor (capped at 1)."""
    if opinion.strength_factor == 1.0:
        return candidate
    return Candidate(
        symbol=candidate.symbol,
        timeframe=candidate.timeframe,
        side=candidate.side,
        frame=candidate.frame,
        levels=candidate.levels,
        regime=candidate.regime,
        strength=min(1.0, candidate.strength * opinion.strength_factor),
    )


def keep_passed(
    model: SignalModel, candidates: Sequence[Candidate], opinions: Sequence[ModelOpinion]
) -> tuple[list[Candidate], Counter[str]]:
    """The candidates `model` passed (strength scaled), and the others counted by the
    model's reason (a category such as `ml_success_low_profit`, never a number)."""
    kept: list[Candidate] = []
    rejections: Counter[str] = Counter()
    for candidate, opinion in zip(candidates, opinions, strict=True):
        if opinion.passed:  # its say goes with the signal (the card shows it)
            kept.append(replace(scale_strength(candidate, opinion), opinions=(*candidate.opinions, opinion.reason)))
        else:
            rejections[opinion.reason] += 1
    return kept, rejections


def run_models(models: Sequence[SignalModel], candidates: list[Candidate]) -> tuple[list[Candidate], Counter[str]]:
    """Run each model once on all remaining candidates, in order (synchronous)."""
    rejections: Counter[str] = Counter()
    for model in models:
        if not candidates:
            break
        candidates, rejected = keep_passed(model, candidates, model.assess(candidates))
        rejections.update(rejected)
    return candidates, rejections


class SignalEngine:
    """Scans symbols on their latest closed candle with the playbook's pipeline."""

    def __init__(
        self,
        market_data: MarketData,
        timeframe: str,
        clock: Clock,
        config: EngineConfig | None = None,
        models: Sequence[SignalModel] = (),
    ) -> None:
        self._market_data = market_data
        self._clock = clock
        self._config = config or EngineConfig()
        self._models = list(models)
        self.pipeline = SignalPipeline(self._config.playbook, timeframe, self._config.higher_timeframe)
        needed = self.pipeline.warmup + 1
        if self._config.lookback < needed:
            raise ConfigError(f"engine lookback {self._config.lookback} is below the playbook's warm-up {needed}")
        self.rejections: Counter[str] = Counter()  # since start, by reason

    @property
    def timeframe(self) -> str:
        return self.pipeline.timeframe

    @property
    def management_rules(self) -> ManagementRules:
        """How the monitor should manage positions opened from this engine's signals."""
        return self._config.playbook.management

    async def evaluate(self, symbol: str) -> Candidate | Rejection:
        """Decide on `symbol`'s latest closed candle."""
        cfg = self._config
        candles = await self._market_data.candles(symbol, self.timeframe, cfg.lookback)
        if len(candles) < self.pipeline.warmup + 1:
            return Rejection("not_enough_data")
        higher = None
        if cfg.playbook.uses_higher_timeframe:
            higher = await self._market_data.candles(symbol, self.pipeline.higher_timeframe, cfg.higher_lookback)
        frame = await asyncio.to_thread(self.pipeline.decide, candles, higher)
        reason = str(frame["reason"].iloc[-1])
        if reason != PASS:
            return Rejection(reason)
        return self.pipeline.candidate(symbol, frame, len(frame) - 1)

    async def scan(self, symbols: Sequence[str]) -> ScanResult:
        """Evaluate every symbol on its latest closed candle, then the models."""
        result = ScanResult(started_at=self._clock.now(), symbols=len(symbols))
        candidates: list[Candidate] = []
        for symbol in symbols:
            try:
                decision = await self.evaluate(symbol)
            except (UnknownSymbol, RetryableExchangeError) as exc:
                result.errors[symbol] = f"{type(exc).__name__}: {exc}"
                continue
            if isinstance(decision, Rejection):
                result.rejections[decision.reason] += 1
            else:
                candidates.append(decision)
        kept, rejected = await asyncio.to_thread(run_models, self._models, candidates)
        result.rejections.update(rejected)
        result.signals.extend(self._draft(c) for c in kept)
        self.rejections.update(result.rejections)
        result.finished_at = self._clock.now()
        log.debug(
            "scan of %d symbols: %d signals, rejections %s",
            len(symbols),
            len(result.signals),
            result.rejections,
        )
        return result

    def _draft(self, candidate: Candidate) -> SignalDraft:
        last = candidate.frame.iloc[-1]
        levels = candidate.levels
        atr, multiplier = float(last["atr_14"]), float(last["atr_multiplier"])
        return SignalDraft(
            symbol=candidate.symbol,
            timeframe=candidate.timeframe,
            levels=levels,
            candle_time=candidate.frame.index[-1].to_pydatetime(),
            source="engine",
            strength=candidate.strength,
            regime=candidate.regime,
            atr=atr if math.isfinite(atr) else None,
            meta={
                "strategy": self._config.playbook.name,  # the playbook's name: what a track record groups by
                "playbook": self._config.playbook.describe(),
                "stop_type": str(last["stop_type"]),
                "atr_multiplier": multiplier if math.isfinite(multiplier) else None,
                "stop_pct": levels.stop_pct,
                "ml": list(candidate.opinions),
            },
        )

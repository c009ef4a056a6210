"""Backtester: the bot's own pipeline, sizing, risk checks and position rules on history
(the command line is core.backtest.cli: `python -m core.backtest`).

How a candle is processed, for each timestamp in time order:
0. at the first candle of a UTC day (00:00), the day's opening equity is the equity
   marked at the previous close: the daily-loss limit counts from 00:00 UTC;
1. pending entries (signals decided on the symbol's previous candle) are confirmed at
   this candle's open with the checks the bot makes at confirm: the price has not run
   through the stop or TP1 nor drifted more than `max_entry_drift_r` (in R) from the entry
   (`core.rules.entry.entry_refusal`); the size is computed at that price from the
   marked equity (`core.risk.sizing.position_quantity`); the risk limits
   (`core.risk.limits.check_new_position`); then the order fills through the fill model
   (slippage, fee);
2. open positions take the candle through `core.rules.exits.apply_candle` (the fill
   candle included); stop exits fill as market orders, targets at their price;
3. equity is marked to market at the close, and the peak with it;
4. accepted signals of this candle (`SignalPipeline.decide`, computed once for the whole
   history) go through the models, and the survivors wait for the next candle's open.

No look-ahead: decisions are causal per row, higher-timeframe candles count only once
closed, and a run ending at T makes exactly the trades before T that a longer run makes.
`--start` only delays trading: indicators warm up on the data before it. `--end` is
inclusive; a date without a time means the end of that day (UTC).
"""

from __future__ import annotations

import functools
import math
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from core.exchange.replay import resample
from core.models import ExitReason, Limits, Position, PositionStatus, SignalLevels
from core.ports import SignalModel
from core.risk.limits import AccountSnapshot, Proposal, check_new_position, return_correlation
from core.risk.portfolio import ClosedTrade, PortfolioMetrics, compute_metrics
from core.risk.sizing import TradeStats, position_quantity
from core.rules.entry import DEFAULT_MAX_DRIFT_R, entry_refusal
from core.rules.exits import Candle, apply_candle
from core.rules.fills import FillModel
from core.signals.engine import SignalPipeline, run_models
from core.signals.playbooks import Playbook
from core.timeframes import timeframe_seconds


class NoCandles(ValueError):
    """The requested window holds no candles."""


_YEAR_SECONDS = 365 * 86400
_DAY = pd.Timedelta(days=1)
_EPOCH = pd.Timestamp(0, tz="UTC")


def utc_days(index: pd.DatetimeIndex) -> np.ndarray:
    """Whole UTC days since 1970-01-01 of each timestamp, whatever the index's unit
    (pandas 3 parses CSV times at microseconds; never assume nanoseconds)."""
    stamps = index.tz_convert("UTC") if index.tz is not None else index.tz_localize("UTC")
    return np.asarray((stamps - _EPOCH) // _DAY, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    timeframe: str = "1h"
    start: pd.Timestamp | None = None  # first candle a decision may be made on
    end: pd.Timestamp | None = None  # last candle used (inclusive)
    initial_equity: float = 10_000.0
    fills: FillModel = field(default_factory=FillModel)
    limits: Limits | None = None  # None: the playbook's
    correlation_window: int = 168  # candles of returns behind the correlation limit
    max_entry_drift_r: float = DEFAULT_MAX_DRIFT_R  # the bot's MAX_ENTRY_DRIFT_R: entry refused beyond this move (in R)
    lookback: int = 1000  # candles before `start` a run keeps for the models and the correlation (the engine's)


@dataclass(slots=True)
class BacktestResult:
    metrics: PortfolioMetrics
    trades: list[ClosedTrade]
    equity: pd.Series
    buy_and_hold: pd.Series  # equal-weight buy and hold of the symbols, same start equity
    rejections: Counter[str]  # rejected candidates by reason
    signals: int  # accepted signals (before models and fill-time checks)
    candles: int  # symbol-candles simulated
    exposure_pct: float  # share of timestamps with at least one open position

    @property
    def buy_and_hold_return_pct(self) -> float:
        return (float(self.buy_and_hold.iloc[-1]) / float(self.buy_and_hold.iloc[0]) - 1.0) * 100.0

    def summary(self) -> dict[str, Any]:
        """The metrics as a JSON-ready dict."""
        out: dict[str, Any] = self.metrics.to_dict()
        out.update(
            buy_and_hold_return_pct=self.buy_and_hold_return_pct,
            exposure_pct=self.exposure_pct,
            signals=self.signals,
            candles=self.candles,
            start=self.equity.index[0].isoformat(),
            end=self.equity.index[-1].isoformat(),
        )
        return out


@dataclass(slots=True)
class _Pending:
    levels: SignalLevels
    atr: float


@dataclass(slots=True)
class _Series:
    """One symbol's candles and decisions on the shared timeline (NaN where absent)."""

    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    atr: list[float]
    accepted: list[bool]
    row: list[int]  # position in the decided frame, -1 where the symbol has no candle
    frame: pd.DataFrame

    def levels(self, i: int) -> SignalLevels:
        return SignalPipeline.levels_at(self.frame, self.row[i])


def _align(frame: pd.DataFrame, index: pd.DatetimeIndex) -> _Series:
    aligned = frame.reindex(index)
    accepted = ((frame["side"] != 0) & (frame["reason"] == "")).reindex(index, fill_value=False)
    return _Series(
        open=aligned["open"].tolist(),
        high=aligned["high"].tolist(),
        low=aligned["low"].tolist(),
        close=aligned["close"].tolist(),
        atr=aligned["atr_14"].tolist(),
        accepted=accepted.tolist(),
        row=frame.index.get_indexer(index).tolist(),
        frame=frame,
    )


class _Simulation:
    """The portfolio through time: one instance per run."""

    def __init__(
        self,
        pipeline: SignalPipeline,
        frames: Mapping[str, pd.DataFrame],
        config: BacktestConfig,
        models: Sequence[SignalModel],
    ) -> None:
        self.pipeline = pipeline
        self.config = config
        self.models = list(models)
        self.limits = config.limits or pipeline.playbook.limits
        self.rules = pipeline.playbook.management
        self.index = functools.reduce(pd.DatetimeIndex.union, (pd.DatetimeIndex(f.index) for f in frames.values()))
        self.series = {symbol: _align(frame, self.index) for symbol, frame in frames.items()}
        self.closes = pd.DataFrame({s: pd.Series(v.close, index=self.index) for s, v in self.series.items()})
        self.balance = config.initial_equity  # realised, net of fees
        self.peak = self.day_start = self.equity = config.initial_equity
        self.positions: dict[str, Position] = {}
        self.exits: dict[str, list[tuple[float, float]]] = {}  # symbol -> (price, quantity) fills
        self.pending: dict[str, _Pending] = {}
        self.last_close: dict[str, float] = {}
        self.trades: list[ClosedTrade] = []
        self.rejections: Counter[str] = Counter()
        self.signals = 0
        self.candles = 0
        self._next_id = 1
        self.exposure_pct = 0.0

    # -- step 1: entries -------------------------------------------------------------
    def _correlation(self, i: int) -> Any:
        window = self.config.correlation_window
        recent = self.closes.iloc[max(0, i - window - 1) : i]
        return lambda a, b: return_correlation(recent[a], recent[b], window)

    def _open(self, i: int, symbol: str, pending: _Pending) -> None:
        levels, fills = pending.levels, self.config.fills
        side = levels.side
        reference = self.series[symbol].open[i]  # the price the bot sees when the user confirms
        refusal = entry_refusal(levels, reference, self.config.max_entry_drift_r)
        if refusal is not None:
            self.rejections[refusal] += 1
            return
        stats = TradeStats.from_pnls(t.pnl for t in self.trades)
        size = position_quantity(self.equity, reference, levels.stop, self.limits, stats)
        if size.quantity <= 0:
            self.rejections["size_zero"] += 1
            return
        account = AccountSnapshot(self.equity, self.peak, self.day_start, list(self.positions.values()))
        proposal = Proposal(symbol, side, reference, levels.stop, size.quantity)
        decision = check_new_position(self.limits, account, proposal, self._correlation(i))
        if not decision.allowed:
            self.rejections[f"risk_{decision.reason}"] += 1
            return
        price = fills.market_price(side.entry_order_side, reference)
        fee = fills.fee(size.quantity, price)
        self.balance -= fee
        self.positions[symbol] = Position(
            id=self._next_id, user_id=0, user_signal_id=None, symbol=symbol, side=side,
            entry_price=price, initial_quantity=size.quantity, quantity=size.quantity,
            stop_price=levels.stop, initial_stop=levels.stop, tp1=levels.tp1, tp2=levels.tp2,
            tp1_done=False, highest=price, lowest=price, atr=pending.atr, realized_pnl=0.0, fees=fee,
            status=PositionStatus.OPEN, opened_at=self.index[i].to_pydatetime(),
        )  # fmt: skip
        self.exits[symbol] = []
        self._next_id += 1

    # -- step 2: management ----------------------------------------------------------
    def _exit(self, position: Position, reason: ExitReason, trigger: float, quantity: float) -> None:
        fills = self.config.fills
        price = fills.exit_price(position.side, reason, trigger)
        gross = position.side.sign * (price - position.entry_price) * quantity
        fee = fills.fee(quantity, price)
        position.realized_pnl += gross
        position.fees += fee
        self.balance += gross - fee
        self.exits[position.symbol].append((price, quantity))

    def _close(self, position: Position, reason: ExitReason, i: int) -> None:
        fills = self.exits.pop(position.symbol)
        quantity = sum(q for _, q in fills)
        position.status = PositionStatus.CLOSED
        position.closed_at = self.index[i].to_pydatetime()
        position.exit_price = sum(p * q for p, q in fills) / quantity
        position.exit_reason = reason
        self.trades.append(ClosedTrade.from_position(position))
        del self.positions[position.symbol]

    def _manage(self, i: int, symbol: str, position: Position) -> None:
        s = self.series[symbol]
        outcome = apply_candle(position, Candle(s.open[i], s.high[i], s.low[i], s.close[i]), self.rules)
        for trigger in outcome.triggers:
            self._exit(position, trigger.reason, trigger.price, trigger.quantity)
        if outcome.closed:
            self._close(position, outcome.triggers[-1].reason, i)

    # -- step 3 and 4 ----------------------------------------------------------------
    def _mark(self) -> None:
        unrealized = sum(p.unrealized_pnl(self.last_close[s]) for s, p in self.positions.items())
        self.equity = self.balance + unrealized
        self.peak = max(self.peak, self.equity)

    def _collect_signals(self, i: int) -> None:
        accepted = [symbol for symbol, s in self.series.items() if s.accepted[i]]
        self.signals += len(accepted)
        if not self.models:  # no model to show the candidate's history to: its levels suffice
            for symbol in accepted:
                self.pending[symbol] = _Pending(self.series[symbol].levels(i), self.series[symbol].atr[i])
            return
        candidates = [self.pipeline.candidate(s, self.series[s].frame, self.series[s].row[i]) for s in accepted]
        kept, rejected = run_models(self.models, candidates)
        self.rejections.update(rejected)
        for candidate in kept:
            atr = self.series[candidate.symbol].atr[i]
            self.pending[candidate.symbol] = _Pending(candidate.levels, atr)

    def run(self, first: int, progress: bool) -> pd.Series:
        """Simulate from timeline position `first`; return the equity curve."""
        days = utc_days(self.index).tolist()
        curve = np.empty(len(self.index) - first)
        exposed = 0
        for i in tqdm(range(first, len(self.index)), disable=not progress, file=sys.stderr, unit="candle"):
            if i > first and days[i] != days[i - 1]:
                self.day_start = self.equity
            for symbol, s in self.series.items():
                if math.isnan(s.open[i]):
                    continue
                self.candles += 1
                pending = self.pending.pop(symbol, None)
                if pending is not None:
                    self._open(i, symbol, pending)
                if symbol in self.positions:
                    self._manage(i, symbol, self.positions[symbol])
                self.last_close[symbol] = s.close[i]
            self._mark()
            curve[i - first] = self.equity
            exposed += bool(self.positions)
            self._collect_signals(i)
        last = len(self.index) - 1
        for symbol, position in list(self.positions.items()):
            self._exit(position, ExitReason.END_OF_DATA, self.last_close[symbol], position.quantity)
            position.quantity = 0.0
            self._close(position, ExitReason.END_OF_DATA, self._last_row(symbol, last))
        curve[-1] = self.balance  # everything is closed now, exit costs included
        self.exposure_pct = exposed / len(curve) * 100.0 if len(curve) else 0.0
        return pd.Series(curve, index=self.index[first:], name="equity")

    def _last_row(self, symbol: str, last: int) -> int:
        closes = self.series[symbol].close
        while math.isnan(closes[last]):
            last -= 1
        return last


def _buy_and_hold(closes: pd.DataFrame, initial_equity: float) -> pd.Series:
    filled = closes.ffill().bfill()
    return (filled / filled.iloc[0]).mean(axis=1) * initial_equity


def decide_frames(
    candles: Mapping[str, pd.DataFrame], strategy: Playbook, timeframe: str, end: pd.Timestamp | None = None
) -> dict[str, pd.DataFrame]:
    """Every decision of `strategy` on each symbol's candles up to `end` (inclusive):
    `SignalPipeline.decide`, the higher timeframe resampled from the candles when the
    playbook confirms on it. Decisions are causal, so frames decided once over a long
    history serve any shorter backtest inside it (`simulate(..., end=...)`)."""
    pipeline = SignalPipeline(strategy, timeframe)
    frames = {}
    for symbol, data in candles.items():
        data = data if end is None else data[data.index <= end]
        if data.empty:
            raise NoCandles(f"no candles for {symbol} up to {end}")
        higher = resample(data, pipeline.higher_timeframe) if strategy.uses_higher_timeframe else None
        frames[symbol] = pipeline.decide(data, higher)
    return frames


def simulate(
    frames: Mapping[str, pd.DataFrame],
    strategy: Playbook,
    config: BacktestConfig,
    models: Sequence[SignalModel] = (),
    progress: bool = False,
) -> BacktestResult:
    """Trade decided `frames` (from `decide_frames` with the same playbook and timeframe)
    from `config.start` to `config.end`; whatever is open at the end closes at the last
    close."""
    if config.end is not None:
        frames = {symbol: frame[frame.index <= config.end] for symbol, frame in frames.items()}
        empty = [symbol for symbol, frame in frames.items() if frame.empty]
        if empty:
            raise NoCandles(f"no candles for {empty[0]} up to {config.end}")
    if config.start is not None:  # decisions are made: only the models and the correlation look back
        frames = {s: f.iloc[max(0, f.index.searchsorted(config.start) - config.lookback) :] for s, f in frames.items()}
    simulation = _Simulation(SignalPipeline(strategy, config.timeframe), frames, config, models)
    first = 0 if config.start is None else int(simulation.index.searchsorted(config.start, side="left"))
    if first >= len(simulation.index):
        raise NoCandles(f"no candles from {config.start}")
    equity = simulation.run(first, progress)
    for frame in frames.values():
        window = frame[frame.index >= simulation.index[first]]
        rejected = window[(window["side"] != 0) & (window["reason"] != "")]
        simulation.rejections.update(rejected["reason"].tolist())
    trades = simulation.trades
    metrics = compute_metrics(
        [t.pnl for t in trades],
        equity,
        pnl_pcts=[t.pnl_pct for t in trades],
        periods_per_year=_YEAR_SECONDS / timeframe_seconds(config.timeframe),
    )
    return BacktestResult(
        metrics=metrics,
        trades=trades,
        equity=equity,
        buy_and_hold=_buy_and_hold(simulation.closes.iloc[first:], config.initial_equity),
        rejections=simulation.rejections,
        signals=simulation.signals,
        candles=simulation.candles,
        exposure_pct=simulation.exposure_pct,
    )


def run_backtest(
    candles: Mapping[str, pd.DataFrame],
    strategy: Playbook,
    config: BacktestConfig,
    models: Sequence[SignalModel] = (),
    progress: bool = False,
) -> BacktestResult:
    """Backtest `strategy` on `candles` (symbol -> candles of `config.timeframe`)."""
    frames = decide_frames(candles, strategy, config.timeframe, config.end)
    return simulate(frames, strategy, config, models, progress)

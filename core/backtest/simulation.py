"""Backtester: the bot's own pipeline, sizing, risk checks and position rules on history.

    python -m core.backtest.simulation --data data/ohlcv --symbols BTC/USD,ETH/USD --timeframe 1h \
        [--start ISO] [--end ISO] [--strategy hybrid|sma_cross] [--fee 0.001] [--slippage 0.05] \
        [--balance 10000] [--no-ml | --models DIR] [--json FILE] [--plot FILE.png]

How a candle is processed, for each timestamp in time order:
1. pending entries (signals decided on the symbol's previous candle) fill at this
   candle's open through the fill model, after the fill-time checks the bot makes at
   confirm: the price has not run through the stop or TP1 (`entry_gap`), the size
   (`core.risk.sizing.position_quantity`) and the risk limits (`core.risk.limits.check_new_position`);
2. open positions take the candle through `core.rules.exits.apply_candle` (the fill
   candle included); stop exits fill as market orders, targets at their price;
3. equity is marked at the close;
4. accepted signals of this candle (`SignalPipeline.decide`, computed once for the whole
   history) go through the models, and the survivors wait for the next candle's open.

No look-ahead: decisions are causal per row, higher-timeframe candles count only once
closed, and a run ending at T makes exactly the trades before T that a longer run makes.
`--start` only delays trading: indicators warm up on the data before it. `--end` is
inclusive; a date without a time means the end of that day (UTC).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from core.errors import AtraError
from core.exchange.replay import load_csv, resample, symbol_file_stem
from core.models import ExitReason, Limits, Position, PositionStatus, SignalLevels
from core.ports import Candidate, SignalModel
from core.risk.limits import AccountSnapshot, Proposal, check_new_position, return_correlation
from core.risk.portfolio import ClosedTrade, PortfolioMetrics, compute_metrics
from core.risk.sizing import TradeStats, position_quantity
from core.rules.exits import Candle, apply_candle
from core.rules.fills import FillModel
from core.signals.engine import SignalPipeline, run_models
from core.signals.strategy import PLAYBOOKS, Playbook, playbook
from core.timeframes import timeframe_seconds


class NoCandles(ValueError):
    """The requested window holds no candles."""


_MARKET_EXITS = {
    ExitReason.STOP_LOSS,
    ExitReason.BREAK_EVEN,
    ExitReason.TRAILING_STOP,
    ExitReason.END_OF_DATA,
}
_YEAR_SECONDS = 365 * 86400


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    timeframe: str = "1h"
    start: pd.Timestamp | None = None  # first candle a decision may be made on
    end: pd.Timestamp | None = None  # last candle used (inclusive)
    initial_equity: float = 10_000.0
    fills: FillModel = field(default_factory=FillModel)
    limits: Limits | None = None  # None: the playbook's
    correlation_window: int = 168  # candles of returns behind the correlation limit


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
        self.index = pd.DatetimeIndex(sorted(set().union(*(f.index for f in frames.values()))))
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
        side, sign = levels.side, levels.side.sign
        price = fills.market_price(side.entry_order_side, self.series[symbol].open[i])
        if sign * (price - levels.stop) <= 0 or sign * (price - levels.tp1) >= 0:
            self.rejections["entry_gap"] += 1
            return
        stats = TradeStats.from_pnls(t.pnl for t in self.trades)
        size = position_quantity(self.equity, price, levels.stop, self.limits, stats)
        if size.quantity <= 0:
            self.rejections["size_zero"] += 1
            return
        account = AccountSnapshot(self.equity, self.peak, self.day_start, list(self.positions.values()))
        proposal = Proposal(symbol, side, price, levels.stop, size.quantity)
        decision = check_new_position(self.limits, account, proposal, self._correlation(i))
        if not decision.allowed:
            self.rejections[f"risk:{decision.reason}"] += 1
            return
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
        price = fills.market_price(position.side.exit_order_side, trigger) if reason in _MARKET_EXITS else trigger
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
        candidates: list[Candidate] = []
        for symbol, s in self.series.items():
            if s.accepted[i]:
                candidates.append(self.pipeline.candidate(symbol, s.frame, s.row[i]))
        self.signals += len(candidates)
        kept, rejected = run_models(self.models, candidates)
        self.rejections.update(rejected)
        for candidate in kept:
            atr = self.series[candidate.symbol].atr[i]
            self.pending[candidate.symbol] = _Pending(candidate.levels, atr)

    def run(self, first: int, progress: bool) -> pd.Series:
        """Simulate from timeline position `first`; return the equity curve."""
        days = (self.index.asi8 // (86400 * 10**9)).tolist()
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


def run_backtest(
    candles: Mapping[str, pd.DataFrame],
    strategy: Playbook,
    config: BacktestConfig,
    models: Sequence[SignalModel] = (),
    progress: bool = False,
) -> BacktestResult:
    """Backtest `strategy` on `candles` (symbol -> candles of `config.timeframe`)."""
    pipeline = SignalPipeline(strategy, config.timeframe)
    frames = {}
    for symbol, data in candles.items():
        data = data if config.end is None else data[data.index <= config.end]
        if data.empty:
            raise NoCandles(f"no candles for {symbol} up to {config.end}")
        higher = resample(data, pipeline.higher_timeframe) if strategy.uses_higher_timeframe else None
        frames[symbol] = pipeline.decide(data, higher)
    simulation = _Simulation(pipeline, frames, config, models)
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


# -- data ------------------------------------------------------------------------------
def load_candles(directory: Path, symbol: str, timeframe: str) -> pd.DataFrame:
    """`<SYMBOL>-<timeframe>.csv` from `directory`, or the coarsest finer file that
    divides the timeframe, resampled (only what the replay market data would serve)."""
    exact = directory / f"{symbol_file_stem(symbol, timeframe)}.csv"
    if exact.is_file():
        return load_csv(exact)
    target = timeframe_seconds(timeframe)
    finer = []
    for path in directory.glob(f"{symbol.replace('/', '')}-*.csv"):
        base = path.stem.rsplit("-", 1)[1]
        seconds = timeframe_seconds(base)
        if seconds < target and target % seconds == 0:
            finer.append((seconds, path))
    if not finer:
        raise FileNotFoundError(f"no candle file for {symbol} at or below {timeframe} in {directory}")
    return resample(load_csv(max(finer)[1]), timeframe)


# -- reporting -------------------------------------------------------------------------
def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a" if value is None or math.isnan(value) else "inf"
    return f"{value:,.{digits}f}" if isinstance(value, float) else str(value)


def format_report(result: BacktestResult) -> str:
    """A plain-text table of the metrics, per-symbol results and rejection counts."""
    m = result.summary()
    rows = [
        ("period", f"{m['start'][:16]} .. {m['end'][:16]}"),
        ("candles", m["candles"]),
        ("signals / trades", f"{m['signals']} / {m['n_trades']}"),
        ("final equity", _fmt(m["equity"])),
        ("total return %", _fmt(m["total_return_pct"])),
        ("buy & hold return %", _fmt(m["buy_and_hold_return_pct"])),
        ("max drawdown %", _fmt(m["max_drawdown_pct"])),
        ("sharpe / sortino", f"{_fmt(m['sharpe'])} / {_fmt(m['sortino'])}"),
        ("win rate %", _fmt(m["win_rate"])),
        ("profit factor", _fmt(m["profit_factor"])),
        ("expectancy % / trade", _fmt(m["expectancy_pct"], 3)),
        ("avg win % / avg loss %", f"{_fmt(m['avg_win_pct'])} / {_fmt(m['avg_loss_pct'])}"),
        ("exposure %", _fmt(m["exposure_pct"])),
        ("VaR 95% (per candle) %", _fmt(m["var_95_pct"], 3)),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    lines += ["", f"{'symbol':<10} {'trades':>6} {'win %':>7} {'pnl':>12} {'avg %':>7}"]
    by_symbol: dict[str, list[ClosedTrade]] = {}
    for trade in result.trades:
        by_symbol.setdefault(trade.symbol, []).append(trade)
    for symbol, trades in sorted(by_symbol.items()):
        wins = sum(t.pnl > 0 for t in trades) / len(trades) * 100.0
        avg = sum(t.pnl_pct for t in trades) / len(trades)
        lines.append(f"{symbol:<10} {len(trades):>6} {wins:>7.1f} {sum(t.pnl for t in trades):>12,.2f} {avg:>7.3f}")
    if result.rejections:
        lines += [
            "",
            "rejected candidates: " + ", ".join(f"{k} {v}" for k, v in result.rejections.most_common()),
        ]
    return "\n".join(lines)


def write_json(result: BacktestResult, path: Path) -> None:
    payload = {
        "metrics": result.summary(),
        "trades": [t.to_dict() for t in result.trades],
        "rejections": dict(result.rejections.most_common()),
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")


def plot(result: BacktestResult, path: Path) -> None:
    """Equity against buy and hold, with the drawdown below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    equity = result.equity
    drawdown = (equity / equity.cummax() - 1.0) * 100.0
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7), sharex=True, height_ratios=(3, 1))
    top.plot(equity.index, equity.to_numpy(), label="strategy", linewidth=1.2)
    top.plot(
        result.buy_and_hold.index,
        result.buy_and_hold.to_numpy(),
        label="buy & hold",
        linewidth=1.0,
        alpha=0.7,
    )
    top.set_ylabel("equity")
    top.legend(loc="upper left")
    top.grid(alpha=0.3)
    bottom.fill_between(drawdown.index, drawdown.to_numpy(), 0.0, color="tab:red", alpha=0.4)
    bottom.set_ylabel("drawdown %")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- command line ----------------------------------------------------------------------
def _time(text: str | None, end: bool) -> pd.Timestamp | None:
    if text is None:
        return None
    stamp = pd.Timestamp(text)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    if end and len(text.strip()) == 10:  # a date alone: through the end of that day
        stamp += pd.Timedelta(days=1) - pd.Timedelta(1, "ns")
    return stamp


def load_models_from(path: Path) -> list[SignalModel]:
    """Models through `ml.registry.load_models`; exits with a message if ml is absent."""
    try:
        from ml.registry import load_models
    except ModuleNotFoundError as exc:
        if exc.name not in ("ml", "ml.registry"):
            raise
        raise SystemExit(f"--models needs ml.registry.load_models, which this checkout does not have ({exc})") from exc
    try:
        return list(load_models(path))
    except AtraError as exc:
        raise SystemExit(f"--models {path}: {exc}") from exc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.backtest.simulation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="directory of <SYMBOL>-<tf>.csv files")
    parser.add_argument("--symbols", required=True, help="comma-separated, e.g. BTC/USD,ETH/USD")
    parser.add_argument("--timeframe", default="1h")
    parser.add_argument("--start", help="ISO time (UTC) of the first decision candle")
    parser.add_argument("--end", help="ISO time (UTC) of the last candle, inclusive")
    parser.add_argument("--strategy", default="hybrid", choices=sorted(PLAYBOOKS))
    parser.add_argument("--fee", type=float, default=0.001, help="fee rate per fill")
    parser.add_argument("--slippage", type=float, default=0.05, help="market-order slippage, percent")
    parser.add_argument("--balance", type=float, default=10_000.0)
    ml = parser.add_mutually_exclusive_group()
    ml.add_argument("--no-ml", action="store_true", help="no ML models (the default without --models)")
    ml.add_argument("--models", type=Path, help="directory of trained models (ml.registry)")
    parser.add_argument("--json", type=Path, help="write metrics and trades as JSON")
    parser.add_argument("--plot", type=Path, help="write the equity curve as PNG")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
    models = load_models_from(args.models) if args.models else []
    try:
        candles = {symbol: load_candles(args.data, symbol, args.timeframe) for symbol in symbols}
    except FileNotFoundError as exc:
        raise SystemExit(str(exc)) from exc
    config = BacktestConfig(
        timeframe=args.timeframe,
        start=_time(args.start, end=False),
        end=_time(args.end, end=True),
        initial_equity=args.balance,
        fills=FillModel(fee_rate=args.fee, slippage_pct=args.slippage),
    )
    try:
        result = run_backtest(candles, playbook(args.strategy), config, models, progress=sys.stderr.isatty())
    except NoCandles as exc:
        raise SystemExit(str(exc)) from exc
    print(format_report(result))
    if args.json:
        write_json(result, args.json)
    if args.plot:
        plot(result, args.plot)
    return 0

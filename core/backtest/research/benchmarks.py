"""What every playbook is measured beside, on the same stitched test period, on daily
candles (UTC days), with the same fees and slippage:

- buy & hold: a fifth of the capital in each coin at the first open, sold at the last
  close;
- a plain trend-following reference: each coin's fifth is held while its daily close is
  above its `sma_days`-day average (decided at a close, traded at the next open), cash
  otherwise. Fixed parameters, chosen on nothing.

These are benchmarks, not the bot's rules: they hold no stop and size nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.backtest.research.stats import Summary, summarize
from core.exchange.replay import resample
from core.rules.fills import FillModel


@dataclass(frozen=True, slots=True)
class Benchmark:
    name: str
    equity: pd.Series
    summary: Summary


def daily(candles: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {symbol: resample(frame, "1d") for symbol, frame in candles.items()}


def _sleeve(
    days: pd.DataFrame, holding: np.ndarray, capital: float, fills: FillModel
) -> tuple[np.ndarray, list[float], list[float]]:
    """Equity per day of one coin's sleeve held on the days `holding` says (bought at
    that day's open, sold at the open of the first day not held, or the last close);
    with the returns and P&Ls of its round trips."""
    opens, closes = days["open"].to_numpy(), days["close"].to_numpy()
    cash, units, cost = capital, 0.0, 0.0
    equity, returns, pnls = np.empty(len(days)), [], []
    for i in range(len(days)):
        if holding[i] and units == 0.0:
            price = fills.market_price("buy", opens[i])
            units = cash / (price * (1.0 + fills.fee_rate))
            cost, cash = cash, 0.0
        elif not holding[i] and units > 0.0:
            cash = units * fills.market_price("sell", opens[i]) * (1.0 - fills.fee_rate)
            returns.append((cash / cost - 1.0) * 100.0)
            pnls.append(cash - cost)
            units = 0.0
        equity[i] = cash + units * closes[i]
    if units > 0.0:
        cash = units * fills.market_price("sell", closes[-1]) * (1.0 - fills.fee_rate)
        returns.append((cash / cost - 1.0) * 100.0)
        pnls.append(cash - cost)
        equity[-1] = cash
    return equity, returns, pnls


def _run(
    name: str,
    days: Mapping[str, pd.DataFrame],
    holding: Mapping[str, np.ndarray],
    capital: float,
    fills: FillModel,
) -> Benchmark:
    curves, returns, pnls, exposure = [], [], [], []
    for symbol, frame in days.items():
        curve, r, p = _sleeve(frame, holding[symbol], capital / len(days), fills)
        curves.append(pd.Series(curve, index=frame.index))
        returns += r
        pnls += p
        exposure.append(holding[symbol].mean() * 100.0)
    equity = pd.concat(curves, axis=1).ffill().bfill().sum(axis=1)
    first = pd.Series([capital], index=[equity.index[0] - pd.Timedelta(seconds=1)])
    equity = pd.concat([first, equity])
    return Benchmark(name, equity, summarize(returns, pnls, equity, float(np.mean(exposure))))


def _window(frame: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    return frame[(frame.index >= start) & (frame.index < end)]


def buy_and_hold(
    days: Mapping[str, pd.DataFrame], start: pd.Timestamp, end: pd.Timestamp, capital: float, fills: FillModel
) -> Benchmark:
    window = {symbol: _window(frame, start, end) for symbol, frame in days.items()}
    holding = {symbol: np.ones(len(frame), dtype=bool) for symbol, frame in window.items()}
    return _run("buy & hold", window, holding, capital, fills)


def trend_reference(
    days: Mapping[str, pd.DataFrame],
    start: pd.Timestamp,
    end: pd.Timestamp,
    capital: float,
    fills: FillModel,
    sma_days: int = 50,
) -> Benchmark:
    window, holding = {}, {}
    for symbol, frame in days.items():
        above = frame["close"] > frame["close"].rolling(sma_days, min_periods=sma_days).mean()
        decided = above.shift(1, fill_value=False)  # yesterday's close decides today's open
        window[symbol] = _window(frame, start, end)
        holding[symbol] = _window(decided.to_frame("hold"), start, end)["hold"].to_numpy(dtype=bool)
    return _run(f"trend reference (close > {sma_days}-day SMA)", window, holding, capital, fills)

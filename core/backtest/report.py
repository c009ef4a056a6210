"""A backtest's result as text, JSON and a picture."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from core.backtest.simulation import BacktestResult
from core.risk.portfolio import ClosedTrade


def fmt(value: Any, digits: int = 2) -> str:
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
        ("final equity", fmt(m["equity"])),
        ("total return %", fmt(m["total_return_pct"])),
        ("buy & hold return %", fmt(m["buy_and_hold_return_pct"])),
        ("max drawdown %", fmt(m["max_drawdown_pct"])),
        ("sharpe / sortino", f"{fmt(m['sharpe'])} / {fmt(m['sortino'])}"),
        ("win rate %", fmt(m["win_rate"])),
        ("profit factor", fmt(m["profit_factor"])),
        ("expectancy % / trade", fmt(m["expectancy_pct"], 3)),
        ("avg win % / avg loss %", f"{fmt(m['avg_win_pct'])} / {fmt(m['avg_loss_pct'])}"),
        ("exposure %", fmt(m["exposure_pct"])),
        ("VaR 95% (per candle) %", fmt(m["var_95_pct"], 3)),
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


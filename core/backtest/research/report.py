"""The research as a table (Markdown, printed and quoted in the README), JSON and a PNG
of the out-of-sample equity curves beside buy & hold and the trend reference."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from core.backtest.research.benchmarks import Benchmark
from core.backtest.research.runs import WalkForward
from core.backtest.research.stats import Summary
from core.backtest.research.study import PlaybookStudy, Study

HEADER = ("row", "trades", "win %", "expectancy % [95% CI]", "PF", "return %", "max DD %", "Sharpe", "exposure %")


def _num(value: float, digits: int = 2) -> str:
    if not math.isfinite(value):
        return "n/a" if math.isnan(value) else "inf"
    return f"{value:.{digits}f}"


def _signed(value: float) -> str:
    return f"{value:+.2f}" if math.isfinite(value) else "n/a"


def row(name: str, s: Summary) -> list[str]:
    interval = f"{_signed(s.expectancy_pct)} [{_signed(s.expectancy_low)}, {_signed(s.expectancy_high)}]"
    return [
        name,
        str(s.trades),
        _num(s.win_pct, 1),
        interval,
        _num(s.profit_factor),
        _num(s.return_pct, 1),
        _num(s.max_drawdown_pct, 1),
        _num(s.sharpe),
        _num(s.exposure_pct, 0),
    ]


def _switch_name(axis: str, value: Any) -> str:
    if isinstance(value, bool):
        return f"{axis} {'on' if value else 'off'}"
    return f"{axis} {value}"


def table_rows(study: Study, switches: bool = True) -> list[list[str]]:
    rows = []
    for p in study.playbooks:
        rows.append(row(f"**{p.playbook} {p.timeframe}** walk-forward", p.walk_forward.summary))
        if switches:
            for axis, by_value in p.switches.items():
                for value, result in by_value.items():
                    rows.append(row(f"  {p.playbook} {p.timeframe} · {_switch_name(axis, value)}", result.summary))
    rows += [row(b.name, b.summary) for b in study.benchmarks]
    return rows


def markdown(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [list(HEADER), *rows]) for i in range(len(HEADER))]

    def line(cells: list[str]) -> str:
        padded = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 1) + (":" if i else "-") for i, w in enumerate(widths)) + "|"
    return "\n".join([line(list(HEADER)), rule, *(line(r) for r in rows)])


def format_study(study: Study) -> str:
    first, last = study.windows[0], study.windows[-1]
    train = round((first.train_end - first.train_start).days / 30.4)
    test = round((first.test_end - first.test_start).days / 30.4)
    head = (
        f"walk-forward: {len(study.windows)} folds, train {train} months, test {test} months; "
        f"test windows {first.test_start:%Y-%m-%d}..{last.test_end:%Y-%m-%d} (stitched); "
        f"{study.configurations} configurations in {study.seconds:.0f} s"
    )
    recommended = "\n".join(
        f"recommended {p.playbook} {p.timeframe}: {p.recommended_label}" for p in study.playbooks
    )
    return f"{head}\n\n{markdown(table_rows(study))}\n\n{recommended}"


def _walk_forward_json(result: WalkForward) -> dict[str, Any]:
    return {"summary": result.summary.to_dict(), "chosen": result.labels}


def _playbook_json(p: PlaybookStudy) -> dict[str, Any]:
    return {
        "playbook": p.playbook,
        "timeframe": p.timeframe,
        "walk_forward": _walk_forward_json(p.walk_forward),
        "switches": {
            axis: {str(value): _walk_forward_json(wf) for value, wf in by_value.items()}
            for axis, by_value in p.switches.items()
        },
        "recommended": {"label": p.recommended_label, "config": {k: v for k, v in p.recommended}},
    }


def write_json(study: Study, path: Path, extra: dict[str, Any] | None = None) -> None:
    """The study as JSON; `extra` sections (e.g. the ML filters') are added as given."""
    payload = {
        "windows": [w.describe() for w in study.windows],
        "configurations": study.configurations,
        "seconds": round(study.seconds, 1),
        "playbooks": [_playbook_json(p) for p in study.playbooks],
        "benchmarks": {b.name: b.summary.to_dict() for b in study.benchmarks},
        **(extra or {}),
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")


def plot(study: Study, path: Path) -> None:
    """One panel per timeframe: each playbook's stitched out-of-sample equity, buy &
    hold and the trend reference, all from the same starting equity."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timeframes = list(dict.fromkeys(p.timeframe for p in study.playbooks))
    fig, axes = plt.subplots(len(timeframes), 1, figsize=(11, 4 * len(timeframes)), sharex=True, squeeze=False)
    for ax, timeframe in zip(axes[:, 0], timeframes, strict=True):
        for p in (p for p in study.playbooks if p.timeframe == timeframe):
            curve = p.walk_forward.equity
            ax.plot(curve.index, curve.to_numpy(), label=f"{p.playbook} (walk-forward)", linewidth=1.2)
        _benchmarks(ax, study.benchmarks)
        for window in study.windows:
            ax.axvline(window.test_start, color="grey", linewidth=0.5, alpha=0.5)
        ax.set_title(f"{timeframe} candles, out-of-sample test windows stitched")
        ax.set_ylabel("equity")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _benchmarks(ax: Any, benchmarks: list[Benchmark]) -> None:
    for b in benchmarks:
        ax.plot(b.equity.index, b.equity.to_numpy(), label=b.name, linewidth=1.0, linestyle="--", alpha=0.8)

"""Playbooks: a strategy with its filters, stops, exits and the risk limits a backtest
uses by default, registered by name.

A playbook's `name` is what a signal, a track record and a report call it by; its
`params` say which variant it is (the numbers the name alone does not say). Playbooks
are long-only by default: spot markets cannot be sold short (`long_only=False` keeps
shorts, for venues that allow them and for the reference strategy).

Defaults are what the walk-forward research (`python -m core.backtest.research`, the
README's table) supports; see `DEFAULT_PLAYBOOK`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.models import Limits
from core.rules.exits import ManagementRules
from core.rules.stops import StopConfig, StopType
from core.signals.filters import (
    AdxFilter,
    CandidateFilter,
    HigherTimeframeFilter,
    RegimeFilter,
    TimeOfDayFilter,
    VolumeFilter,
)
from core.signals.regime import AdaptiveStrategy, RegimeConfig
from core.signals.strategy import SmaCrossStrategy, Strategy, TrendMomentumStrategy
from core.signals.trend_following import DonchianBreakoutStrategy, TimeSeriesMomentumStrategy

#: The filters a playbook can switch on by name (`filters=` of the factories).
FILTER_NAMES = ("mtf", "adx", "volume", "regime")


@dataclass(frozen=True, slots=True)
class Playbook:
    """Everything that decides and manages a trade: the strategy, its filters in order,
    the regime detector, stops and targets, position management, and the risk limits a
    backtest uses by default."""

    name: str
    strategy: Strategy
    filters: tuple[CandidateFilter, ...] = ()
    adaptive: AdaptiveStrategy | None = None  # regime-chosen stop multiplier when set
    regime: RegimeConfig = field(default_factory=RegimeConfig)
    stops: StopConfig = field(default_factory=StopConfig)
    management: ManagementRules = field(default_factory=ManagementRules)
    long_only: bool = True
    limits: Limits = field(default_factory=Limits)
    params: Mapping[str, Any] = field(default_factory=dict)  # the variant, for reports and records

    @property
    def uses_higher_timeframe(self) -> bool:
        """Whether a filter reads the higher timeframe's trend (it then needs its candles)."""
        return any(isinstance(f, HigherTimeframeFilter) for f in self.filters)

    def warmup(self, timeframe: str) -> int:
        """Candles of `timeframe` before the first decision: the strategy's and, when the
        regime chooses stops or filters, the regime baseline's (counted in time)."""
        regime = self.regime.warmup(timeframe) if self.adaptive is not None else 0
        return max(self.strategy.warmup(timeframe), regime)

    @property
    def label(self) -> str:
        """The name with its variant, e.g. `donchian(channel_days=20, exit=trail)`."""
        inner = ", ".join(f"{k}={_text(v)}" for k, v in self.params.items())
        return f"{self.name}({inner})" if inner else self.name

    def describe(self) -> dict[str, Any]:
        """JSON-ready identity of the playbook: name, variant, exit style, sides."""
        return {"name": self.name, "params": dict(self.params), "long_only": self.long_only}


def _text(value: Any) -> str:
    if isinstance(value, tuple | list | frozenset | set):
        return "+".join(str(v) for v in value) or "none"
    return str(value)


def _filters(names: tuple[str, ...], adaptive: AdaptiveStrategy) -> tuple[CandidateFilter, ...]:
    unknown = set(names) - set(FILTER_NAMES)
    if unknown:
        raise ValueError(f"unknown filters {sorted(unknown)}; choose from {FILTER_NAMES}")
    build: dict[str, Callable[[], CandidateFilter]] = {
        "mtf": HigherTimeframeFilter,
        "adx": AdxFilter,
        "volume": VolumeFilter,
        "regime": lambda: RegimeFilter(adaptive),
    }
    return tuple(build[name]() for name in FILTER_NAMES if name in names)


def fixed_target_exit() -> tuple[StopConfig, ManagementRules]:
    """The seeds' exit: TP1 1.5 R closes half, stop to break-even, a 2 x ATR trail after
    TP1, TP2 2.5 R closes the rest."""
    return StopConfig(tp1_r=1.5, tp2_r=2.5), ManagementRules()


def trailing_exit(atr_multiplier: float, tp1_r: float = 2.0, tp2_r: float = 10.0) -> tuple[StopConfig, ManagementRules]:
    """A trend follower's exit: the stop starts `atr_multiplier` x ATR away and trails as
    far behind the best price from the entry on; TP1 takes a third, the rest trails
    (TP2 far away closes what is left if the trail has not)."""
    stops = StopConfig(atr_multiplier=atr_multiplier, tp1_r=tp1_r, tp2_r=tp2_r)
    rules = ManagementRules(
        tp1_fraction=1 / 3, breakeven_after_tp1=False, trail_atr_multiplier=atr_multiplier, trail_from_entry=True
    )
    return stops, rules


def _exit(style: str, atr_multiplier: float) -> tuple[StopConfig, ManagementRules]:
    if style == "targets":
        return fixed_target_exit()
    if style == "trail":
        return trailing_exit(atr_multiplier)
    raise ValueError(f"unknown exit {style!r}: targets or trail")


def hybrid_playbook(
    filters: tuple[str, ...] = ("mtf", "volume"), exit: str = "trail", long_only: bool = True
) -> Playbook:
    """The seeds' engine: trend-momentum candidates; regime-dependent ATR stops (2
    trending, 1.5 ranging, 3 volatile); a time-of-day filter with no blocked hour (kept for
    admins). The seeds' full set is `filters=FILTER_NAMES, exit="targets"` (MTF, ADX, volume
    and regime filters, TP1 1.5 R half, TP2 2.5 R); the defaults are what the walk-forward
    supports: the MTF and volume filters raised the out-of-sample expectancy, ADX and the
    regime filter did not, and the 3 x ATR trail from the entry beat the fixed targets."""
    adaptive = AdaptiveStrategy()
    stops, rules = _exit(exit, 3.0)
    return Playbook(
        name="hybrid",
        strategy=TrendMomentumStrategy(),
        filters=(*_filters(filters, adaptive), TimeOfDayFilter()),
        adaptive=adaptive,
        stops=stops,
        management=rules,
        long_only=long_only,
        params={"filters": tuple(f for f in FILTER_NAMES if f in filters), "exit": exit},
    )


def hybrid_seeds_playbook() -> Playbook:
    """The seeds' hybrid exactly as the client's notes specify it: every filter, the fixed
    targets (TP1 1.5 R half, break-even, 2 x ATR trail after TP1, TP2 2.5 R)."""
    return dataclasses.replace(hybrid_playbook(filters=FILTER_NAMES, exit="targets"), name="hybrid_seeds")


def donchian_playbook(
    channel_days: float = 20.0,
    atr_multiplier: float = 8.0,
    filters: tuple[str, ...] = ("mtf",),
    exit: str = "trail",
    long_only: bool = True,
) -> Playbook:
    """Channel breakout: long on a close above the last `channel_days`' high; the stop
    `atr_multiplier` x ATR away and, with the trailing exit, trailing as far behind the
    best price (held for days); TP1 2 R takes a third. Defaults: the walk-forward's (a
    20-day channel, the 4h trend agreeing, an 8 x ATR trail)."""
    adaptive = AdaptiveStrategy()
    stops, rules = _exit(exit, atr_multiplier)
    return Playbook(
        name="donchian",
        strategy=DonchianBreakoutStrategy(channel_days),
        filters=_filters(filters, adaptive),
        stops=stops,
        management=rules,
        long_only=long_only,
        params={"channel_days": channel_days, "atr": atr_multiplier, "filters": filters, "exit": exit},
    )


def tsmom_playbook(
    lookback_days: float = 5.0,
    atr_multiplier: float = 8.0,
    filters: tuple[str, ...] = (),
    exit: str = "trail",
    long_only: bool = True,
) -> Playbook:
    """Time-series momentum: long when the `lookback_days` return turns positive; the
    size risk-scaled to an `atr_multiplier` x ATR stop (volatility-scaled); the stop
    trails from the entry with the trailing exit; TP1 2 R takes a third."""
    adaptive = AdaptiveStrategy()
    stops, rules = _exit(exit, atr_multiplier)
    return Playbook(
        name="tsmom",
        strategy=TimeSeriesMomentumStrategy(lookback_days),
        filters=_filters(filters, adaptive),
        stops=stops,
        management=rules,
        long_only=long_only,
        params={"lookback_days": lookback_days, "atr": atr_multiplier, "filters": filters, "exit": exit},
    )


def sma_cross_playbook(fast: int = 10, slow: int = 30, stop_pct: float = 2.0, take_profit_pct: float = 4.0) -> Playbook:
    """Reference: SMA cross, fixed-percent stop and one take-profit, no filters, no
    trailing, longs and shorts; up to 5 positions of 20% of equity each. Proves the
    accounting (the test suite matches backtesting.py trade for trade)."""
    target_r = take_profit_pct / stop_pct
    return Playbook(
        name="sma_cross",
        strategy=SmaCrossStrategy(fast, slow),
        stops=StopConfig(mode=StopType.FIXED, fallback_stop_pct=stop_pct, tp1_r=target_r, tp2_r=target_r),
        management=ManagementRules(tp1_fraction=1.0, breakeven_after_tp1=False, trail_atr_multiplier=0.0),
        long_only=False,
        limits=Limits(
            max_open_positions=5,
            risk_per_trade_pct=100.0,
            max_position_pct=20.0,
            max_total_risk_pct=100.0,
            max_correlation=1.0,
            max_daily_loss_pct=100.0,
            max_drawdown_pct=100.0,
            kelly_fraction=0.0,
        ),
        params={"fast": fast, "slow": slow, "stop_pct": stop_pct, "take_profit_pct": take_profit_pct},
    )


PLAYBOOKS: dict[str, Callable[[], Playbook]] = {
    "hybrid": hybrid_playbook,
    "hybrid_seeds": hybrid_seeds_playbook,
    "donchian": donchian_playbook,
    "tsmom": tsmom_playbook,
    "sma_cross": sma_cross_playbook,
}

#: What the bot runs and `python -m core.backtest` tests without flags: the only playbook
#: whose walk-forward had a positive out-of-sample expectancy with its 95 % interval above
#: zero, >= 30 trades and a max drawdown <= 20 % (README, "Walk-forward research").
DEFAULT_PLAYBOOK = "donchian"


def playbook(name: str) -> Playbook:
    """The playbook registered under `name`, with its default parameters."""
    if name not in PLAYBOOKS:
        raise ValueError(f"unknown strategy {name!r}; choose one of {sorted(PLAYBOOKS)}")
    return PLAYBOOKS[name]()


def default_playbook() -> Playbook:
    return playbook(DEFAULT_PLAYBOOK)

"""What the research may choose, per playbook: a small grid of parameters, switches for
each filter, and the exit style (fixed targets against a trailing exit).

Numeric axes are ordered (their neighbours make the plateau); switches and exit styles
are what the report says earn their place or not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.backtest.research.walkforward import Config, Grid
from core.signals.playbooks import Playbook, donchian_playbook, hybrid_playbook, tsmom_playbook


@dataclass(frozen=True, slots=True)
class PlaybookSpace:
    name: str
    grid: Grid
    build: Callable[[Config], Playbook]
    default: Config  # the factory's defaults: the choice when no configuration has enough trades
    switches: tuple[str, ...]  # axes whose worth the report measures (filters, exit style)

    def restricted(self, axis: str, value: Any) -> PlaybookSpace:
        """This space with `axis` fixed (its default moved onto that value)."""
        default = tuple((name, value if name == axis else v) for name, v in self.default)
        return PlaybookSpace(self.name, self.grid.restricted(axis, value), self.build, default, self.switches)


def _hybrid(config: Config) -> Playbook:
    params = dict(config)
    filters = tuple(name for name in ("mtf", "adx", "volume", "regime") if params[name])
    return hybrid_playbook(filters=filters, exit=params["exit"])


def _trend(factory: Callable[..., Playbook], window: str) -> Callable[[Config], Playbook]:
    def build(config: Config) -> Playbook:
        params = dict(config)
        return factory(
            params[window], atr_multiplier=params["atr"], filters=("mtf",) if params["mtf"] else (), exit=params["exit"]
        )

    return build


def _defaults(grid: Grid, **values: Any) -> Config:
    config = tuple((name, values[name]) for name in grid.axes)
    if config not in grid.configs():
        raise ValueError(f"default {config} is not in the grid")
    return config


def spaces() -> dict[str, PlaybookSpace]:
    """The research's playbooks by name."""
    on_off = (True, False)
    hybrid = Grid({"mtf": on_off, "adx": on_off, "volume": on_off, "regime": on_off, "exit": ("targets", "trail")})
    donchian = Grid(
        {"channel_days": (5.0, 10.0, 20.0), "atr": (3.0, 5.0, 8.0), "mtf": (False, True), "exit": ("trail", "targets")},
        frozenset({"channel_days", "atr"}),
    )
    exits = ("trail", "targets")
    tsmom = Grid(
        {"lookback_days": (5.0, 10.0, 20.0), "atr": (3.0, 5.0, 8.0), "mtf": (False, True), "exit": exits},
        frozenset({"lookback_days", "atr"}),
    )
    return {
        "hybrid": PlaybookSpace(
            "hybrid",
            hybrid,
            _hybrid,
            _defaults(hybrid, mtf=True, adx=False, volume=True, regime=False, exit="trail"),
            ("mtf", "adx", "volume", "regime", "exit"),
        ),
        "donchian": PlaybookSpace(
            "donchian",
            donchian,
            _trend(donchian_playbook, "channel_days"),
            _defaults(donchian, channel_days=20.0, atr=8.0, mtf=True, exit="trail"),
            ("mtf", "exit"),
        ),
        "tsmom": PlaybookSpace(
            "tsmom",
            tsmom,
            _trend(tsmom_playbook, "lookback_days"),
            _defaults(tsmom, lookback_days=5.0, atr=8.0, mtf=False, exit="trail"),
            ("mtf", "exit"),
        ),
    }

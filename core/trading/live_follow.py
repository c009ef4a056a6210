"""Live trading with account streams, put together: the watchers, what they act on, and
the monitor's slow sweep, over one trading service and its live position manager."""

from __future__ import annotations

import time
from collections.abc import Callable

from core.ports import OrderRepository, PositionRepository
from core.trading.live import LivePositions
from core.trading.live_pacing import FollowPacing, StreamFollow
from core.trading.live_ports import Keyring, OrderStream
from core.trading.live_stream import AccountStreams, StreamConfig
from core.trading.service import TradingService


def follow_streams(
    trading: TradingService,
    manager: LivePositions,
    stream: OrderStream,
    *,
    keys: Keyring,
    orders: OrderRepository,
    positions: PositionRepository,
    sweep_seconds: float,
    admin_ids: frozenset[int],
    config: StreamConfig | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> AccountStreams:
    """The account streams of `trading` (start them with `run()`); from now on its monitor
    follows through REST only what the streams do not (core/trading/live_pacing.py)."""
    pacing = FollowPacing(sweep_seconds, manager.needs_care, monotonic=monotonic)
    target = StreamFollow(trading, orders, positions, keys)
    streams = AccountStreams(stream, target, trading.episodes, admin_ids, config or StreamConfig(), clock=monotonic)
    pacing.health = streams.healthy_since
    manager.vouched = pacing.vouched
    trading.pace(pacing)
    return streams

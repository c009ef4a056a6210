"""Whether each subscriber can take a new signal, before it is delivered (read only).

The same pure checks as a confirmation (`core.risk.limits.check_new_position`) on each
user's account as last seen: balance plus the unrealised P&L of their open positions, the
peak and the day's start as last marked (nothing is written here; the confirmation marks
them). A refusal names the catalogue key the confirmation would answer with.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from core.errors import UnknownSymbol
from core.models import Position, SignalDraft, User
from core.risk.limits import AccountSnapshot, Proposal, check_new_position, return_correlation
from core.trading.context import TradingContext

#: Candles the correlation check reads per symbol (as a confirmation does).
_CORRELATION_CANDLES = 200


@dataclass(frozen=True, slots=True)
class Refusal:
    key: str  # catalogue key, e.g. risk_max_open_positions
    params: dict[str, Any] = field(default_factory=dict)


class Eligibility:
    def __init__(self, ctx: TradingContext) -> None:
        self._ctx = ctx

    async def refusals(self, draft: SignalDraft, sized: Sequence[tuple[User, float]]) -> dict[int, Refusal]:
        """The users among `sized` (user, quantity) who could not take `draft` now."""
        ctx = self._ctx
        limits = await ctx.system.limits()
        marks = await ctx.users.equity_marks(ctx.clock.now().strftime("%Y-%m-%d"))
        holdings: defaultdict[int, list[Position]] = defaultdict(list)
        for position in await ctx.positions.open_positions():
            holdings[position.user_id].append(position)
        prices = {s: await self._price(s) for s in {p.symbol for ps in holdings.values() for p in ps}}
        closes: dict[str, pd.Series | None] = {}

        async def fetch(symbol: str) -> None:
            if symbol not in closes:
                try:
                    frame = await ctx.market_data.candles(symbol, ctx.config.timeframe, _CORRELATION_CANDLES)
                    closes[symbol] = frame["close"]
                except UnknownSymbol:  # a held coin's market is gone: no correlation to measure
                    closes[symbol] = None

        def correlation(a: str, b: str) -> float:
            first, second = closes.get(a), closes.get(b)
            if first is None or second is None:
                return 0.0
            value = return_correlation(first, second)
            return 0.0 if math.isnan(value) else value

        out: dict[int, Refusal] = {}
        lv = draft.levels
        for user, quantity in sized:
            positions = holdings.get(user.id, [])
            for symbol in {draft.symbol, *(p.symbol for p in positions)} if positions else ():
                await fetch(symbol)
            equity = user.paper_balance + sum(p.unrealized_pnl(prices[p.symbol] or p.entry_price) for p in positions)
            peak, day_start = marks.get(user.id, (None, None))
            account = AccountSnapshot(
                equity, max(peak or equity, equity), day_start if day_start is not None else equity, positions
            )
            decision = check_new_position(
                limits, account, Proposal(draft.symbol, lv.side, lv.entry, lv.stop, quantity), correlation
            )
            if not decision.allowed:
                out[user.id] = Refusal(f"risk_{decision.reason}", dict(decision.detail))
        return out

    async def _price(self, symbol: str) -> float | None:
        """A held symbol's price; None when its market is gone (delisted): its positions are
        then valued at their entry, so one delisted coin cannot stop a signal for everyone."""
        try:
            return await self._ctx.market_data.last_price(symbol)
        except UnknownSymbol:
            return None

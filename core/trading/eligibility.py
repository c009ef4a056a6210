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

from core.errors import ExchangeError
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
        prices: dict[str, float] = {}
        closes: dict[str, pd.Series] = {}
        unreadable: set[str] = set()  # a market that does not answer (delisted, down): not judged here

        async def fetch(symbol: str) -> bool:
            if symbol in unreadable:
                return False
            try:
                if symbol not in closes:
                    frame = await ctx.market_data.candles(symbol, ctx.config.timeframe, _CORRELATION_CANDLES)
                    closes[symbol] = frame["close"]
                if symbol not in prices:
                    prices[symbol] = await ctx.market_data.last_price(symbol)
            except ExchangeError:
                unreadable.add(symbol)
                return False
            return True

        def correlation(a: str, b: str) -> float:
            value = return_correlation(closes[a], closes[b])
            return 0.0 if math.isnan(value) else value

        out: dict[int, Refusal] = {}
        lv = draft.levels
        for user, quantity in sized:
            positions = holdings.get(user.id, [])
            symbols = {draft.symbol, *(p.symbol for p in positions)} if positions else set()
            if not all([await fetch(symbol) for symbol in sorted(symbols)]):
                continue  # one of their markets does not answer: the confirmation checks again
            equity = user.paper_balance + sum(p.unrealized_pnl(prices[p.symbol]) for p in positions)
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

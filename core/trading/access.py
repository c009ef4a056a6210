"""Who may use the bot: with ACCESS=approval a new user waits until an admin approves them
(every admin gets the request with Approve / Block buttons); an admin can block anyone.
With ACCESS=open nothing changes: every user is active."""

from __future__ import annotations

from core.errors import UserError
from core.events import AccessRequested, Alert
from core.models import User
from core.trading.context import TradingContext

ACTIVE, WAITING, BLOCKED = "active", "waiting", "blocked"


class AccessControl:
    def __init__(self, ctx: TradingContext, mode: str = "open") -> None:
        self._ctx = ctx
        self._mode = mode

    async def on_start(self, user: User, new: bool, name: str) -> str:
        """The user's access after /start: a new user waits under approval (the admins
        are asked); admins are always active."""
        ctx = self._ctx
        if user.id in ctx.config.admin_ids or self._mode != "approval" or not new:
            return user.access
        await ctx.users.set_access(user.id, WAITING)
        requests = [AccessRequested(admin, user.id, name[:64]) for admin in sorted(ctx.config.admin_ids)]
        await ctx.outbox.enqueue(requests, ctx.clock.now())
        ctx.wake()
        return WAITING

    async def decide(self, admin_id: int, user_id: int, access: str) -> User:
        """An admin approves (active) or blocks a user; the user is told."""
        ctx = self._ctx
        if admin_id not in ctx.config.admin_ids:
            raise UserError("admin_only")
        if access not in (ACTIVE, BLOCKED) or user_id in ctx.config.admin_ids:
            raise UserError("button_stale")
        if not await ctx.users.set_access(user_id, access):
            raise UserError("access_unknown_user", user=user_id)
        await ctx.outbox.enqueue([Alert(user_id, f"access_{access}")], ctx.clock.now())
        ctx.wake()
        user = await ctx.users.get(user_id)
        assert user is not None
        return user

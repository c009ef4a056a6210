"""Delivery: the outbox drained into Telegram within its limits.

- `worker.py`: the dispatcher (which chat may receive now, lifecycle, stop and abort);
- `attempt.py`: one try of one row (claim at its turn, what each Bot API answer means);
- `sending.py`: the Bot API calls of a message (photo with chart, text, edit of a signal).

The rate limiter every Bot API call goes through is `bot/ratelimit.py`; what comes in
(updates persisted, one user's flood bounded) is `bot/intake.py`.
"""

from bot.delivery.attempt import DeliveryObserver, Outcome
from bot.delivery.worker import DeliveryWorker

__all__ = ["DeliveryObserver", "DeliveryWorker", "Outcome"]

"""A standby takes over: two real `python -m bot` processes on one PostgreSQL database, the
leader killed with SIGKILL in the middle of a fan-out (tests/db/failover.py). Nothing is
lost; a user gets the signal twice only if it was in flight when the leader died (the
outbox's documented in-doubt window)."""

from __future__ import annotations

from pathlib import Path

from tests.db.failover import run_failover
from tests.fakes.bot_api import FakeBotApi
from tests.postgres import PostgresServer

USERS = 40


async def test_the_standby_takes_over_a_fan_out_when_the_leader_is_killed(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    url = await postgres.create_database(migrated=False)  # the leader migrates it
    try:
        async with FakeBotApi() as fake:
            result = await run_failover(fake, url, tmp_path, users=USERS, kill_after=8)
    finally:
        await postgres.drop_database(url)
    print(f"lock {result.lock_seconds:.1f} s, takeover {result.takeover_seconds:.1f} s, phases {result.phases}")
    counts = result.signal_counts
    assert set(counts) == set(result.users)  # nothing lost
    assert 8 <= result.sent_before_kill < USERS  # the leader died mid fan-out
    twice = {user for user, n in counts.items() if n > 1}
    assert twice <= result.in_doubt and max(counts.values()) <= 2  # only what was in flight, at most twice
    assert "another instance is the leader: waiting as a standby" in result.standby_log
    assert "leader lock taken over: this instance is the leader now" in result.standby_log
    assert result.standby_log.index("waiting as a standby") < result.standby_log.index("ATRA started")
    assert 0 < result.lock_seconds <= result.takeover_seconds
    # The issue asks for a takeover within 30 s; measured about 3 s (bench/bench_failover.py).
    assert result.takeover_seconds < 30, result.takeover_seconds
    assert result.standby_exit == 0

"""Failover on PostgreSQL: two `python -m bot` processes on one database and the fake Bot
API on 127.0.0.1; the leader is killed (SIGKILL) in the middle of a signal's fan-out and
the standby takes over (the scenario of tests/db/test_failover.py, tests/db/failover.py).

    python bench/bench_failover.py [--users 200] [--runs 3]

Starts a throwaway PostgreSQL cluster (initdb + pg_ctl on 127.0.0.1; as root it runs as
the `postgres` user), or uses ATRA_TEST_POSTGRES_URL. Prints, per run, the seconds from the
kill to the standby holding the leader lock and to the standby running everything again,
the messages the leader delivered before it died, losses, duplicates and rows in doubt.
Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.db.failover import run_failover  # noqa: E402
from tests.fakes.bot_api import FakeBotApi  # noqa: E402
from tests.postgres import PostgresServer  # noqa: E402


async def one_run(server: PostgresServer, users: int) -> tuple[float, float]:
    url = await server.create_database(migrated=False)
    with tempfile.TemporaryDirectory() as folder:
        async with FakeBotApi() as fake:
            result = await run_failover(fake, url, Path(folder), users=users, kill_after=users // 5)
    await server.drop_database(url)
    counts = result.signal_counts
    lost = len(set(result.users) - set(counts))
    twice = {user for user, n in counts.items() if n > 1}
    print(
        f"lock taken {result.lock_seconds:5.1f} s  running again {result.takeover_seconds:5.1f} s after the kill;"
        f" {result.sent_before_kill}/{users} sent by the leader, {lost} lost, {len(twice)} twice"
        f" ({len(twice - result.in_doubt)} of them not in doubt), {len(result.in_doubt)} in doubt"
    )
    return result.lock_seconds, result.takeover_seconds


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    url = os.environ.get("ATRA_TEST_POSTGRES_URL")
    server = PostgresServer(url) if url else PostgresServer.start()
    try:
        figures = [await one_run(server, args.users) for _ in range(args.runs)]
    finally:
        server.stop()
    locks, takeovers = zip(*figures, strict=True)
    print(
        f"median over {args.runs} runs: lock {statistics.median(locks):.1f} s,"
        f" running again {statistics.median(takeovers):.1f} s (max {max(takeovers):.1f} s)"
    )


if __name__ == "__main__":
    asyncio.run(main())

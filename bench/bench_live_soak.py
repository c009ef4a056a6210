"""The soak, long: 200 confirmations from 50 users through the LIVE trading service, the real
ccxt client and the fake Binance on 127.0.0.1, with faults drawn at random all along
(answers lost after the exchange took the order: timeouts, 5xx, 503 -1007 executed late;
5xx before it did; 429 with Retry-After; slow tickers), one user's key revoked and one
symbol delisted midway, then prices through targets and stops, then the exchange answering
again. The scenario is tests/core/trading/soak.py; the promises, soak_checks.py.

Run: python -m bench.bench_live_soak [--users 50] [--seed 7] [--fault-rate 0.05] [--weight 100]

Budgets are Binance spot's with every window scaled to 1 s and every RATE kept: request
weight 6000/60 s -> 100/1 s per IP; orders 50/10 s -> 5/1 s per account.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
from pathlib import Path

from tests.core.trading.soak import SoakConfig, run_soak
from tests.core.trading.soak_checks import SoakFigures, check


def report(f: SoakFigures, config: SoakConfig) -> None:
    print(
        f"soak: {f.confirmations} confirmations from {config.users} users, seed {config.seed}, "
        f"fault rate {config.fault_rate:.0%} per kind, weight budget {config.weight_limit}/s"
    )
    print(
        "faults met: "
        + ", ".join(f"{k} {v}" for k, v in f.faults.most_common())
        + f" (429s answered: {f.rate_limited})"
    )
    print("answers to the presses: " + ", ".join(f"{k} {v}" for k, v in f.outcomes.most_common()))
    one, none = f.intents_by_entries[1], f.intents_by_entries[0]
    more = sum(v for k, v in f.intents_by_entries.items() if k > 1)
    print(f"confirmed intents {f.intents}: one entry order {one}, none {none}, two or more {more}")
    print(
        f"entries filled {f.filled_entries}: in a position {f.filled_entries - f.filled_without_position}, "
        f"flagged without one {f.filled_without_position - len(f.unflagged_fills)}, neither {len(f.unflagged_fills)}"
    )
    print(
        f"positions open {f.open_positions} (covered on the exchange {f.covered}, flagged {f.flagged}, "
        f"neither {len(f.unprotected)}), closed {f.closed_positions}"
    )
    print(
        f"orders on the exchange {f.orders_checked}: the database disagrees on {len(f.disagreements)} "
        f"(of the revoked key or the delisted pair, checked to exist only: {f.orders_unreadable})"
    )
    print(
        f"monitor: {f.monitor_runs} runs ({f.runs_during_burst} during the burst), slowest {f.monitor_slowest:.1f} s, "
        f"failures {len(f.monitor_errors)}"
    )
    print(f"burst {f.burst:.1f} s, whole soak {f.elapsed:.1f} s")
    problems = f.problems()
    print("PROMISES KEPT" if not problems else "BROKEN: " + "; ".join(problems))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fault-rate", type=float, default=0.05)
    parser.add_argument("--weight", type=int, default=100)
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # the soak's own errors are expected; the figures say it all
    config = SoakConfig(users=args.users, seed=args.seed, fault_rate=args.fault_rate, weight_limit=args.weight)
    with tempfile.TemporaryDirectory() as folder:
        run = await run_soak(config, Path(folder))
        try:
            figures = await check(run)
        finally:
            await run.db.close()
    report(figures, config)


if __name__ == "__main__":
    asyncio.run(main())

"""Following 1,000 open live positions across 200 accounts with account streams (issue 12):
the request weight it costs, against the poll every position paid before, and how soon a
fill is booked after the exchange reports it.

Run: python -m bench.bench_live_streams [--accounts 200] [--minutes 10] [--fills 300] [--stream memory]

The LIVE trading service (tests/core/trading/live_world.py: the real ccxt client, SQLite)
over the fake Binance on 127.0.0.1, which counts request weight like Binance (openOrders 6,
order 4, account 20, ...). Each account holds 5 positions (one per symbol), each protected
by two OCO lists. The streams run (`--stream memory`: the in-memory stream of the tests,
which sends what the fake exchange's state shows; `ws`: the bot's ccxt.pro adapter, one
WebSocket per account to the fake's WebSocket API), then a few simulated minutes pass:
every 30 s of the simulated clock a batch of TP1 fills happens on the exchange (each is
booked from its event: the position's orders read once, its stop moved to break-even) and
the monitor runs (the sweep, the holdings audit). At the end the monitor runs once more with
every position polled, as it did without streams, for the figure to beat.

Latency: from the exchange changing the order (the fake pushes the event at that moment)
to the transaction that books the fill returning. Market data (candles, prices: shared by
every position of a symbol) is not counted: it costs the same with or without streams.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bench.live_streams_rig import KEYS, Rig, build_rig
from tests.core.trading.live_world import eventually

BUDGET = 6000  # Binance spot: request weight per minute per IP
STEP = 30.0  # seconds of the simulated clock between monitor runs (MONITOR_INTERVAL_SECONDS)


@dataclass
class Figures:
    positions: int
    accounts: int
    connect_weight: int = 0
    minutes: float = 0.0
    run_weight: int = 0
    fill_weight: int = 0
    fills: int = 0
    latencies: list[float] | None = None
    poll_weight: int = 0
    polled: int = 0  # positions open when the poll-only run ran
    calls: Counter[str] | None = None


def weight(rig: Rig) -> int:
    return sum(rig.world.fake.weight_windows.values())


def calls_since(rig: Rig, start: int) -> Counter[str]:
    routes = rig.world.fake._routes
    out: Counter[str] = Counter()
    for r in rig.world.fake.requests[start:]:
        out[f"{r.method} {r.path}"] += routes[(r.method, r.path)].weight
    return out


async def connect(rig: Rig, f: Figures) -> None:
    """The streams come up; each account is reconciled through REST once."""
    before = weight(rig)
    rig.task = asyncio.create_task(rig.streams.run())
    users = {p.user_id for p in await rig.world.positions.open_positions()}

    async def all_up() -> bool:
        return all(rig.streams.healthy_since(u) is not None for u in users)

    await eventually(all_up, within=600.0)
    f.connect_weight = weight(rig) - before


async def fill_batch(rig: Rig, chosen: list[tuple[int, str]], f: Figures) -> None:
    """TP1 of each chosen position fills on the exchange; wait until each is booked."""
    fake = rig.world.fake
    before = weight(rig)
    for user_id, cid in chosen:
        key = KEYS.format(user_id)
        order = next(o for o in fake.open_orders(key) if o.client_order_id == cid)
        fake.fill_partially(key, cid, order.orig_qty - order.executed_qty)

    async def booked() -> bool:
        return all(cid in rig.booked for _, cid in chosen)

    await eventually(booked, within=120.0)
    await rig.idle()  # the follow that booked it also moves the stop: let it finish
    f.fill_weight += weight(rig) - before
    f.fills += len(chosen)
    assert f.latencies is not None
    f.latencies += [rig.booked[cid] - rig.pushed[cid] for _, cid in chosen]


async def simulate(rig: Rig, minutes: float, fills: int, f: Figures, seed: int) -> None:
    targets = [(p.user_id, f"atra-p{p.id}-a1-tp") for p in await rig.world.positions.open_positions()]
    random.Random(seed).shuffle(targets)
    steps = int(minutes * 60 / STEP)
    per_step = -(-fills // steps)
    start_requests = len(rig.world.fake.requests)
    for step in range(steps):
        await fill_batch(rig, targets[step * per_step : (step + 1) * per_step], f)
        rig.world.clock.advance(timedelta(seconds=STEP))
        before = weight(rig)
        await rig.world.trading.monitor()
        f.run_weight += weight(rig) - before
    f.minutes = steps * STEP / 60
    f.calls = calls_since(rig, start_requests)


async def poll_all(rig: Rig, f: Figures) -> None:
    """One monitor run as without streams: every open position read through REST."""
    rig.task.cancel()
    await asyncio.gather(rig.task, return_exceptions=True)
    rig.world.trading.pace(None)
    f.polled = len(await rig.world.positions.open_positions())
    before = weight(rig)
    await rig.world.trading.monitor()
    f.poll_weight = weight(rig) - before


def pct(per_minute: float) -> str:
    return f"{per_minute:,.0f}/min = {per_minute / BUDGET:.1%} of the {BUDGET:,}/min IP budget"


def report(f: Figures, sweep: float) -> None:
    per_pos = f.poll_weight / f.polled
    print(f"{f.positions} open live positions across {f.accounts} accounts; sweep every {sweep:.0f} s")
    print(f"streams up: each account reconciled once through REST: {f.connect_weight:,} weight (once)")
    runs, hourly = f.run_weight / f.minutes, f.poll_weight / 60
    print(f"following them, over {f.minutes:.0f} simulated minutes (monitor every {STEP:.0f} s):")
    print(f"  monitor runs (the sweep, the holdings audit every 10 min): {pct(runs)}")
    print(
        f"  every position read once an hour (candle close or backstop; not in the run, from the poll): {pct(hourly)}"
    )
    print(f"  following in all: {pct(runs + hourly)}")
    print(
        f"booking {f.fills} TP1 fills from their events ({f.fill_weight / f.fills:.0f} weight a fill: the read, "
        f"its trades, the stop moved to break-even; as much with polling): {pct(f.fill_weight / f.minutes)}"
    )
    assert f.calls is not None
    print("  by endpoint, runs and fills: " + ", ".join(f"{k} {v:,}" for k, v in f.calls.most_common()))
    print(
        f"poll only (every position each {STEP:.0f} s run, as before), {f.polled} positions: "
        f"{f.poll_weight:,} weight a run ({per_pos:.1f} a position): {pct(f.poll_weight * 60 / STEP)}"
    )
    print(f"  the same at 500 positions: {pct(per_pos * 500 * 60 / STEP)}")
    assert f.latencies
    ms = sorted(x * 1000 for x in f.latencies)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    print(f"fill to booked, {len(ms)} fills: p50 {statistics.median(ms):.0f} ms, p99 {p99:.0f} ms, max {ms[-1]:.0f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--fills", type=int, default=300)
    parser.add_argument("--sweep", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--stream", choices=("memory", "ws"), default="memory")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # ccxt.pro's own futures of timed-out connects
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        rig = await build_rig(Path(folder), args.accounts, args.sweep, args.stream)
        try:
            f = Figures(positions=len(await rig.world.positions.open_positions()), accounts=args.accounts, latencies=[])
            await connect(rig, f)
            await simulate(rig, args.minutes, args.fills, f, args.seed)
            await poll_all(rig, f)
        finally:
            await rig.close()
    print(f"stream: {args.stream}")
    report(f, args.sweep)
    print(f"(bench took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    asyncio.run(main())

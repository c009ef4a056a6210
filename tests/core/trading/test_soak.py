"""The soak, short: 24 confirmations from 6 users through the live service, the real ccxt
client and the fake Binance, with faults drawn at random (seeded) all along, a key revoked
and a symbol delisted midway. The long one (200 from 50, Binance's own rates) is
`python -m bench.bench_live_soak`; both check the same promises (soak_checks.py).

The request-weight budget is 4x Binance's rate here (400 per 1 s window instead of 100) to
keep the test short; the faults, the receive window and the flow are the same.
"""

from __future__ import annotations

from pathlib import Path

from tests.core.trading.soak import SoakConfig, run_soak
from tests.core.trading.soak_checks import check


async def test_the_soak_keeps_every_promise(tmp_path: Path) -> None:
    run = await run_soak(SoakConfig(users=6, revoked_user=3, fault_rate=0.08, weight_limit=400), tmp_path)
    try:
        figures = await check(run)
    finally:
        await run.db.close()
    print(figures)  # noqa: T201 - the figures, for the record (pytest -s)
    assert figures.problems() == []
    # ... and it was a soak: faults of several kinds met, entries filled and protected, both
    # midway events felt, the monitor running through the burst
    assert len(figures.faults) >= 3 and sum(figures.faults.values()) >= 10, figures.faults
    assert figures.filled_entries >= 8 and figures.covered >= 4
    assert figures.orders_unreadable >= 1 and figures.intents_by_entries[0] >= 1
    assert figures.runs_during_burst >= 2 and figures.monitor_runs > figures.runs_during_burst

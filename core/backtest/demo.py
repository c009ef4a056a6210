"""`make demo`: the engine alone, no bot, over the repo's sample candles.

Replays the market hour by hour and prints every signal the engine finds, with its
stop and targets, exactly as the bot's scan job would produce them.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.clock import ManualClock
from core.exchange.replay import ReplayMarketData
from core.signals.engine import SignalEngine
from core.timeframes import timeframe_delta

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "ohlcv"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run the signal engine over sample candles and print its signals.")
    parser.add_argument("--data", type=Path, default=DATA_DIR, help="folder of <SYMBOL>-<timeframe>.csv files")
    parser.add_argument("--symbols", default="BTC/USD,ETH/USD,LTC/USD,XRP/USD,EOS/USD")
    parser.add_argument("--timeframe", default="1h")
    parser.add_argument("--start", default="2019-03-01", help="UTC date the replay starts")
    parser.add_argument("--days", type=int, default=14)
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    start = datetime.fromisoformat(args.start).replace(tzinfo=UTC)
    clock = ManualClock(start)
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
    market = ReplayMarketData(args.data, clock, symbols, args.timeframe)
    engine = SignalEngine(market, args.timeframe, clock)
    step = timeframe_delta(args.timeframe)
    end = start + timedelta(days=args.days)
    print(f"ATRA engine demo: {', '.join(market.symbols())} {args.timeframe}, {start:%Y-%m-%d} .. {end:%Y-%m-%d}")
    header = ("candle (UTC)", "symbol", "side", "entry", "stop", "tp1", "tp2", "stop %")
    print(
        f"{header[0]:<17}{header[1]:<10}{header[2]:<6}" + "".join(f"{h:>13}" for h in header[3:7]) + f"{header[7]:>8}"
    )
    count = 0
    while clock.now() < end:
        clock.advance(step)
        result = await engine.scan(market.symbols())
        for s in result.signals:
            lv = s.levels
            print(
                f"{s.candle_time:%Y-%m-%d %H:%M} {s.symbol:<9} {lv.side.value:<5} {lv.entry:>12.6g} {lv.stop:>12.6g}"
                f" {lv.tp1:>12.6g} {lv.tp2:>12.6g} {lv.stop_pct:>6.2f}%"
            )
            count += 1
    rejected = ", ".join(f"{reason} {n}" for reason, n in engine.rejections.most_common())
    print(f"\n{count} signal(s); candidates rejected by reason: {rejected or 'none'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())

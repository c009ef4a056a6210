import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.backtest.cli import main
from core.backtest.data import load_candles
from core.backtest.simulation import BacktestConfig, run_backtest
from core.exchange.replay import load_csv
from core.rules.fills import FillModel
from core.signals.playbooks import hybrid_playbook, sma_cross_playbook

DATA = Path(__file__).resolve().parents[3] / "data" / "ohlcv"


def hourly_candles(rows: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=len(rows), freq="h", tz="UTC")
    frame = pd.DataFrame(rows, columns=["open", "high", "low", "close"], index=index)
    return frame.assign(volume=1.0)


def test_one_trade_worked_by_hand():
    candles = hourly_candles(
        [
            (100.0, 100.0, 100.0, 100.0),
            (99.0, 99.0, 99.0, 99.0),
            (98.0, 98.0, 98.0, 98.0),
            (99.0, 99.0, 99.0, 99.0),  # SMA2 98.5 < SMA3 98.67
            (101.0, 101.0, 101.0, 101.0),  # SMA2 100 > SMA3 99.33: long at close 101
            (101.5, 103.0, 101.0, 102.0),  # fill at the open; stop 98.98 and TP 105.04 untouched
            (102.0, 106.0, 101.8, 105.5),  # TP 101 + 2 x 2.02 = 105.04 reached
            (105.5, 105.5, 105.5, 105.5),
        ]
    )
    strategy = sma_cross_playbook(fast=2, slow=3, stop_pct=2.0, take_profit_pct=4.0)
    limits = strategy.limits.replace(max_position_pct=50.0)
    config = BacktestConfig(
        initial_equity=10_000.0, fills=FillModel(fee_rate=0.001, slippage_pct=0.05), limits=limits
    )
    result = run_backtest({"X/USD": candles}, strategy, config)

    [trade] = result.trades
    entry = 101.5 * 1.0005  # market buy at the next open, 0.05% slippage = 101.55075
    # sized at the price seen at confirmation (the open, before slippage): risk 100% of equity
    # over 101.5 - 98.98 is far above the 50% cap, so 5 000 / 101.5
    quantity = 10_000.0 * 0.50 / 101.5
    fees = 0.001 * quantity * entry + 0.001 * quantity * 105.04  # take-profit fills at its price
    pnl = quantity * (105.04 - entry) - fees
    assert (trade.side, trade.exit_reason) == ("long", "tp1")
    assert trade.entry_time == candles.index[5] and trade.exit_time == candles.index[6]
    assert trade.entry_price == pytest.approx(entry) and trade.exit_price == pytest.approx(105.04)
    assert trade.quantity == pytest.approx(quantity)
    assert trade.pnl == pytest.approx(pnl)
    assert trade.pnl_pct == pytest.approx(pnl / (quantity * entry) * 100.0)
    assert result.equity.iloc[-1] == pytest.approx(10_000.0 + pnl)
    assert result.metrics.total_return_pct == pytest.approx(pnl / 100.0)
    assert result.exposure_pct == pytest.approx(1 / 8 * 100)  # open at one close of eight (candle 5)
    assert result.signals == 1


@pytest.fixture(scope="module")
def two_coins() -> dict[str, pd.DataFrame]:
    return {s: load_csv(DATA / f"{s.replace('/', '')}-1h.csv") for s in ("BTC/USD", "ETH/USD")}


def run_hybrid(candles, end: str) -> object:
    config = BacktestConfig(end=pd.Timestamp(end, tz="UTC"), fills=FillModel(0.001, 0.05))
    return run_backtest(candles, hybrid_playbook(), config)


def test_a_shorter_backtest_makes_the_same_trades_before_its_end(two_coins):
    short = run_hybrid(two_coins, "2018-02-15 00:00")
    long = run_hybrid(two_coins, "2018-03-31 23:00")
    last = short.equity.index[-1]
    finished = [t for t in short.trades if t.exit_reason != "end_of_data"]
    assert len(finished) >= 5
    assert finished == [t for t in long.trades if pd.Timestamp(t.exit_time) <= last]
    # the curves agree up to the short run's last candle, where it closes what is open
    pd.testing.assert_series_equal(short.equity.iloc[:-1], long.equity.loc[:last].iloc[:-1])


def test_signals_fill_at_the_next_candles_open(two_coins):
    from core.exchange.replay import resample
    from core.signals.engine import SignalPipeline

    result = run_hybrid(two_coins, "2018-03-31 23:00")
    pipeline = SignalPipeline(hybrid_playbook(), "1h")
    for trade in result.trades:
        candles = two_coins[trade.symbol]
        candles = candles[candles.index <= pd.Timestamp("2018-03-31 23:00", tz="UTC")]
        decided = pipeline.decide(candles, resample(candles, "4h"))
        row = decided.index.get_loc(pd.Timestamp(trade.entry_time))
        signal = decided.iloc[row - 1]
        assert signal["reason"] == "" and signal["side"] == (1 if trade.side == "long" else -1)
        slip = 1.0005 if trade.side == "long" else 0.9995
        assert trade.entry_price == pytest.approx(decided["open"].iloc[row] * slip)


class _Reference:
    """The same SMA cross in backtesting.py: enter at the next open on a cross with the
    stop and target at 2% and 4% of the signal close, exit only at them."""

    @staticmethod
    def build():
        from backtesting import Strategy

        from core.signals.indicators import sma

        class SmaCross(Strategy):
            def init(self):
                close = np.asarray(self.data.Close, dtype=float)
                self.fast = self.I(sma, close, 10)
                self.slow = self.I(sma, close, 30)

            def next(self):
                if self.position:
                    return
                close = self.data.Close[-1]
                if self.fast[-2] < self.slow[-2] and self.fast[-1] > self.slow[-1]:
                    self.buy(size=0.99, sl=close - close * 0.02, tp=close + 2.0 * (close * 0.02))
                elif self.fast[-2] > self.slow[-2] and self.fast[-1] < self.slow[-1]:
                    self.sell(size=0.99, sl=close + close * 0.02, tp=close - 2.0 * (close * 0.02))

        return SmaCross


def test_sma_cross_matches_backtesting_py(two_coins):
    from backtesting.lib import FractionalBacktest

    fee = 0.001
    candles = two_coins["BTC/USD"]
    candles = candles[(candles.index >= "2018-01-01") & (candles.index < "2018-07-01")]
    strategy = sma_cross_playbook()
    # backtesting.py sizes 99% of cash over price x (1 + commission); the same notional here:
    limits = strategy.limits.replace(max_position_pct=99.0 / (1 + fee), max_open_positions=1)
    config = BacktestConfig(
        initial_equity=1_000_000.0, fills=FillModel(fee_rate=fee, slippage_pct=0.0), limits=limits
    )
    ours = run_backtest({"BTC/USD": candles}, strategy, config)

    reference = FractionalBacktest(
        candles.rename(columns=str.capitalize), _Reference.build(), cash=1_000_000.0, commission=fee,
        finalize_trades=True, fractional_unit=1e-8,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = reference.run()
    theirs = stats["_trades"]

    # backtesting.py closes trades left open at the end at the last open, we at the last close:
    # this window ends flat, so every trade and the total are comparable
    assert ours.trades[-1].exit_reason != "end_of_data"
    assert len(ours.trades) == len(theirs) > 100
    assert [pd.Timestamp(t.entry_time) for t in ours.trades] == list(theirs["EntryTime"])
    assert [pd.Timestamp(t.exit_time) for t in ours.trades] == list(theirs["ExitTime"])
    np.testing.assert_allclose([t.entry_price for t in ours.trades], theirs["EntryPrice"], rtol=1e-9)
    np.testing.assert_allclose([t.exit_price for t in ours.trades], theirs["ExitPrice"], rtol=1e-9)
    np.testing.assert_allclose([t.pnl_pct / 100 for t in ours.trades], theirs["ReturnPct"], atol=1e-9)
    np.testing.assert_allclose(ours.equity.to_numpy(), stats["_equity_curve"]["Equity"].to_numpy(), rtol=1e-8)
    assert ours.metrics.total_return_pct == pytest.approx(stats["Return [%]"], abs=1e-6)


def test_load_candles_resamples_a_timeframe_without_a_file():
    four_hour = load_candles(DATA, "BTC/USD", "4h")
    hourly = load_csv(DATA / "BTCUSD-1h.csv").iloc[:4]  # 00:00..03:00 of 2017-10-01
    first = four_hour.iloc[0]
    assert first["open"] == hourly["open"].iloc[0] and first["close"] == hourly["close"].iloc[-1]
    assert first["high"] == hourly["high"].max() and first["low"] == hourly["low"].min()
    assert first["volume"] == pytest.approx(hourly["volume"].sum())
    with pytest.raises(FileNotFoundError):
        load_candles(DATA, "DOGE/USD", "1h")


def test_command_line_writes_json_and_plot(tmp_path, capsys):
    out_json, out_png = tmp_path / "result.json", tmp_path / "equity.png"
    code = main([
        "--data", str(DATA), "--symbols", "BTC/USD,ETH/USD", "--timeframe", "4h", "--strategy", "sma_cross",
        "--start", "2018-06-01", "--end", "2018-09-30", "--fee", "0.001", "--no-ml",
        "--json", str(out_json), "--plot", str(out_png),
    ])  # fmt: skip
    assert code == 0
    assert "total return %" in capsys.readouterr().out
    payload = json.loads(out_json.read_text())
    required = {"n_trades", "total_return_pct", "buy_and_hold_return_pct", "max_drawdown_pct", "sharpe",
                "sortino", "win_rate", "profit_factor", "expectancy_pct", "exposure_pct"}  # fmt: skip
    assert required <= payload["metrics"].keys()
    assert payload["metrics"]["n_trades"] == len(payload["trades"]) > 0
    assert payload["metrics"]["end"] == "2018-09-30T20:00:00+00:00"  # last 4h candle of the day
    fields = {
        "symbol",
        "side",
        "entry_time",
        "entry_price",
        "exit_time",
        "exit_price",
        "pnl_pct",
        "exit_reason",
    }
    assert fields <= payload["trades"][0].keys()
    assert out_png.read_bytes()[:4] == b"\x89PNG"


def test_models_option_of_core_points_to_the_ml_command(tmp_path):
    # core imports no ml: the models come through python -m ml.backtest, which passes a loader
    with pytest.raises(SystemExit, match="python -m ml.backtest"):
        main(["--data", str(DATA), "--symbols", "BTC/USD", "--models", str(tmp_path)])


def test_models_option_uses_the_loader_it_is_given(tmp_path, capsys):
    seen = []

    def load(path):
        seen.append(path)
        return []

    code = main(["--data", str(DATA), "--symbols", "BTC/USD", "--start", "2019-03-01", "--models", str(tmp_path)], load)
    assert code == 0 and seen == [tmp_path]


def test_command_line_window_without_candles_exits_with_a_message():
    with pytest.raises(SystemExit, match="no candles from 2020-01-01"):
        main(
            ["--data", str(DATA), "--symbols", "BTC/USD", "--strategy", "sma_cross", "--start", "2020-01-01"]
        )

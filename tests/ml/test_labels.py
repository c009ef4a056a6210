"""Triple-barrier labels on a hand-made candle series; every number worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from core.models import Side
from ml.labels import ExitReason, triple_barrier

# index:          0      1      2      3      4      5      6
CANDLES = pd.DataFrame(
    {
        "open": [100.0, 100.0, 101.0, 103.0, 98.0, 95.5, 96.0],
        "high": [101.0, 102.0, 104.0, 103.5, 99.0, 98.0, 97.0],
        "low": [99.0, 99.5, 100.5, 97.0, 96.0, 95.0, 94.0],
        "close": [100.0, 101.0, 103.0, 98.0, 97.0, 96.0, 95.0],
    }
)

# name: (decision, side, stop, take_profit, horizon)
CASES = {
    # fill at open[1]=100; candle 2's high 104 reaches 103.5 first -> +3.5 %
    "take_profit": (0, Side.LONG, 98.0, 103.5, 3),
    # candle 1's low 99.5 reaches the stop 99.6 -> (99.6 - 100) / 100 = -0.4 %
    "stop": (0, Side.LONG, 99.6, 110.0, 3),
    # fill at open[3]=103; candle 3 touches both 103.5 and 97.5 -> stop counts first:
    # (97.5 - 103) / 103 = -5.3398 %
    "both_in_one_candle": (2, Side.LONG, 97.5, 103.5, 2),
    # short filled at 103; candle 4's low 96 reaches 96.5 -> (103 - 96.5) / 103 = +6.3107 %
    "short_take_profit": (2, Side.SHORT, 105.0, 96.5, 3),
    # nothing touched in candles 1..2 -> close[2]=103 -> +3 %
    "horizon": (0, Side.LONG, 90.0, 120.0, 2),
    # fill at open[4]=98; candle 5 opens at 95.5 below the stop 95.8: filled at the open ->
    # (95.5 - 98) / 98 = -2.5510 %
    "gap_through_stop": (3, Side.LONG, 95.8, 100.0, 3),
    # short filled at open[5]=95.5; candle 6 reaches 94.5 -> +1.0471 %, decided although
    # the horizon (candles 5..9) runs past the data
    "decided_before_data_end": (4, Side.SHORT, 98.5, 94.5, 5),
    # candles 6..8 wanted, only 6 exists and touches nothing -> unknown
    "incomplete": (5, Side.LONG, 90.0, 120.0, 3),
    # decided on the last candle: no fill possible
    "no_fill": (6, Side.LONG, 90.0, 120.0, 3),
}

# name: (success, return %, label end, exit price, reason, complete)
EXPECTED = {
    "take_profit": (True, 3.5, 2, 103.5, ExitReason.TAKE_PROFIT, True),
    "stop": (False, -0.4, 1, 99.6, ExitReason.STOP_LOSS, True),
    "both_in_one_candle": (False, -5.5 / 103 * 100, 3, 97.5, ExitReason.STOP_LOSS, True),
    "short_take_profit": (True, 6.5 / 103 * 100, 4, 96.5, ExitReason.TAKE_PROFIT, True),
    "horizon": (False, 3.0, 2, 103.0, ExitReason.HORIZON, True),
    "gap_through_stop": (False, -2.5 / 98 * 100, 5, 95.5, ExitReason.STOP_LOSS, True),
    "decided_before_data_end": (True, 1.0 / 95.5 * 100, 6, 94.5, ExitReason.TAKE_PROFIT, True),
    "incomplete": (False, math.nan, 8, math.nan, ExitReason.INCOMPLETE, False),
    "no_fill": (False, math.nan, 9, math.nan, ExitReason.INCOMPLETE, False),
}


def _label(names: list[str]):  # noqa: ANN202 - test helper
    decisions, sides, stops, targets, horizons = zip(*(CASES[n] for n in names), strict=True)
    assert len(set(horizons)) == 1
    return triple_barrier(CANDLES, decisions, sides, stops, targets, horizons[0])


@pytest.mark.parametrize("name", list(CASES))
def test_each_case_alone(name: str) -> None:
    outcome = _label([name])
    success, return_pct, label_end, exit_price, reason, complete = EXPECTED[name]
    assert outcome.success.tolist() == [success]
    np.testing.assert_allclose(outcome.return_pct, [return_pct], rtol=1e-12, equal_nan=True)
    assert outcome.label_end.tolist() == [label_end]
    np.testing.assert_allclose(outcome.exit_price, [exit_price], equal_nan=True)
    assert outcome.exit_reason.tolist() == [reason]
    assert outcome.complete.tolist() == [complete]
    assert outcome.entry_index.tolist() == [CASES[name][0] + 1]


def test_vectorised_batch_equals_the_cases_one_by_one() -> None:
    names = ["take_profit", "stop", "short_take_profit", "gap_through_stop", "incomplete", "no_fill"]
    outcome = _label(names)  # all with horizon 3, labelled in one call
    assert outcome.success.tolist() == [EXPECTED[n][0] for n in names]
    assert outcome.label_end.tolist() == [EXPECTED[n][2] for n in names]
    assert outcome.exit_reason.tolist() == [EXPECTED[n][4] for n in names]
    np.testing.assert_allclose(
        outcome.return_pct, [EXPECTED[n][1] for n in names], rtol=1e-12, equal_nan=True
    )
    # fills at the open after each decision candle: open[1], open[1], open[3], open[4], open[6], none
    np.testing.assert_allclose(
        outcome.entry_price, [100.0, 100.0, 103.0, 98.0, 96.0, math.nan], equal_nan=True
    )


def test_wrong_barrier_order_is_refused() -> None:
    with pytest.raises(ValueError, match="stop < take_profit"):
        triple_barrier(CANDLES, [0], [Side.LONG], [105.0], [101.0], 3)
    with pytest.raises(ValueError, match="stop < take_profit"):
        triple_barrier(CANDLES, [0], [Side.SHORT], [95.0], [101.0], 3)
    with pytest.raises(ValueError, match="horizon"):
        triple_barrier(CANDLES, [0], [Side.LONG], [95.0], [101.0], 0)
    with pytest.raises(ValueError, match="decision_index"):
        triple_barrier(CANDLES, [7], [Side.LONG], [95.0], [101.0], 1)

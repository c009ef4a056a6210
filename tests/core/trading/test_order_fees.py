"""What a fill's fee is worth in the quote currency (core.trading.orders), worked by hand."""

from __future__ import annotations

import pytest

from core.models import OrderResult, OrderStatus
from core.trading.orders import fee_in_quote, held_quantity


def fill(fee: float, currency: str | None) -> OrderResult:
    return OrderResult("atra-1", "1", OrderStatus.FILLED, 0.5, 0.5, 100.0, fee=fee, fee_currency=currency)


@pytest.mark.parametrize(
    ("fee", "currency", "worth", "held"),
    [
        (0.0005, "SOL", 0.05, 0.4995),  # in the coin: 0.0005 SOL x 100 = 0.05 USDT, and 0.0005 SOL less held
        (0.05, "USDT", 0.05, 0.5),  # in the quote: as it is
        (0.05, None, 0.05, 0.5),  # paper's unlabelled fee is quote
        (0.0001, "BNB", 0.0, 0.5),  # a third currency the adapter could not value: not 0.0001 USDT
    ],
)
def test_a_fee_in_the_quote(fee: float, currency: str | None, worth: float, held: float) -> None:
    f = fill(fee, currency)
    assert fee_in_quote(f, "SOL/USDT", 100.0) == pytest.approx(worth)
    assert held_quantity(f, "SOL/USDT") == pytest.approx(held)

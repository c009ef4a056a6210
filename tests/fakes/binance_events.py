"""The fake Binance's user-data events as the WebSocket API sends them: `executionReport` for
every change of an order, `outboundAccountPosition` for the balances it changed, `listStatus`
for an OCO list (tests/fakes/binance_ws.py delivers them).

Field names and meanings are Binance's (spot user data stream, executionReport):
e event type, E event time, s symbol, c client order id (on a cancel: the cancel request's
id), C original client order id (on a cancel; "" otherwise), S side, o type, f time in force,
q quantity, p price, P stop price, g order list id (-1: none), x execution type (NEW, TRADE,
CANCELED, EXPIRED), X order status, i order id, l last filled quantity, z cumulative filled,
L last price, n commission of this trade, N its asset (null without a trade), T transaction
time, t trade id (-1), w on the book, m maker, O creation time, Z cumulative quote, Y last
quote, Q quote order quantity, W working time, V self-trade prevention mode.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.fakes.binance_model import FakeAccount, FakeOrder, SymbolSpec, now_ms, text

ZERO = Decimal(0)


def execution_report(
    order: FakeOrder,
    exec_type: str,
    *,
    fill: dict[str, Any] | None = None,
    cancel_id: str | None = None,
    event_ms: int | None = None,
) -> dict[str, Any]:
    """The executionReport of `order` as it stands now, for an execution of `exec_type`;
    `fill` (one of `order.fills`) for a TRADE, `cancel_id` for a CANCELED."""
    at = event_ms if event_ms is not None else now_ms()
    last_qty = Decimal(fill["qty"]) if fill else ZERO
    last_price = Decimal(fill["price"]) if fill else ZERO
    return {
        "e": "executionReport",
        "E": at,
        "s": order.symbol,
        "c": cancel_id if cancel_id is not None else order.client_order_id,
        "S": order.side,
        "o": order.type,
        "f": order.time_in_force or "GTC",
        "q": text(order.orig_qty),
        "p": text(order.price),
        "P": text(order.stop_price),
        "F": text(ZERO),
        "g": order.order_list_id,
        "C": order.client_order_id if cancel_id is not None else "",
        "x": exec_type,
        "X": order.status,
        "r": "NONE",
        "i": order.order_id,
        "l": text(last_qty),
        "z": text(order.executed_qty),
        "L": text(last_price),
        "n": fill["commission"] if fill else "0",
        "N": fill["commissionAsset"] if fill else None,
        "T": at,
        "t": fill["tradeId"] if fill else -1,
        "I": order.order_id * 10 + len(order.fills),
        "w": order.status in ("NEW", "PARTIALLY_FILLED") and order.type in ("LIMIT", "LIMIT_MAKER"),
        "m": bool(fill) and order.type in ("LIMIT", "LIMIT_MAKER"),
        "M": False,
        "O": order.time_ms,
        "Z": text(order.quote_qty),
        "Y": text(last_qty * last_price),
        "Q": text(ZERO),
        "W": order.time_ms,
        "V": "EXPIRE_MAKER",
    }


def account_position(account: FakeAccount, assets: list[str], event_ms: int | None = None) -> dict[str, Any]:
    """outboundAccountPosition: the free and locked balance of each asset that changed."""
    at = event_ms if event_ms is not None else now_ms()
    return {
        "e": "outboundAccountPosition",
        "E": at,
        "u": at,
        "B": [
            {"a": a, "f": text(account.balance(a)), "l": text(account.locked.get(a, ZERO))} for a in sorted(set(assets))
        ],
    }


def changed_assets(spec: SymbolSpec | None, fill: dict[str, Any] | None) -> list[str]:
    """The assets an order's change can move: its pair, and the commission's asset."""
    assets = [spec.base, spec.quote] if spec is not None else []
    if fill is not None:
        assets.append(fill["commissionAsset"])
    return assets


def list_status(listing: dict[str, Any], event_ms: int | None = None) -> dict[str, Any]:
    """listStatus of an OCO order list (ccxt ignores it; Binance sends it)."""
    at = event_ms if event_ms is not None else now_ms()
    return {
        "e": "listStatus",
        "E": at,
        "s": listing["symbol"],
        "g": listing["orderListId"],
        "c": "OCO",
        "l": listing["listStatusType"],
        "L": listing["listOrderStatus"],
        "r": "NONE",
        "C": listing["listClientOrderId"],
        "T": at,
        "O": [{"s": o["symbol"], "i": o["orderId"], "c": o["clientOrderId"]} for o in listing["orders"]],
    }

"""The fake Binance's account endpoints: balances, orders, trades, OCO lists, and the
matching of resting orders when the price moves."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import ROUND_DOWN, Decimal
from typing import Any

from tests.fakes.binance_model import (
    COMMISSION,
    OPEN_STATUSES,
    ORDER_TYPES,
    ApiError,
    FakeAccount,
    FakeOrder,
    SymbolSpec,
    dec,
    now_ms,
    text,
)


class AccountApi:
    """Orders and balances as Binance keeps them (a mixin of FakeBinance)."""

    prices: dict[str, Decimal]
    liquidity: dict[str, Decimal]  # symbol -> the most a market order can fill (absent: no limit)
    fills_per_market_order: int  # 2: a market order fills in two trades (two levels of the book)
    _next_order_id: int
    _next_list_id: int
    _next_trade_id: int
    # tests/fakes/binance_ws.py: an order changed (NEW, TRADE with its fill, CANCELED, EXPIRED)
    _order_event: Callable[..., None]
    _list_event: Callable[[FakeAccount, dict[str, Any]], None]

    def _spec(self, params: dict[str, str]) -> SymbolSpec:
        raise NotImplementedError

    def _account(self, account: FakeAccount | None, _params: dict[str, str]) -> dict[str, Any]:
        assert account is not None
        assets = sorted(set(account.free) | set(account.locked))
        return {
            "makerCommission": 10,
            "takerCommission": 10,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": now_ms(),
            "accountType": "SPOT",
            "permissions": ["SPOT"],
            "uid": 1,
            "balances": [
                {"asset": a, "free": text(account.balance(a)), "locked": text(account.locked.get(a, Decimal(0)))}
                for a in assets
            ],
        }

    def _new_order(self, account: FakeAccount | None, params: dict[str, str]) -> dict[str, Any]:
        assert account is not None
        spec = self._spec(params)
        client_id = params.get("newClientOrderId") or f"fake-{self._next_order_id}"
        if self._open_order(account, client_id) is not None:
            raise ApiError(400, -2010, "Duplicate order sent.")
        kind = params.get("type", "")
        if kind not in ORDER_TYPES:
            raise ApiError(400, -1116, "Invalid orderType.")
        if "quantity" not in params:
            raise ApiError(400, -1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed.")
        order = self._make_order(spec, client_id, params.get("side", ""), kind, params)
        self._check_filters(spec, order)
        self._place(account, spec, order)
        return order.full() if params.get("newOrderRespType", "FULL") == "FULL" else order.report()

    def _make_order(
        self, spec: SymbolSpec, client_id: str, side: str, kind: str, params: Mapping[str, str]
    ) -> FakeOrder:
        if side not in ("BUY", "SELL"):
            raise ApiError(400, -1117, "Invalid side.")
        needs_stop = kind in ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
        needs_price = kind in ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
        if needs_stop and "stopPrice" not in params:
            raise ApiError(400, -1102, "Mandatory parameter 'stopPrice' was not sent, was empty/null, or malformed.")
        if needs_price and "price" not in params:
            raise ApiError(400, -1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed.")
        self._next_order_id += 1
        return FakeOrder(
            symbol=spec.symbol,
            order_id=self._next_order_id,
            client_order_id=client_id,
            side=side,
            type=kind,
            orig_qty=dec(params["quantity"]),
            price=dec(params.get("price", "0")),
            stop_price=dec(params.get("stopPrice", "0")),
            time_in_force=params.get("timeInForce"),
            time_ms=now_ms(),
        )

    def _check_filters(self, spec: SymbolSpec, order: FakeOrder) -> None:
        qty, step, min_qty = order.orig_qty, dec(spec.step_size), dec(spec.min_qty)
        if qty < min_qty or qty > dec(spec.max_qty) or (qty - min_qty) % step != 0:
            raise ApiError(400, -1013, "Filter failure: LOT_SIZE")
        for price in (order.price, order.stop_price):
            if price and price % dec(spec.tick_size) != 0:
                raise ApiError(400, -1013, "Filter failure: PRICE_FILTER")
        reference = order.price or order.stop_price or self.prices[spec.symbol]
        if qty * reference < dec(spec.min_notional):
            raise ApiError(400, -1013, "Filter failure: NOTIONAL")

    def _place(self, account: FakeAccount, spec: SymbolSpec, order: FakeOrder) -> None:
        if order.type == "MARKET":
            self._order_event(account, order, "NEW")
            self._fill(account, spec, order)
        else:
            if order.side == "SELL":
                asset, amount = spec.base, order.orig_qty
            else:
                asset, amount = spec.quote, order.orig_qty * (order.price or order.stop_price)
            account.lock(asset, amount)
            order.locked_asset, order.locked_amount = asset, amount
            self._order_event(account, order, "NEW")
        account.orders.append(order)
        account.client_ids[order.client_order_id] += 1

    def _fill(self, account: FakeAccount, spec: SymbolSpec, order: FakeOrder) -> None:
        """A market order takes what the book holds; what it could not fill expires."""
        depth = self.liquidity.get(spec.symbol)
        qty = order.orig_qty if depth is None else min(order.orig_qty, depth)
        first = (qty / self.fills_per_market_order).quantize(dec(spec.step_size), ROUND_DOWN)
        for part in (first, qty - first) if 0 < first < qty else (qty,):  # one trade per level taken
            self._trade(account, spec, order, self.prices[spec.symbol], part)
        if qty < order.orig_qty:
            order.status = "EXPIRED"
            self._order_event(account, order, "EXPIRED")

    def _trade(self, account: FakeAccount, spec: SymbolSpec, order: FakeOrder, price: Decimal, qty: Decimal) -> None:
        """Exchange `qty` of the order at `price` from free balances, with the commission."""
        cost = qty * price
        if order.side == "BUY":
            if account.balance(spec.quote) < cost:
                raise ApiError(400, -2010, "Account has insufficient balance for requested action.")
            commission, commission_asset = (qty * COMMISSION).quantize(Decimal("1e-8"), ROUND_DOWN), spec.base
            account.free[spec.quote] = account.balance(spec.quote) - cost
            account.free[spec.base] = account.balance(spec.base) + qty
        else:
            if account.balance(spec.base) < qty:
                raise ApiError(400, -2010, "Account has insufficient balance for requested action.")
            commission, commission_asset = (cost * COMMISSION).quantize(Decimal("1e-8"), ROUND_DOWN), spec.quote
            account.free[spec.base] = account.balance(spec.base) - qty
            account.free[spec.quote] = account.balance(spec.quote) + cost
        in_bnb = _in_bnb(account, cost)
        if in_bnb is not None:  # BNB pays the commission while there is enough of it
            commission, commission_asset = in_bnb, "BNB"
        account.free[commission_asset] = account.balance(commission_asset) - commission
        order.executed_qty += qty
        order.quote_qty += cost
        order.status = "FILLED" if order.executed_qty >= order.orig_qty else "PARTIALLY_FILLED"
        order.fills.append(
            {
                "price": text(price),
                "qty": text(qty),
                "commission": text(commission),
                "commissionAsset": commission_asset,
                "tradeId": self._next_trade_id,
            }
        )
        self._next_trade_id += 1
        self._order_event(account, order, "TRADE", order.fills[-1])

    @staticmethod
    def _reached(order: FakeOrder, price: Decimal) -> Decimal | None:
        """The fill price if the market at `price` reaches this resting order, else None."""
        selling = order.side == "SELL"
        if order.type in ("STOP_LOSS", "STOP_LOSS_LIMIT"):
            hit = price <= order.stop_price if selling else price >= order.stop_price
            return (price if order.type == "STOP_LOSS" else order.price) if hit else None
        if order.type in ("TAKE_PROFIT", "TAKE_PROFIT_LIMIT"):
            hit = price >= order.stop_price if selling else price <= order.stop_price
            return (price if order.type == "TAKE_PROFIT" else order.price) if hit else None
        hit = price >= order.price if selling else price <= order.price  # LIMIT, LIMIT_MAKER
        return order.price if hit else None

    def _execute(self, account: FakeAccount, spec: SymbolSpec, order: FakeOrder, price: Decimal, qty: Decimal) -> None:
        """Fill `qty` of a resting order: its locks are released (an OCO's other leg expires),
        the trade is made, and what is left of the order is locked again."""
        if order.order_list_id >= 0:
            for other in account.orders:
                if other is not order and other.order_list_id == order.order_list_id and other.status in OPEN_STATUSES:
                    self._cancel(account, other, "EXPIRED")
        if order.locked_asset is not None:
            account.unlock(order.locked_asset, order.locked_amount)
            order.locked_asset, order.locked_amount = None, Decimal(0)
        self._trade(account, spec, order, price, qty)
        left = order.orig_qty - order.executed_qty
        if left > 0:
            asset, amount = (spec.base, left) if order.side == "SELL" else (spec.quote, left * price)
            account.lock(asset, amount)
            order.locked_asset, order.locked_amount = asset, amount

    def _find(self, account: FakeAccount, params: Mapping[str, str]) -> FakeOrder:
        symbol = params.get("symbol")
        for order in reversed(account.orders):  # the latest order with that client id
            same_id = (
                order.client_order_id == params["origClientOrderId"]
                if "origClientOrderId" in params
                else str(order.order_id) == params.get("orderId")
            )
            if same_id and order.symbol == symbol:
                return order
        raise ApiError(400, -2013, "Order does not exist.")

    def _open_order(self, account: FakeAccount, client_id: str) -> FakeOrder | None:
        return next((o for o in account.orders if o.client_order_id == client_id and o.status in OPEN_STATUSES), None)

    def _query_order(self, account: FakeAccount | None, params: dict[str, str]) -> dict[str, Any]:
        assert account is not None
        self._spec(params)
        return self._find(account, params).report()

    def _cancel_order(self, account: FakeAccount | None, params: dict[str, str]) -> dict[str, Any]:
        assert account is not None
        self._spec(params)
        try:
            order = self._find(account, params)
        except ApiError as err:
            raise ApiError(400, -2011, "Unknown order sent.") from err
        if order.status not in OPEN_STATUSES:
            raise ApiError(400, -2011, "Unknown order sent.")
        if order.order_list_id >= 0:
            self._cancel_list_orders(account, order.order_list_id)
        else:
            self._cancel(account, order)
        body = order.report()
        body["origClientOrderId"] = order.client_order_id
        return body

    def _cancel(self, account: FakeAccount, order: FakeOrder, status: str = "CANCELED") -> None:
        order.status = status
        if order.locked_asset is not None:
            account.unlock(order.locked_asset, order.locked_amount)
            order.locked_asset, order.locked_amount = None, Decimal(0)
        self._order_event(account, order, status)

    def _open_orders(self, account: FakeAccount | None, params: dict[str, str]) -> list[dict[str, Any]]:
        assert account is not None
        symbol = params.get("symbol")
        return [
            o.report() for o in account.orders if o.status in OPEN_STATUSES and (symbol is None or o.symbol == symbol)
        ]

    def _my_trades(self, account: FakeAccount | None, params: dict[str, str]) -> list[dict[str, Any]]:
        assert account is not None
        spec = self._spec(params)
        trades = []
        for order in account.orders:
            if order.symbol != spec.symbol or ("orderId" in params and str(order.order_id) != params["orderId"]):
                continue
            for fill in order.fills:
                trades.append(
                    {
                        "symbol": spec.symbol,
                        "id": fill["tradeId"],
                        "orderId": order.order_id,
                        "orderListId": -1,
                        "price": fill["price"],
                        "qty": fill["qty"],
                        "quoteQty": text(dec(fill["price"]) * dec(fill["qty"])),
                        "commission": fill["commission"],
                        "commissionAsset": fill["commissionAsset"],
                        "time": order.time_ms,
                        "isBuyer": order.side == "BUY",
                        "isMaker": False,
                        "isBestMatch": True,
                    }
                )
        return trades

    # --------------------------------------------------------------------- OCO

    def _new_oco(self, account: FakeAccount | None, params: dict[str, str]) -> dict[str, Any]:
        assert account is not None
        spec = self._spec(params)
        side = params.get("side", "")
        limit_like = ("LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
        stop_like = ("STOP_LOSS", "STOP_LOSS_LIMIT")
        above_ok, below_ok = (limit_like, stop_like) if side == "SELL" else (stop_like, limit_like)
        if params.get("aboveType") not in above_ok or params.get("belowType") not in below_ok:
            raise ApiError(400, -1106, "Invalid combination of aboveType and belowType for this side.")
        legs = []
        for prefix in ("above", "below"):
            leg_id = params.get(f"{prefix}ClientOrderId") or f"fake-{prefix}-{self._next_order_id}"
            if self._open_order(account, leg_id) is not None:
                raise ApiError(400, -2010, "Duplicate order sent.")
            leg_params = {"quantity": params["quantity"]}
            for name in ("Price", "StopPrice", "TimeInForce"):
                if f"{prefix}{name}" in params:
                    leg_params[name[0].lower() + name[1:]] = params[f"{prefix}{name}"]
            leg = self._make_order(spec, leg_id, side, params[f"{prefix}Type"], leg_params)
            self._check_filters(spec, leg)
            legs.append(leg)
        above, below = legs
        current = self.prices[spec.symbol]
        if not (above.price or above.stop_price) > current > (below.stop_price or below.price):
            raise ApiError(400, -2010, "The relationship of the prices for the orders is not correct.")
        qty = dec(params["quantity"])
        if side == "SELL":
            asset, amount = spec.base, qty
        else:
            asset, amount = (
                spec.quote,
                qty * max(above.price, above.stop_price, below.price, below.stop_price),
            )
        account.lock(asset, amount)
        list_id = self._next_list_id
        self._next_list_id += 1
        for leg in legs:
            leg.order_list_id = list_id
            account.orders.append(leg)
            account.client_ids[leg.client_order_id] += 1
        above.locked_asset, above.locked_amount = asset, amount  # one lock for the list, held by one leg
        listing = {
            "orderListId": list_id,
            "contingencyType": "OCO",
            "listStatusType": "EXEC_STARTED",
            "listOrderStatus": "EXECUTING",
            "listClientOrderId": params.get("listClientOrderId") or f"list-{list_id}",
            "transactionTime": now_ms(),
            "symbol": spec.symbol,
            "orders": [
                {"symbol": spec.symbol, "orderId": o.order_id, "clientOrderId": o.client_order_id} for o in legs
            ],
        }
        account.order_lists[list_id] = listing
        for leg in legs:
            self._order_event(account, leg, "NEW")
        self._list_event(account, listing)
        return {**listing, "orderReports": [o.full() for o in legs]}

    def _list_by(self, account: FakeAccount, params: Mapping[str, str]) -> dict[str, Any]:
        wanted = params.get("origClientOrderId") or params.get("listClientOrderId")
        for list_id, listing in account.order_lists.items():
            if listing["listClientOrderId"] == wanted or str(list_id) == params.get("orderListId"):
                return listing
        raise ApiError(400, -2011, "Order list does not exist.")

    def _query_list(self, account: FakeAccount | None, params: dict[str, str]) -> dict[str, Any]:
        assert account is not None
        return self._list_by(account, params)

    def _cancel_list(self, account: FakeAccount | None, params: dict[str, str]) -> dict[str, Any]:
        assert account is not None
        listing = self._list_by(account, params)
        reports = self._cancel_list_orders(account, listing["orderListId"])
        listing.update(listStatusType="ALL_DONE", listOrderStatus="ALL_DONE")
        return {**listing, "orderReports": reports}

    def _cancel_list_orders(self, account: FakeAccount, list_id: int) -> list[dict[str, Any]]:
        reports = []
        for order in account.orders:
            if order.order_list_id == list_id and order.status in OPEN_STATUSES:
                self._cancel(account, order)
                reports.append(order.report())
        return reports


def _in_bnb(account: FakeAccount, cost: Decimal) -> Decimal | None:
    """The commission of a trade worth `cost` (quote) in BNB at 25 % off, if the account pays
    in BNB and holds enough of it; else None."""
    if account.bnb_price is None:
        return None
    commission = (cost * COMMISSION * Decimal("0.75") / account.bnb_price).quantize(Decimal("1e-8"), ROUND_DOWN)
    return commission if account.balance("BNB") >= commission else None

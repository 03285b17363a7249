"""Placing and cancelling orders: validation, idempotency claims, placement, bookkeeping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from .catalog import is_store_location
from .inventory_client import InventoryClient
from .orders_store import NewOrder, OrdersStore
from .placement import Placer
from .replies import Reply, invalid
from .schemas import BadRequest, Line, OrderRequest, order_id_for, parse_body
from .stock_view import ChannelViews, StockView, choose_location

__all__ = ["OrderFlow", "online_sellable"]

PENDING_WAIT_SECONDS = 3.0
PENDING_POLL_SECONDS = 0.02
PLACED_CODES = {"confirmed": 201, "rejected": 409, "error": 503}


def online_sellable(ship_from_store: bool) -> Callable[[str], bool]:
    """Which locations an orders replica may sell: warehouses, plus stores with ship-from-store.

    Without ship-from-store, store stock is fenced: only the store's own node sells it.
    """
    if ship_from_store:
        return lambda _: True
    return lambda location: not is_store_location(location)


class OrderFlow:
    """The order use cases, independent of HTTP routing."""

    def __init__(
        self,
        store: OrdersStore,
        inventory: InventoryClient,
        placer: Placer,
        views: ChannelViews,
        version: str,
        replica: int,
        orders_total: Counter,
        sellable: Callable[[str], bool] = lambda _: True,
    ) -> None:
        self.store = store
        self.inventory = inventory
        self.placer = placer
        self.views = views
        self.version = version
        self.replica = replica
        self.orders_total = orders_total
        self.sellable = sellable

    async def create(self, request: Request) -> Reply:
        """`POST /orders`: place a new order, or return the one already under this key."""
        try:
            body = await parse_body(request, OrderRequest)
        except BadRequest as bad:
            return 422, bad.body
        if not self.views.live.loaded:
            return 503, {"status": "error", "error": "stock view not loaded yet"}
        view = self.views.for_channel(body.channel)
        problem = self._unknown_item(body)
        if problem:
            return invalid(problem)
        existing = await run_in_threadpool(self.store.get_by_key, body.idempotency_key)
        if existing is not None and existing["status"] != "error":
            return await self._settled(existing)
        location = body.location or choose_location(view, body.lines[0].sku, self.sellable)
        claimed, order = await run_in_threadpool(
            self.store.claim,
            NewOrder(
                order_id_for(body.idempotency_key),
                body.idempotency_key,
                body.channel.value,
                location,
                body.lines,
                self.version,
                self.replica,
            ),
        )
        if not claimed:
            return await self._settled(order)
        return await self._place(order, view)

    async def _place(self, order: dict[str, Any], view: StockView) -> Reply:
        lines = [Line.model_validate(line) for line in order["lines"]]
        placement = await self.placer.place(order["order_id"], order["location"], lines, view)
        stored = await run_in_threadpool(
            self.store.finish,
            order["order_id"],
            placement.status,
            placement.reason,
            placement.sku,
        )
        self.orders_total.labels(order["channel"], placement.status).inc()
        if placement.detail:
            stored["detail"] = placement.detail
        return PLACED_CODES[placement.status], stored

    async def _settled(self, order: dict[str, Any]) -> Reply:
        """Reply with an existing order, waiting briefly if another replica is placing it."""
        deadline = time.monotonic() + PENDING_WAIT_SECONDS
        while order["status"] == "pending" and time.monotonic() < deadline:
            await asyncio.sleep(PENDING_POLL_SECONDS)
            latest = await run_in_threadpool(self.store.get, order["order_id"])
            order = latest if latest is not None else order
        return (503 if order["status"] == "error" else 200), order

    def _unknown_item(self, body: OrderRequest) -> str | None:
        live = self.views.live
        for line in body.lines:
            if line.sku not in live.levels:
                return f"unknown sku {line.sku!r}"
        if body.location is not None:
            known = live.levels[body.lines[0].sku]
            if body.location not in known:
                return f"unknown location {body.location!r}; expected one of {sorted(known)}"
            if not self.sellable(body.location):
                return (
                    f"location {body.location!r} is store stock, sold only by the store "
                    "(start orders with --ship-from-store to sell it online)"
                )
        return None

    async def cancel(self, order_id: str) -> Reply:
        """`POST /orders/{id}/cancel`: release the order's stock; idempotent."""
        order = await run_in_threadpool(self.store.get, order_id)
        if order is None:
            return 404, {"status": "not_found", "error": f"no order {order_id!r}"}
        if order["status"] == "cancelled":
            return 200, {"order_id": order_id, "status": "cancelled"}
        if order["status"] in ("rejected", "pending"):
            return 409, {
                "order_id": order_id,
                "status": order["status"],
                "error": f"an order that is {order['status']} cannot be cancelled",
            }
        reply = await self.inventory.release(order_id)
        if reply.kind == "error":
            self.orders_total.labels(order["channel"], "error").inc()
            return 503, {"order_id": order_id, "status": "error", "error": reply.detail}
        changed, stored = await run_in_threadpool(self.store.cancel, order_id)
        if changed:
            self.orders_total.labels(stored["channel"], "cancelled").inc()
        if stored["status"] != "cancelled":
            return 409, {
                "order_id": order_id,
                "status": stored["status"],
                "error": "order changed while cancelling; retry",
            }
        return 200, {"order_id": order_id, "status": "cancelled"}

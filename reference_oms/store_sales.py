"""A store node's sales and returns: through inventory while online, decided locally while not.

Online, a sale is an atomic reservation at inventory with a short timeout. If inventory
errs or times out the store goes offline and decides that sale, and every later one,
from local availability, queueing a `reserve` op for the forwarder. A call that timed
out may still have reached inventory; its order id is the same when the op is
forwarded, and reservations are idempotent per order id, so it counts once.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from typing import Any, Literal

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from .inventory_client import InventoryClient
from .replies import Reply, invalid
from .schemas import BadRequest, Channel, Line, OrderRequest, order_id_for, parse_body
from .stock_view import StockView
from .store_db import OpKind, StoreDb, StoreSale, units_of
from .store_state import StoreMetrics, StoreState

__all__ = ["StoreSales"]

log = logging.getLogger(__name__)

STATUS_CODES = {"confirmed": 201, "rejected": 409}


class StoreSales:
    """`POST /orders` and `POST /orders/{id}/cancel` of one store."""

    def __init__(
        self,
        state: StoreState,
        db: StoreDb,
        inventory: InventoryClient,
        view: StockView,
        metrics: StoreMetrics,
    ) -> None:
        self.state = state
        self.db = db
        self.inventory = inventory
        self.view = view
        self.metrics = metrics
        self._calls = itertools.count(1)
        self._cancelling: set[str] = set()

    @property
    def location(self) -> str:
        return self.state.location

    async def create(self, request: Request) -> Reply:
        """Sell, or return the sale already stored under this idempotency key."""
        try:
            body = await parse_body(request, OrderRequest)
        except BadRequest as bad:
            return 422, bad.body
        problem = self._refusal(body)
        if problem:
            return invalid(problem)
        if not self.view.loaded:
            return 503, {"status": "error", "error": "stock view not loaded yet"}
        unknown = next((line.sku for line in body.lines if line.sku not in self.view.levels), None)
        if unknown is not None:
            return invalid(f"unknown sku {unknown!r}")
        if self.location not in self.view.levels[body.lines[0].sku]:
            return invalid(f"location {self.location!r} is not in inventory's catalog")
        existing = await run_in_threadpool(self.db.get_by_key, body.idempotency_key)
        if existing is not None:
            return 200, existing
        if self.state.online:
            return await self._sell_online(body)
        return await self._sell_offline(body, None)

    def _refusal(self, body: OrderRequest) -> str | None:
        if body.channel is not Channel.STORE:
            return f"a store sells only on channel 'store', got {body.channel.value!r}"
        if body.location not in (None, self.location):
            return (
                f"this store sells only its own location {self.location!r}, got {body.location!r}"
            )
        return None

    async def _sell_online(self, body: OrderRequest) -> Reply:
        order_id = order_id_for(body.idempotency_key)
        call = f"call-{next(self._calls)}"
        # Held while in flight: inventory may apply it before the view or the reply says so.
        self.state.ledger.hold(
            call, {s: -q for s, q in units_of(body.lines).items()}, in_flight=True
        )
        reply = await self.inventory.reserve(order_id, self.location, body.lines, atomic=True)
        if reply.kind == "reserved":
            self.state.ledger.acknowledge(call, reply.seq)
            return await self._record(self._sale(body, "confirmed", forwarded=True))
        if reply.kind == "out_of_stock":
            self.state.ledger.drop(call)
            sale = self._sale(body, "rejected", forwarded=True, sku=reply.body.get("sku"))
            return await self._record(sale)
        log.warning("store going offline: %s", reply.detail)
        self.state.go_offline()
        if reply.unsent:
            self.state.ledger.drop(call)
            return await self._sell_offline(body, None)
        return await self._sell_offline(body, call)

    async def _sell_offline(self, body: OrderRequest, uncertain: str | None) -> Reply:
        """Decide from local availability; `uncertain` is a timed-out call for this sale."""
        async with self.state.lock:
            existing = await run_in_threadpool(self.db.get_by_key, body.idempotency_key)
            if existing is not None:
                if uncertain is not None:
                    self.state.ledger.drop(uncertain)
                return 200, existing
            units = units_of(body.lines)
            short = next(
                (
                    sku
                    for sku, qty in units.items()
                    if self.state.available(self.view, sku, without=uncertain) < qty
                ),
                None,
            )
            if short is None:
                sale = self._sale(body, "confirmed", forwarded=False)
                reply = await self._record(sale, ("reserve", body.lines))
            else:
                sale = self._sale(body, "rejected", forwarded=False, sku=short)
                # If the timed-out call did reserve, give it back; nothing to count locally.
                reply = await self._record(sale, ("release", []) if uncertain else None)
            if uncertain is not None:
                self.state.ledger.drop(uncertain)
            return reply

    def _sale(
        self,
        body: OrderRequest,
        status: Literal["confirmed", "rejected"],
        forwarded: bool,
        sku: str | None = None,
    ) -> StoreSale:
        reason = "out_of_stock" if status == "rejected" else None
        key = body.idempotency_key
        return StoreSale(
            order_id_for(key), key, body.channel.value, self.location, body.lines, status,
            forwarded, reason, sku,
        )  # fmt: skip

    async def _record(
        self, sale: StoreSale, queue: tuple[OpKind, Sequence[Line]] | None = None
    ) -> Reply:
        inserted, stored, op = await run_in_threadpool(self.db.record, sale, queue)
        if op is not None:
            self.state.queued(op)
        if not inserted:
            return 200, stored
        self.metrics.orders_total.labels(sale.channel, sale.status).inc()
        return STATUS_CODES[sale.status], stored

    async def cancel(self, order_id: str) -> Reply:
        """A return: give the units back to inventory, now or through the outbox; idempotent."""
        async with self.state.lock:
            order = await run_in_threadpool(self.db.get, order_id)
            if order is None:
                return 404, {"status": "not_found", "error": f"no order {order_id!r}"}
            if order["status"] == "cancelled":
                return 200, {"order_id": order_id, "status": "cancelled"}
            if order["status"] != "confirmed" or order_id in self._cancelling:
                why = "was rejected" if order["status"] == "rejected" else "is being cancelled"
                body = {"order_id": order_id, "status": order["status"], "error": f"order {why}"}
                return 409, body
            lines = [Line.model_validate(line) for line in order["lines"]]
            op = self.state.reserve_op_for(order_id)
            if op is not None and op.seq != self.state.in_flight:
                changed, _ = await run_in_threadpool(self.db.cancel, order_id, op)
                if changed:
                    self.state.dropped(op)
                return self._cancelled(order, changed)
            if op is not None or not self.state.online:
                # The reserve is being sent, or inventory is out of reach: queue the return.
                changed, release = await run_in_threadpool(self.db.cancel, order_id, None, lines)
                if release is not None:
                    self.state.queued(release)
                return self._cancelled(order, changed)
            self._cancelling.add(order_id)
        try:
            return await self._release_online(order, lines)
        finally:
            self._cancelling.discard(order_id)

    async def _release_online(self, order: dict[str, Any], lines: list[Line]) -> Reply:
        order_id = order["order_id"]
        reply = await self.inventory.release(order_id)
        if reply.kind == "error":
            log.warning("store going offline: %s", reply.detail)
            self.state.go_offline()
            # A release that may have been applied is queued without counting its units.
            units = lines if reply.unsent else []
            async with self.state.lock:
                changed, release = await run_in_threadpool(self.db.cancel, order_id, None, units)
                if release is not None:
                    self.state.queued(release)
            return self._cancelled(order, changed)
        if reply.kind == "released":  # given back; count it until the view shows it
            call = f"call-{next(self._calls)}"
            self.state.ledger.hold(call, units_of(lines))
            self.state.ledger.acknowledge(call, reply.seq)
        changed, _ = await run_in_threadpool(self.db.cancel, order_id)
        return self._cancelled(order, changed)

    def _cancelled(self, order: dict[str, Any], changed: bool) -> Reply:
        if changed:
            self.metrics.orders_total.labels(order["channel"], "cancelled").inc()
        return 200, {"order_id": order["order_id"], "status": "cancelled"}

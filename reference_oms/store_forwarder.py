"""The store's forwarder: sends outbox ops to inventory in order, and brings the store back online.

A `reserve` is sent with `atomic: false`: the sale already happened at the till, so
inventory must record it even if that takes available below zero (the oversell a drift
check has to catch when the same units were also sold online). A failed op is retried,
oldest first, every retry interval; nothing later overtakes it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool

from .inventory_client import InventoryClient, InventoryReply
from .store_db import OutboxOp, StoreDb
from .store_state import StoreMetrics, StoreState

__all__ = ["Forwarder"]

log = logging.getLogger(__name__)

# Answers that settle an op. Any other (error, timeout, 5xx) is retried.
# A release answered not_found / not_reserved had nothing to give back (a void release).
DONE = {
    "reserve": {"reserved", "out_of_stock"},
    "release": {"released", "not_found", "not_reserved"},
}


class Forwarder:
    """Run `forward_forever` as a task for the app's lifespan."""

    def __init__(
        self,
        state: StoreState,
        db: StoreDb,
        inventory: InventoryClient,
        metrics: StoreMetrics,
        retry_interval: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.state = state
        self.db = db
        self.inventory = inventory
        self.metrics = metrics
        self.retry_interval = retry_interval
        self.sleep = sleep

    async def forward_forever(self) -> None:
        """Until cancelled: drain the outbox; while offline with nothing queued, probe inventory."""
        while True:
            try:
                await self._step()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not silently stop forwarding: log it and retry
                log.exception("store forwarder failed; retrying")
                self.state.in_flight = None
                await self.sleep(self.retry_interval)

    async def _step(self) -> None:
        async with self.state.lock:
            op = self.state.oldest()
            self.state.in_flight = None if op is None else op.seq
        if op is not None:
            if not await self._forward(op):
                await self.sleep(self.retry_interval)
        elif self.state.online:
            await self.state.work.wait()
            self.state.work.clear()
        elif await self.inventory.healthy():
            async with self.state.lock:
                if not self.state.ops:
                    self.state.go_online()
        else:
            await self.sleep(self.retry_interval)

    async def _forward(self, op: OutboxOp) -> bool:
        reply = await self._send(op)
        if reply.kind not in DONE[op.kind]:
            log.debug("forwarding outbox op %d failed: %s", op.seq, reply.detail)
            self.state.in_flight = None
            return False
        if reply.kind == "out_of_stock":
            # Only if an earlier, timed-out atomic call was refused under this order id.
            log.warning("inventory refused the store sale %s: %s", op.order_id, reply.body)
        async with self.state.lock:
            await run_in_threadpool(self.db.acknowledge, op)
            self.state.acknowledged(op, reply.seq)
            self.state.in_flight = None
        self.metrics.forwarded.inc()
        self.metrics.forward_delay.observe(max(0.0, self.state.clock() - op.queued_at))
        return True

    async def _send(self, op: OutboxOp) -> InventoryReply:
        if op.kind == "reserve":
            return await self.inventory.reserve(op.order_id, op.location, op.lines, atomic=False)
        return await self.inventory.release(op.order_id)

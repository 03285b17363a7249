"""A store node's in-memory state: online or offline, the pending outbox, local availability.

The outbox here mirrors the `outbox` table (the database is written first). Everything
runs on one event loop; `lock` serialises the short, network-free sections that decide
offline sales, cancel sales and retire ops, so they see one consistent outbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .replies import orders_counter
from .stock_view import StockView
from .store_db import OutboxOp
from .store_ledger import Ledger

__all__ = ["StoreMetrics", "StoreState"]

DELAY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)


def _op_key(op: OutboxOp) -> str:
    return f"op-{op.seq}"


class StoreState:
    """Mode, pending ops and the ledger of moves inventory has not shown yet."""

    def __init__(
        self, location: str, pending: Sequence[OutboxOp], clock: Callable[[], float]
    ) -> None:
        self.location = location
        self.clock = clock
        self.lock = asyncio.Lock()
        self.work = asyncio.Event()  # set when the forwarder may have something to do
        self.ledger = Ledger()
        self.ops: dict[int, OutboxOp] = {}
        self.in_flight: int | None = None  # seq of the op the forwarder is sending
        self.forwarded_total = 0
        self.last_drained_at: float | None = None
        for op in pending:
            self.queued(op)
        # Ops left over from before a restart: offline until they are forwarded.
        self.online = not pending
        self.offline_since = min((op.queued_at for op in pending), default=None)

    def queued(self, op: OutboxOp) -> None:
        """An op was written to the outbox table."""
        self.ops[op.seq] = op
        self.ledger.hold(_op_key(op), op.adjustment)
        self.work.set()

    def dropped(self, op: OutboxOp) -> None:
        """An op was deleted from the outbox without being sent (a return before forwarding)."""
        self.ops.pop(op.seq, None)
        self.ledger.drop(_op_key(op))

    def acknowledged(self, op: OutboxOp, seq: int | None) -> None:
        """Inventory has the op at `seq`; back online if that emptied the outbox."""
        self.ops.pop(op.seq, None)
        self.ledger.acknowledge(_op_key(op), seq)
        self.forwarded_total += 1
        if not self.ops:
            self.last_drained_at = self.clock()
            self.go_online()

    def go_offline(self) -> None:
        """Inventory did not answer: decide sales locally from now on."""
        if self.online:
            self.online = False
            self.offline_since = self.clock()
            self.work.set()  # the forwarder probes inventory even with an empty outbox

    def go_online(self) -> None:
        """Inventory answers and nothing is owed to it: sell through it again."""
        self.online = True
        self.offline_since = None

    def oldest(self) -> OutboxOp | None:
        """The next op to forward."""
        return self.ops[min(self.ops)] if self.ops else None

    def reserve_op_for(self, order_id: str) -> OutboxOp | None:
        """The queued `reserve` op of `order_id`, if it has not been acknowledged yet."""
        return next(
            (op for op in self.ops.values() if op.kind == "reserve" and op.order_id == order_id),
            None,
        )

    def pending_units(self) -> int:
        """Units sold here that inventory does not know about yet."""
        return sum(
            line.qty for op in self.ops.values() if op.kind == "reserve" for line in op.lines
        )

    def available(
        self, view: StockView, sku: str, without: str | None = None, *, settled: bool = False
    ) -> int:
        """Local availability of `sku` at the store's location (`settled`: as shown)."""
        return self.ledger.available(view, sku, self.location, without, settled=settled)

    def summary(self) -> dict[str, Any]:
        """The body of `GET /outbox` (without the store's name)."""
        oldest = self.oldest()
        return {
            "location": self.location,
            "online": self.online,
            "pending": len(self.ops),
            "pending_units": self.pending_units(),
            "oldest_queued_at": None if oldest is None else oldest.queued_at,
            "forwarded_total": self.forwarded_total,
            "offline_since": self.offline_since,
            "last_drained_at": self.last_drained_at,
        }


class StoreMetrics:
    """The store's own series; the gauges read the state when scraped."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.state: StoreState | None = None
        self.online = Gauge(
            "oms_store_online", "1 while the store sells through inventory.", registry=registry
        )
        self.outbox_ops = Gauge(
            "oms_store_outbox_ops", "Ops queued for inventory.", registry=registry
        )
        self.outbox_units = Gauge(
            "oms_store_outbox_units",
            "Units sold here that inventory does not know about yet.",
            registry=registry,
        )
        self.forwarded = Counter(
            "oms_store_forwarded", "Outbox ops acknowledged by inventory.", registry=registry
        )
        self.forward_delay = Histogram(
            "oms_store_forward_delay_seconds",
            "Seconds from queueing an op to inventory acknowledging it.",
            buckets=DELAY_BUCKETS,
            registry=registry,
        )
        self.orders_total = orders_counter(registry)
        self.online.set_function(lambda: float(self.state.online) if self.state else 0.0)
        self.outbox_ops.set_function(lambda: float(len(self.state.ops)) if self.state else 0.0)
        self.outbox_units.set_function(
            lambda: float(self.state.pending_units()) if self.state else 0.0
        )

"""The peak-day collector's synthetic canary: one tagged test order and its cancel.

Only with the plan's ``collect.canary`` set: every ``every_s`` the canary places one
unit of its test SKU through the adapter (``place_call``, sent by a ``Sender`` that
tags it with the run id and passes the adapter's own headers) and cancels it, timing
both black box and counting their outcomes. What it leaves open is retried every round
and by ``cleanup()``. Without a canary the collector never writes to the OMS.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from collectors.adapter import UNANSWERED, HttpCall, OmsAdapter, Outcome
from collectors.collect_metrics import CALL_BUCKETS_S, family
from slo import conventions as n
from slo.target import DEFAULT_TEST_CUSTOMER

__all__ = ["CanarySpec", "OrderCanary", "Sender", "Sink", "http_sender"]

logger = logging.getLogger(__name__)

Sink = Callable[[dict[str, Any]], None]
Sender = Callable[[HttpCall], tuple[int, dict[str, Any] | None]]
"""Sends a request the adapter built; (status, JSON body); status 0: no answer."""


@dataclass(frozen=True)
class CanarySpec:
    """The plan's ``collect.canary`` (``slo.collect_model.Canary``), as the canary needs it."""

    sku: str
    every_s: float
    channel: str = "web"
    location: str | None = None
    customer: str = DEFAULT_TEST_CUSTOMER


class OrderCanary:
    """One test order and its cancel every ``spec.every_s``, each tagged by the sender
    (the run-id header); what it leaves open (a cancel unanswered, a place whose outcome
    is unknown) is retried every round and by ``cleanup()``."""

    def __init__(
        self,
        adapter: OmsAdapter,
        send: Sender,
        spec: CanarySpec,
        *,
        registry: CollectorRegistry,
        errors: Counter,
        run_id: str,
        clock: Callable[[], float] = time.time,
        sink: Sink | None = None,
    ) -> None:
        self.adapter, self.send, self.spec = adapter, send, spec
        self.run_id, self.clock, self.sink = run_id, clock, sink
        self.errors = errors
        self.duration = family(Histogram, registry, n.METRIC_COLLECT_CANARY_DURATION,
                                n.LABEL_OP, buckets=CALL_BUCKETS_S)  # fmt: skip
        self.ops = family(Counter, registry, n.METRIC_COLLECT_CANARY_OPS, n.LABEL_OP,
                           n.LABEL_OUTCOME)  # fmt: skip
        self.open_gauge = family(Gauge, registry, n.METRIC_COLLECT_CANARY_OPEN)
        for op, outcome in itertools.product(("place", "cancel"), ("ok", "fail", "info")):
            self.ops.labels(op, outcome)
            self.duration.labels(op)
        self.next_at = clock()
        self.count = 0
        self.open: dict[str, str | None] = {}  # order id -> its location: to cancel
        self.unknown: list[str] = []  # keys of places whose outcome is unknown
        self.failed = False

    def due(self, now: float) -> bool:
        return not self.failed and now >= self.next_at

    def run_once(self) -> None:
        """Retry what is open, then place one order and cancel it."""
        self.next_at = self.clock() + self.spec.every_s
        try:
            self._retry()
            self.count += 1
            key = f"peakops-canary-{self.run_id}-{self.count}"
            spec = self.spec
            call = self.adapter.place_call(
                key, spec.channel, spec.sku, 1, spec.location, spec.customer
            )
            outcome = self._op("place", key, None, call, self.adapter.place_outcome)
            if outcome.phase == "ok" and outcome.order_id:
                self.open[outcome.order_id] = outcome.location or spec.location
                self._cancel(outcome.order_id)
            elif outcome.phase != "fail":
                self.unknown.append(key)
        except Exception:
            self.failed = True
            self.errors.labels("adapter_bug", "canary").inc()
            logger.exception("collect: the canary's adapter call raised a bug: canary stopped")
        self.open_gauge.set(len(self.open) + len(self.unknown))

    def cleanup(self, rounds: int = 3) -> None:
        """Cancel every order left open (a few rounds); say what could not be."""
        for _ in range(rounds):
            if not (self.open or self.unknown):
                break
            try:
                self._retry()
            except Exception:
                logger.exception("collect: the canary's cleanup raised a bug")
                break
        self.open_gauge.set(len(self.open) + len(self.unknown))
        if self.open or self.unknown:
            logger.warning("collect: canary orders left open: orders %s, unknown keys %s",
                           sorted(self.open), self.unknown)  # fmt: skip

    def _retry(self) -> None:
        for key in list(self.unknown):
            try:
                outcome = self.adapter.order_by_key(key)
            except UNANSWERED:
                continue
            if outcome.phase != "info":
                self.unknown.remove(key)
            if outcome.phase == "ok" and outcome.order_id:
                self.open[outcome.order_id] = outcome.location or self.spec.location
        for order_id, location in list(self.open.items()):
            try:  # ok also when it was cancelled already (a cancel that went unanswered)
                if self.adapter.cancel_order(order_id, location).phase == "ok":
                    del self.open[order_id]
            except UNANSWERED:
                continue

    def _cancel(self, order_id: str) -> None:
        call = self.adapter.cancel_call(order_id, self.spec.channel, self.open[order_id])
        if self._op("cancel", None, order_id, call, self.adapter.cancel_outcome).phase == "ok":
            del self.open[order_id]

    def _op(
        self, op: str, key: str | None, order_id: str | None, call: HttpCall,
        read: Callable[[int, dict[str, Any] | None], Outcome],
    ) -> Outcome:  # fmt: skip
        t0 = self.clock()
        status, body = self.send(call)
        t = self.clock()
        outcome = read(status, body)
        self.duration.labels(op).observe(max(0.0, t - t0))
        self.ops.labels(op, outcome.phase).inc()
        if self.sink is not None:
            self.sink({"record": "ledger", "t": t, "t0": t0, "type": op, "key": key,
                       "phase": outcome.phase, "order_id": outcome.order_id or order_id,
                       "sku": self.spec.sku, "qty": 1, "location": outcome.location,
                       "channel": self.spec.channel, "source": "canary",
                       "reason": outcome.reason})  # fmt: skip
        return outcome


def http_sender(client: httpx.Client) -> Sender:
    """A ``Sender`` over ``client`` (its base URL the OMS, its headers the run id)."""

    def send(call: HttpCall) -> tuple[int, dict[str, Any] | None]:
        try:
            headers = dict(call.headers or {})  # the adapter's own; the client's tag the run
            response = client.request(call.method, call.path, json=call.json, headers=headers)
        except httpx.HTTPError:
            return 0, None
        try:
            body = response.json()
        except ValueError:
            body = None
        return response.status_code, body if isinstance(body, dict) else None

    return send

"""The peak-day collector: stock-drift SLIs of a production OMS, as Prometheus metrics.

Each ``step()`` probes one SKU through the adapter: its truth, every channel's view,
then its truth again (the closing read), and judges the views by the rules of
``collectors.collect_lag``: drift beyond the staleness allowance, convergence lag as
a bracket, negative stock. Errors are counted by kind: the OMS could not answer
(``UNANSWERED``: counted, probing goes on) or the adapter raised a bug (reported once,
``probe_failed`` set, probing stops while the metrics keep being served). An optional
canary places one test order and cancels it every few seconds; without one the
collector never writes to the OMS. Everything is injected (adapter, clock, sleep, the
canary's HTTP sender) and each instance has its own ``CollectorRegistry``.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from collectors.adapter import UNANSWERED, HttpCall, OmsAdapter, Outcome, StockRow
from collectors.collect_lag import LagTracker, Read
from collectors.probes import ProbeFailure, ProbeSchedule
from slo import conventions as n
from slo.conventions import CHANNELS, COLLECT_BOUNDS, COLLECT_CALLS, COLLECT_ERROR_KINDS
from slo.target import DEFAULT_TEST_CUSTOMER

__all__ = ["CanarySpec", "Collector", "MetricsServer", "Sender", "http_sender", "serve_metrics"]

logger = logging.getLogger(__name__)

M = TypeVar("M", Counter, Gauge, Histogram)

Sink = Callable[[dict[str, Any]], None]
Sender = Callable[[HttpCall], tuple[int, dict[str, Any] | None]]
"""Sends a request the adapter built; (status, JSON body); status 0: no answer."""

LAG_BUCKETS_S = (0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0)
CALL_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _Stop(Exception):
    """An adapter call raised a bug (already reported): end this probe."""


HELP = {
    n.METRIC_COLLECT_VIEW_DRIFT: "Units the channel view lies outside the truth's range within "
    "the staleness allowance: the largest over SKU x location, each as last probed.",
    n.METRIC_COLLECT_VIEW_OBSERVATIONS: "View observations judged against the staleness allowance.",
    n.METRIC_COLLECT_VIEW_OUTSIDE: "View observations outside the staleness allowance.",
    n.METRIC_COLLECT_VIEW_UNJUDGED: "View observations not judged (no truth read old enough, "
    "or the closing truth read unanswered).",
    n.METRIC_COLLECT_LAG: "Observed truth change -> the channel view shows it: lower (proved) "
    "and upper bound of each timed lag.",
    n.METRIC_COLLECT_LAG_PENDING: "Age (at least) of the oldest observed truth change the "
    "channel view does not show yet.",
    n.METRIC_COLLECT_LAG_UNTIMED: "Changes a view caught up with, bracketed too widely to time.",
    n.METRIC_COLLECT_NEGATIVE: "Stock observations below zero (source: truth or the channel).",
    n.METRIC_COLLECT_PROBE_ERRORS: "Adapter calls that failed: unanswered (the OMS could not "
    "answer) or adapter_bug (probing, or the canary, stops).",
    n.METRIC_COLLECT_PROBE_FAILED: "1 once an adapter call raised a bug and probing stopped.",
    n.METRIC_COLLECT_PROBE_DURATION: "Adapter read latency, answered or not.",
    n.METRIC_COLLECT_LAST_PROBE: "Unix time the last probe (truth, views, truth) finished.",
    n.METRIC_COLLECT_CANARY_DURATION: "Canary order latency, black box, per operation.",
    n.METRIC_COLLECT_CANARY_OPS: "Canary operations: ok, fail (refused), info (unknown).",
    n.METRIC_COLLECT_CANARY_OPEN: "Canary orders placed (or perhaps placed), not known cancelled.",
}
"""The HELP text of every metric the collector serves."""


def _family(kind: type[M], registry: CollectorRegistry, name: str, *labels: str, **kw: Any) -> M:
    return kind(name, HELP[name], labels, registry=registry, **kw)


class _Metrics:
    """The collector's metric families, in its own registry, every label child created."""

    def __init__(self, r: CollectorRegistry, channels: Sequence[str]) -> None:
        ch = n.LABEL_CHANNEL
        self.drift = _family(Gauge, r, n.METRIC_COLLECT_VIEW_DRIFT, ch)
        self.judged = _family(Counter, r, n.METRIC_COLLECT_VIEW_OBSERVATIONS, ch)
        self.outside = _family(Counter, r, n.METRIC_COLLECT_VIEW_OUTSIDE, ch)
        self.unjudged = _family(Counter, r, n.METRIC_COLLECT_VIEW_UNJUDGED, ch)
        self.lag = _family(Histogram, r, n.METRIC_COLLECT_LAG, ch, n.LABEL_BOUND,
                           buckets=LAG_BUCKETS_S)  # fmt: skip
        self.pending = _family(Gauge, r, n.METRIC_COLLECT_LAG_PENDING, ch)
        self.untimed = _family(Counter, r, n.METRIC_COLLECT_LAG_UNTIMED, ch)
        self.negative = _family(Counter, r, n.METRIC_COLLECT_NEGATIVE, n.LABEL_SOURCE)
        self.errors = _family(Counter, r, n.METRIC_COLLECT_PROBE_ERRORS, n.LABEL_KIND, n.LABEL_CALL)
        self.failed = _family(Gauge, r, n.METRIC_COLLECT_PROBE_FAILED)
        self.duration = _family(Histogram, r, n.METRIC_COLLECT_PROBE_DURATION, n.LABEL_CALL,
                                buckets=CALL_BUCKETS_S)  # fmt: skip
        self.last = _family(Gauge, r, n.METRIC_COLLECT_LAST_PROBE)
        per_channel = (self.drift, self.judged, self.outside, self.unjudged, self.pending,
                       self.untimed, self.negative)  # fmt: skip
        for channel in channels:
            for family in per_channel:
                family.labels(channel)
            for bound in COLLECT_BOUNDS:
                self.lag.labels(channel, bound)
        self.negative.labels("truth")
        for kind, call in itertools.product(COLLECT_ERROR_KINDS, COLLECT_CALLS):
            self.errors.labels(kind, call)
        for call in ("truth", "view"):
            self.duration.labels(call)


@dataclass(frozen=True)
class CanarySpec:
    """The plan's ``collect.canary`` (``slo.collect_model.Canary``), as the canary needs it."""

    sku: str
    every_s: float
    channel: str = "web"
    location: str | None = None
    customer: str = DEFAULT_TEST_CUSTOMER


class Collector:
    """Probes one SKU per ``step()``; serves what it saw through ``registry``."""

    def __init__(
        self,
        adapter: OmsAdapter,
        schedule: ProbeSchedule,
        *,
        rate: float,
        view_staleness_s: float,
        lag_resolution_s: float,
        channels: Sequence[str] = CHANNELS,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Any] = time.sleep,
        canary: CanarySpec | None = None,
        send: Sender | None = None,
        run_id: str = "",
        sink: Sink | None = None,
    ) -> None:
        """``canary``: the plan's ``collect.canary``, its orders sent by ``send`` (which
        tags them with ``run_id``); without it no order is ever placed."""
        self.adapter = adapter
        self.schedule = schedule
        self.period_s = 1.0 / rate
        self.channels = tuple(channels)
        self.clock = clock
        self.sleep = sleep
        self.sink = sink
        self.registry = CollectorRegistry()
        self.metrics = _Metrics(self.registry, self.channels)
        self.canary = None
        if canary is not None:
            if send is None:
                raise ValueError("a canary needs a sender for its orders")
            self.canary = OrderCanary(adapter, send, canary, registry=self.registry,
                                      errors=self.metrics.errors, run_id=run_id, clock=clock,
                                      sink=sink)  # fmt: skip
        self.tracker = LagTracker(
            self.channels, staleness_s=view_staleness_s, resolution_s=lag_resolution_s
        )
        self.failure: ProbeFailure | None = None
        self.probes = 0

    def run(self, for_s: float | None = None) -> None:
        """``tick()`` at the probe rate, for ``for_s`` seconds or until interrupted."""
        end = None if for_s is None else self.clock() + for_s
        next_at = self.clock()
        while end is None or self.clock() < end:
            self.tick()
            now = self.clock()
            next_at = max(next_at + self.period_s, now)  # fallen behind: no burst
            self.sleep(next_at - now if end is None else max(0.0, min(next_at, end) - now))

    def tick(self) -> None:
        """One probe, then the canary's order if one is due."""
        self.step()
        if self.canary is not None and self.canary.due(self.clock()):
            self.canary.run_once()

    def close(self) -> None:
        """Cancel what the canary left open (bounded); nothing else holds resources."""
        if self.canary is not None:
            self.canary.cleanup()

    def step(self) -> str | None:
        """Probe the schedule's next SKU: truth, every view, truth; the SKU, or None."""
        sku = None if self.failure is not None else self.schedule.next_sku()
        if sku is None:
            return None
        looks: list[tuple[str, tuple[str, str], Read]] = []
        try:
            self._truth(sku)
            for channel in self.channels:
                looks += self._view(sku, channel)
            closed = self._truth(sku)
        except _Stop:
            return sku
        self._judge(looks, closed)
        now = self.clock()
        for channel in self.channels:
            self.metrics.pending.labels(channel).set(self.tracker.pending_s(channel, now))
        self.metrics.last.set(now)
        self.probes += 1
        return sku

    def _truth(self, sku: str) -> bool:
        rows, t0, t = self._read("truth", None, self.adapter.read_truth, sku)
        for row in rows or ():
            if row.available < 0:
                self.metrics.negative.labels("truth").inc()
            self.tracker.truth((row.sku, row.location), Read(t0, t, row.available))
        return rows is not None

    def _view(self, sku: str, channel: str) -> list[tuple[str, tuple[str, str], Read]]:
        rows, t0, t = self._read("view", channel, self.adapter.read_view, sku, channel)
        looks = []
        for row in rows or ():
            if row.available < 0:
                self.metrics.negative.labels(channel).inc()
            cell, read = (row.sku, row.location), Read(t0, t, row.available)
            for lag in self.tracker.look(channel, cell, read):
                if lag.timed:
                    self.metrics.lag.labels(channel, "lower").observe(lag.lower)
                    self.metrics.lag.labels(channel, "upper").observe(lag.upper)
                else:
                    self.metrics.untimed.labels(channel).inc()
            looks.append((channel, cell, read))
        return looks

    def _judge(self, looks: list[tuple[str, tuple[str, str], Read]], closed: bool) -> None:
        for channel, cell, read in looks:
            drift = self.tracker.drift(channel, cell, read) if closed else None
            if drift is None:
                self.metrics.unjudged.labels(channel).inc()
                continue
            self.metrics.judged.labels(channel).inc()
            if drift:
                self.metrics.outside.labels(channel).inc()
        for channel in self.channels:
            self.metrics.drift.labels(channel).set(self.tracker.worst_drift(channel))

    def _read(
        self, kind: str, channel: str | None, call: Callable[..., list[StockRow]], *args: Any
    ) -> tuple[list[StockRow] | None, float, float]:
        t0 = self.clock()
        try:
            rows = call(*args)
        except UNANSWERED:  # the OMS could not answer: count it, keep probing
            self.metrics.errors.labels("unanswered", kind).inc()
            return None, t0, self.clock()
        except Exception as err:  # a bug of the adapter: report it once, stop probing
            self.metrics.errors.labels("adapter_bug", kind).inc()
            self.metrics.failed.set(1)
            name = getattr(call, "__name__", repr(call))
            self.failure = ProbeFailure(name, f"{type(err).__name__}: {err}")
            logger.exception("collect: %s%r raised a bug, not an oms that could not answer: "
                             "probing stops (metrics are still served)", name, args)  # fmt: skip
            raise _Stop from err
        finally:
            self.metrics.duration.labels(kind).observe(max(0.0, self.clock() - t0))
        t = self.clock()
        if self.sink is not None:
            for row in rows:
                self.sink({"record": "stock", "t": t, "t0": t0, "kind": kind, "sku": row.sku,
                           "location": row.location, "channel": channel, "phase": "run",
                           "available": row.available, "source": "collect"})  # fmt: skip
        return rows, t0, t


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
        self.duration = _family(Histogram, registry, n.METRIC_COLLECT_CANARY_DURATION,
                                n.LABEL_OP, buckets=CALL_BUCKETS_S)  # fmt: skip
        self.ops = _family(Counter, registry, n.METRIC_COLLECT_CANARY_OPS, n.LABEL_OP,
                           n.LABEL_OUTCOME)  # fmt: skip
        self.open_gauge = _family(Gauge, registry, n.METRIC_COLLECT_CANARY_OPEN)
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
            response = client.request(call.method, call.path, json=call.json)
        except httpx.HTTPError:
            return 0, None
        try:
            body = response.json()
        except ValueError:
            body = None
        return response.status_code, body if isinstance(body, dict) else None

    return send


@dataclass
class MetricsServer:
    """``/metrics`` of one registry, served on a loopback host by a daemon thread."""

    server: Any
    host: str
    port: int

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> MetricsServer:
    """Serve ``registry`` on ``host:port`` (port 0: a free one); the caller checks ``host``."""
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return MetricsServer(server, host, int(server.server_address[1]))

"""The peak-day collector: stock-drift SLIs of a production OMS, as Prometheus metrics.

Each ``step()`` probes one SKU through the adapter: its truth, every channel's view,
then its truth again (the closing read), and judges the views by the rules of
``collectors.collect_lag``: drift beyond the staleness allowance, convergence lag as
a bracket, negative stock. Errors are counted by kind: the OMS could not answer
(``UNANSWERED``: counted, probing goes on) or the adapter raised a bug (reported once,
``probe_failed`` set, probing stops while the metrics keep being served). An optional
canary places one test order and cancels it every few seconds; without one the
collector never writes to the OMS. Everything is injected (adapter, clock, sleep, the
canary's HTTP sender) and each instance has its own ``CollectorRegistry``. Its metrics
are ``collectors.collect_metrics``, its canary ``collectors.collect_canary``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry

from collectors.adapter import UNANSWERED, OmsAdapter, StockRow
from collectors.collect_canary import CanarySpec, OrderCanary, Sender, Sink, http_sender
from collectors.collect_lag import LagTracker, Read
from collectors.collect_metrics import (
    LAG_BUCKETS_S,
    CollectMetrics,
    MetricsServer,
    serve_metrics,
)
from collectors.probes import ProbeFailure, ProbeSchedule
from slo.conventions import CHANNELS

__all__ = [
    "LAG_BUCKETS_S",
    "CanarySpec",
    "Collector",
    "MetricsServer",
    "Sender",
    "http_sender",
    "serve_metrics",
]

logger = logging.getLogger(__name__)


class _Stop(Exception):
    """An adapter call raised a bug (already reported): end this probe."""


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
        self.metrics = CollectMetrics(self.registry, self.channels)
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

"""The stock-watching side of a load process: snapshot, probes, resolution, settle.

Runs in the process that writes the run directory (local or Locust master), as
greenlets next to the flood: a full truth snapshot before the first arrival, steady
probes while the load runs, and after it: unknown outcomes resolved, views settled
(bounded), and a final snapshot. Each step is written to the run as it happens.

An adapter call that raises a bug (not an OMS that could not answer) stops probing:
the prober reports it (``probe_failed``), the settle is skipped, and the final
snapshot is tried once.
"""

from __future__ import annotations

import contextlib

import gevent

from collectors.adapter import OmsAdapter
from collectors.drift import DriftConfig, check_run
from collectors.ledger import Ledger
from collectors.live_metrics import LiveMetrics
from collectors.probes import ProbeFailed, ProbeSchedule, StockProber, probe_until_failed
from collectors.resolve import resolve_unknown
from collectors.rundir import EventLog, RunDir
from scenarios.shoppers import Catalog
from slo.conventions import CHANNELS
from slo.errors import InfraError, RunDirError
from slo.runfiles import LEDGER_FILE, STOCK_FILE

__all__ = ["StockWatch"]

CHECK_EVERY_S = 5.0


class StockWatch:
    """Probes one run's target through the adapter; ``start`` then ``finish``."""

    def __init__(
        self,
        run: RunDir,
        adapter: OmsAdapter,
        *,
        catalog: Catalog,
        rate: float,
        hot_skus: int,
        settle_timeout_s: float,
        ledger: Ledger,
        events: EventLog,
        metrics: LiveMetrics | None = None,
        view_staleness_s: float = 2.0,
        channel_locations: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.run = run
        self.adapter = adapter
        self.prober = StockProber(
            adapter, run.appender(STOCK_FILE).append, events=events, channels=CHANNELS
        )
        skus = list(catalog.skus)
        hot = catalog.hottest(min(hot_skus, len(skus)))
        self.hot = hot
        self.schedule = ProbeSchedule(hot, [s for s in skus if s not in set(hot)])
        self.period = 1.0 / rate
        self.settle_timeout_s = settle_timeout_s
        self.ledger = ledger
        self.events = events
        self.probed: set[str] = set()
        self._loop: gevent.Greenlet | None = None
        self._checks: gevent.Greenlet | None = None
        self.metrics = metrics
        self.view_staleness_s = view_staleness_s
        self.channel_locations = channel_locations

    def start(self) -> None:
        """The start snapshot (blocking: before the first arrival), then steady probes."""
        with contextlib.suppress(ProbeFailed):  # reported: no steady probes then
            self.prober.snapshot("start", self.hot)
        self.events.emit("probes_started", hot_skus=len(self.hot), period_s=self.period)
        if not self.prober.failed:
            self._loop = gevent.spawn(
                probe_until_failed, self.prober, self.schedule, period_s=self.period,
                sleep=gevent.sleep, on_probe=self.probed.add,
            )  # fmt: skip
        if self.metrics is not None:
            self._checks = gevent.spawn(self._check_forever)

    def _check_forever(self) -> None:
        """Re-check the history so far every few seconds, for the live drift metrics."""
        config = DriftConfig(
            view_staleness_s=self.view_staleness_s, channel_locations=self.channel_locations
        )
        while True:
            gevent.sleep(CHECK_EVERY_S)
            try:
                # In a child: a pass over the whole history takes 100+ ms of CPU by the end
                # of a run, which here would stall every shopper's request and be
                # recorded as the OMS's latency.
                report = check_run(self.run.path, config, isolated=True)
            except (RunDirError, InfraError) as err:  # a torn record, a failed child: retry
                self.events.emit("live_drift_check_failed", error=str(err))
                continue
            assert self.metrics is not None
            self.metrics.observe_drift(report.to_dict())

    def finish(self) -> None:
        """Stop probing; resolve unknown outcomes; let views settle; final snapshot."""
        if self._loop is not None:
            self._loop.kill()
        if self._checks is not None:
            self._checks.kill()
        resolution = resolve_unknown(self.run.records(LEDGER_FILE), self.adapter, self.ledger)
        self.events.emit("unknown_resolved", **resolution.event_fields())
        ordered = sorted(
            {r["sku"] for r in self.run.records(LEDGER_FILE) if r.get("phase") == "ok"}
        )
        settled = self.prober.settle_views(
            ordered, timeout_s=self.settle_timeout_s, sleep=gevent.sleep
        )
        self.events.emit("views_settled", **settled)
        self.prober.final_snapshot(ordered)
        self.events.emit(
            "probes_finished", probe_reads=self.prober.reads, probe_errors=self.prober.errors
        )

"""One load process's recording state: plan, profile, recorders and where records go.

Built once per process by the locustfile's ``init`` listener. A local process or a
Locust master writes records straight into the run directory; a worker buffers
them and ships them to the master with each report (about every 3 s), and the master
writes them, so distributed runs merge into one run directory.

Each process builds its own target adapter from the plan (``target.adapter``, found
in the plan's directory too: ``plan_dir`` of ``run.json``), tags the calls it makes
itself with the run id, and keeps its share of ``target.maxUnits``: a worker reports a
spent share with its records, and the writing process says once, when every share is
spent, that the run reached its cap (``max_units_reached``).

Against a url target each process also feeds its order operations' answers to its own
``MismatchDetector`` (``answered``): when the first answers show an adapter or a
catalog that does not match the OMS, a worker tells the master at once (``notify``, a
Locust message), and the writing process writes the ``api_mismatch`` event once and
stops the load (``stop``): ``rehearsal.load`` then ends the rehearsal with exit 3.

The writing process serves live metrics with the endpoints it calls at zero; when
Prometheus scrapes them, ``await_first_scrapes`` and ``await_final_scrape`` let the
PromQL gate's ``increase()`` see the run's first and last intervals.
"""

from __future__ import annotations

import logging
import os
import random
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import psutil
from opentelemetry.sdk.trace import TracerProvider

from collectors.adapter import OmsAdapter, Outcome
from collectors.adapters import plan_adapter
from collectors.latency import IntervalRecorder
from collectors.ledger import Ledger
from collectors.live_metrics import LiveMetrics
from collectors.loadmeter import LoadMeter
from collectors.mismatch import API_MISMATCH_EVENT, MismatchDetector
from collectors.rundir import EventLog, RunDir, new_run_id
from scenarios.errors import LOGGER, ErrorTally
from scenarios.funnel import JourneyPlanner, UnitBudget, UrlPlanner, load_funnels, unit_share
from scenarios.profiles import Profile, build_profile
from scenarios.shoppers import Catalog, ChannelMix
from scenarios.tracing import TRACER_NAME, ClientTracer, build_tracer_provider
from slo.conventions import ENDPOINT_CANCEL_ORDER
from slo.plan import Plan
from slo.runfiles import (
    HEADER_FILE,
    LATENCY_FILE,
    LEDGER_FILE,
    LOAD_FILE,
    TRACES_FILE,
    worker_traces_file,
)

__all__ = ["PLAN_POINTER", "SCRAPE_WAIT_S", "Buffer", "LoadSession", "open_or_create_run",
           "open_run"]  # fmt: skip

Sink = Callable[[dict[str, Any]], None]

SCRAPE_WAIT_S: Final = 3.0
"""The longest the load waits for a scrape, before its arrivals or before
``load_finished`` (a rehearsal's Prometheus scrapes every second)."""

PLAN_POINTER: Final = "<plan file>"
"""How the mismatch message names the plan when the load process was not given its file
(a rehearsal passes the run directory, which records the plan's folder, not its name)."""


@dataclass
class Buffer:
    """Records a worker holds until its next report to the master."""

    latency: list[dict[str, Any]] = field(default_factory=list)
    load: list[dict[str, Any]] = field(default_factory=list)
    ledger: list[dict[str, Any]] = field(default_factory=list)
    notices: list[dict[str, Any]] = field(default_factory=list)
    """What the writing process should say for the worker (a spent unit share)."""

    def drain(self) -> dict[str, list[dict[str, Any]]]:
        # Emptied in place: the recorders hold these lists' ``append``.
        out = {"latency": list(self.latency), "load": list(self.load), "ledger": list(self.ledger),
               "notices": list(self.notices)}  # fmt: skip
        for records in (self.latency, self.load, self.ledger, self.notices):
            records.clear()
        return out


class LoadSession:
    """Everything one load process records with, for one run directory."""

    def __init__(
        self,
        run: RunDir,
        plan: Plan,
        *,
        source: str,
        buffered: bool,
        plan_dir: Path | None = None,
    ) -> None:
        self.run = run
        self.plan = plan
        self.source = source
        self.plan_dir = plan_dir
        if plan_dir is not None and str(plan_dir) not in sys.path:
            # Last, not first: a later import of ours or of the stdlib is never shadowed
            # by a file next to the plan; the adapter's own import searches it first.
            sys.path.append(str(plan_dir))
        self.skus: list[str] | None = None
        """The test SKUs of a url target (most popular first); None: the seeded catalog."""
        self.profile: Profile = build_profile(plan.load)
        self.buffer = Buffer() if buffered else None
        self.metrics = None if buffered else LiveMetrics()
        self.latency_sink, self.load_sink = self._sinks()
        process = psutil.Process(os.getpid())
        process.cpu_percent(None)  # the first call only starts the measurement
        self.recorder = IntervalRecorder(self.latency_sink, source=source)
        self.ledger = Ledger(self.ledger_sink, source=source)
        self.meter = LoadMeter(
            self.load_sink, cpu_percent=lambda: process.cpu_percent(None), source=source
        )
        self.errors = ErrorTally()  # why requests failed, each kind logged once
        self.started = time.perf_counter()
        self.metrics_url: str | None = None
        self.tracer_provider: TracerProvider | None = None
        self._tracer: ClientTracer | None = None
        self._tracer_lock = threading.Lock()  # gevent-aware once Locust has patched
        self._adapter: OmsAdapter | None = None
        self.watch: Any = None  # the StockWatch of a writing process, once started
        self._units: UnitBudget | None = None
        self._spent_shares: dict[str, int] = {}
        self._cap_said = False
        watching = plan.target.kind == "url" and plan.load.scenario == "shoppers"
        self.mismatch = MismatchDetector() if watching else None
        """The API-mismatch detector of this process's order operations (url targets)."""
        self.skus_source: str | None = None
        """Where ``skus`` came from (``target.skus``, ``adapter.list_skus()``)."""
        self.plan_file = PLAN_POINTER
        self.notify: Callable[[dict[str, Any]], None] | None = None
        """A worker's way to tell the master of a mismatch (a Locust message)."""
        self.stop: Callable[[], None] | None = None
        """The writing process's way to end the load early (quit the Locust runner)."""
        self._mismatch_said = False
        self.stopping = False
        """Set by the first ``test_stop`` of a test run (Locust may fire it twice)."""
        self.drained = False
        """Set when this process's open-model arrivals are all sent and answered."""

    def _sinks(self) -> tuple[Sink, Sink]:
        if self.buffer is not None:
            self.ledger_sink: Sink = self.buffer.ledger.append
            return self.buffer.latency.append, self.buffer.load.append
        self.ledger_sink = self.run.appender(LEDGER_FILE).append
        latency, load = self.run.appender(LATENCY_FILE), self.run.appender(LOAD_FILE)
        metrics = self.metrics
        assert metrics is not None

        def write_latency(record: dict[str, Any]) -> None:
            latency.append(record)
            metrics.observe_latency(record)

        def write_load(record: dict[str, Any]) -> None:
            load.append(record)
            metrics.observe_load(record)

        return write_latency, write_load

    def absorb(self, shipped: dict[str, list[dict[str, Any]]]) -> None:
        """Write records a worker shipped (master only)."""
        for record in shipped.get("latency", ()):
            self.latency_sink(record)
        for record in shipped.get("load", ()):
            self.load_sink(record)
        for record in shipped.get("ledger", ()):
            self.ledger_sink(record)
        for notice in shipped.get("notices", ()):
            self.share_spent(str(notice.get("source")), int(notice.get("units", 0)))

    def adapter(
        self, host: str, truth_url: str | None, store_urls: Mapping[str, str] | None = None
    ) -> OmsAdapter:
        """The plan's target adapter (one per process): journeys, probes and resolution
        share it. Raises ``UsageError`` (a variable not set, an adapter not built)."""
        if self._adapter is None:
            self._adapter = plan_adapter(
                self.plan, base_url=host, truth_url=truth_url, store_urls=store_urls,
                plan_dir=self.plan_dir, env=os.environ, run_id=self.run.run_id,
            )  # fmt: skip
        return self._adapter

    def catalog(self) -> Catalog:
        """What shoppers buy: the test SKUs of a url target, else the seeded catalog."""
        zipf = self.plan.load.zipf
        if self.skus is not None:
            return Catalog(self.skus, zipf)
        return Catalog.reference(self.plan.target.catalog.skus, zipf)

    def units(self, index: int = 0, count: int = 1) -> UnitBudget:
        """This process's share of ``target.maxUnits`` (process ``index`` of ``count``)."""
        if self._units is None:
            share = unit_share(self.plan.target.max_units, index, count)
            self._units = UnitBudget(share, on_spent=self._own_share_spent)
        return self._units

    def _own_share_spent(self, units: int) -> None:
        cap = self.plan.target.max_units
        logging.getLogger(LOGGER).warning(
            "target.maxUnits: %s ordered its share of the run's %s units (%d): no more "
            "orders from it, browsing goes on", self.source, cap, units,
        )  # fmt: skip
        if self.buffer is not None:
            self.buffer.notices.append({"source": self.source, "units": units})
        else:
            self.share_spent(self.source, units)

    def share_spent(self, source: str, units: int) -> None:
        """A process spent its share (writing process): once every share is, say so once."""
        cap = self.plan.target.max_units
        self._spent_shares[source] = units
        total = sum(self._spent_shares.values())
        if cap is None or self._cap_said or total < cap:
            return
        self._cap_said = True
        self.events().emit("max_units_reached", units=total, max_units=cap)
        logging.getLogger(LOGGER).warning(
            "target.maxUnits reached: the run ordered %d units; orders stop, browsing goes on",
            total,
        )

    def answered(self, endpoint: str, status: int, outcome: Outcome) -> None:
        """One order operation's answer (``JourneyRunner``'s ``on_answer``): on the one that
        trips the detector, tell the writing process, or be it."""
        if self.mismatch is None:
            return
        found = self.mismatch.observe(endpoint, status, outcome)
        if found is None:
            return
        fields = {"seen_by": self.source, **found.event_fields(self.plan_file, self.skus_source)}
        if self.buffer is not None:
            if self.notify is None:
                raise RuntimeError("a worker's load session has no way to tell its master")
            self.notify(fields)
        else:
            self.mismatched(fields)

    def mismatched(self, fields: dict[str, Any]) -> None:
        """A process saw an API mismatch (writing process): the event, once; stop the load."""
        if self._mismatch_said:
            return
        self._mismatch_said = True
        self.events().emit(API_MISMATCH_EVENT, **fields)
        logging.getLogger(LOGGER).error("peakops: api mismatch: %s", fields.get("message"))
        if self.stop is not None:
            self.stop()

    def serve_metrics(self, port: int) -> str | None:
        """Serve the live metrics on 127.0.0.1 (``port`` 0: a free one); the URL.

        The endpoints this process calls are served at zero from the start
        (``LiveMetrics.register_endpoints``)."""
        if self.metrics is None or port < 0:
            return None
        from prometheus_client import start_http_server

        self.metrics.register_endpoints(self.endpoints())
        server, _thread = start_http_server(
            port, addr="127.0.0.1", registry=self.metrics.registry()
        )
        return f"http://127.0.0.1:{server.server_port}/metrics"

    def endpoints(self) -> list[str]:
        """The endpoints this load calls: those its journeys pace, and cancellations."""
        called = sorted(self.journey_planner(0).expected_calls())
        load = self.plan.load
        if load.scenario == "shoppers" and load.cancel_ratio > 0:
            called.append(ENDPOINT_CANCEL_ORDER)
        return called

    def await_first_scrapes(self, after: float) -> bool:
        """Wait for two scrapes begun since ``after`` (``load_started``), before arrivals.

        Prometheus stamps a sample with the time its scrape began, which may be just
        before ``load_started`` for the first scrape seen after it; the second began
        after the first ended. So the load window holds a sample of the endpoints at
        zero, and ``increase()`` counts the first interval. False: none within
        ``SCRAPE_WAIT_S`` (the arrivals start anyway)."""
        assert self.metrics is not None
        return self.metrics.await_scrapes(after, 2, SCRAPE_WAIT_S)

    def await_final_scrape(self, after: float) -> bool | None:
        """Wait for a scrape begun since ``after`` (the final flush), before
        ``load_finished``: the PromQL gate reads the window up to that event, and this
        process stops serving soon after. None: never scraped, so not waited for."""
        if self.metrics is None or not self.metrics.scraped:
            return None
        return self.metrics.await_scrapes(after, 1, SCRAPE_WAIT_S)

    def journey_planner(
        self, seed_salt: int, units: UnitBudget | None = None
    ) -> JourneyPlanner | UrlPlanner:
        """Draws this process's journeys; ``units``: the process's share of the unit cap
        (None: no cap, e.g. a planner that only counts expected calls)."""
        load = self.plan.load
        if load.scenario == "url":
            return UrlPlanner(
                urlsplit(self.plan.target.base_url or "/")._replace(scheme="", netloc="").geturl()
            )
        preset = self.profile.preset
        return JourneyPlanner(
            channels=ChannelMix(dict(load.channels)),
            funnels=load_funnels(),
            catalog=self.catalog(),
            cancel_ratio=load.cancel_ratio,
            rng=random.Random(load.seed * 1_000_003 + seed_salt),
            hot_skus=preset.hot_skus,
            hot_share=self.profile.hot_share,
            units=units,
        )

    def tracer(self, host: str) -> ClientTracer:
        """The process's one client tracer (built on first use).

        Locked: building it does file I/O, where gevent switches to the next user's
        ``on_start``, which would otherwise build a second tracer (and a second
        trace budget) of its own.
        """
        with self._tracer_lock:
            if self._tracer is None:
                self._tracer = self.client_tracer(host)
        return self._tracer

    def client_tracer(self, host: str) -> ClientTracer:
        """This process's tracer: spans to ``traces*.jsonl`` in the run, or to OTLP."""
        name = TRACES_FILE if self.buffer is None else worker_traces_file(self.source)
        traces_file = self.run.file(name) if self.run.path.is_dir() else None
        self.tracer_provider = build_tracer_provider(
            service_name="peakops-load",
            traces_file=traces_file,
            resource={"peakops.run_id": self.run.run_id, "peakops.source": self.source},
            sample_ratio=1.0,  # the ClientTracer samples, before the SDK costs anything
        )
        tracer = self.tracer_provider.get_tracer(TRACER_NAME)
        load = self.plan.load
        return ClientTracer(
            tracer, run_id=self.run.run_id, base_url=host, baggage={"peakops.synthetic": "true"},
            sample_ratio=load.trace_sample_ratio, max_per_second=load.max_traces_per_second,
        )  # fmt: skip

    def flush(self, *, final: bool = False) -> None:
        self.recorder.flush(final=final)
        self.meter.flush(final=final)
        if final and self.tracer_provider is not None:
            self.tracer_provider.force_flush(timeout_millis=2000)

    def events(self) -> EventLog:
        return EventLog(self.run, source="load")


def open_run(run_dir: Path) -> tuple[RunDir, Plan, Path | None]:
    """The run directory the rehearsal made, the plan in its header, and the plan's
    directory (``plan_dir``: where the plan's own adapter module and SKU file live)."""
    from slo.plan import plan_from_snapshot

    run = RunDir.open(run_dir)
    plan = plan_from_snapshot(run.plan_snapshot(), str(run.file(HEADER_FILE)))
    plan_dir = run.header().get("plan_dir")
    return run, plan, Path(plan_dir) if isinstance(plan_dir, str) and plan_dir else None


def open_or_create_run(options: Any, *, worker: bool) -> tuple[RunDir, Plan, Path | None]:
    """The run directory, plan and plan directory: the rehearsal's, or from ``--plan``.

    A worker on another machine may not see the run directory: it reads the plan
    from ``--plan`` and only uses the run id (it never writes; the master does).
    """
    from slo.loader import load_plan
    from slo.plan import plan_snapshot

    if options.run_dir and (Path(options.run_dir) / HEADER_FILE).exists():
        return open_run(Path(options.run_dir))
    plan_file = Path(options.plan)
    plan, plan_dir = load_plan(plan_file), plan_file.resolve().parent
    if worker:
        return RunDir(Path(options.run_dir or new_run_id())), plan, plan_dir
    run = RunDir.create(Path(plan.outputs.run_dir), new_run_id(), plan=plan_snapshot(plan),
                        git_sha=None)  # fmt: skip
    run.update_header(plan_dir=str(plan_dir))
    options.run_dir = str(run.path)  # workers get it with the spawn message
    options.peakops_created_run = True  # no rehearsal stamps its end: this process does
    return run, plan, plan_dir

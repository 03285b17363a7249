"""Locust entry point of the peakops order flood.

The rehearsal runs it headless into its run directory::

    locust -f scenarios/locustfile.py --headless --run-dir runs/X --host URL [--processes 2]

and it also runs by hand, with Locust's web UI, from a plan file (a new run directory
is made under the plan's ``outputs.runDir``)::

    locust -f scenarios/locustfile.py --plan peak.yaml --host http://127.0.0.1:8080

``load.mode: open`` runs one ``OpenShoppers`` user per process, which schedules
arrivals from the profile (see ``scenarios.arrivals``); ``closed`` runs
``load.users`` ``ClosedShopper`` users paced to the profile, Locust's own model.
Across processes (``--processes N`` or ``--master``/``--worker``) each worker takes
1/N of the arrivals (and of ``target.maxUnits``) and ships its records to the master,
which writes them. Workers forked by ``--processes`` die with their master, even when
it is killed with SIGKILL (``scenarios.lifeline``).

Every process builds the plan's adapter itself (``target.adapter``; a module next to
the plan is found through ``plan_dir`` in ``run.json``, or the ``--plan`` file's
directory). The test SKUs of a url target are resolved once, by the master (or the
local process), before the flood: ``target.skus`` or ``adapter.list_skus()``; workers
get the list with the spawn message, so every process and the probes use the same one.
A plan whose adapter cannot be built, or whose SKUs cannot be had, ends the load
process before the flood with ``peakops: error: ...`` as its last line.

Against a url target, every process watches its first order operations' answers for an
API mismatch (``LoadSession.answered``); a worker that sees one sends
``MISMATCH_MESSAGE`` to the master, and the writing process records ``api_mismatch``
and quits the runner, so the flood stops within seconds instead of running its
duration against an OMS that refuses it. What the listeners here call is in
``scenarios.process_setup``.

With ``--await-scrape`` (a rehearsal with its own Prometheus passes it) the writing
process starts the arrivals only after two scrapes of its metrics since ``load_started``,
and, when it has been scraped at all, says ``load_finished`` only after a scrape since
its final flush (each wait at most ``scenarios.session.SCRAPE_WAIT_S``): the PromQL
gate then counts the run's first and last intervals (docs/promql-gate.md).
"""

from __future__ import annotations

import logging
import os
import random
import time
from typing import Any

import gevent
import gevent.pool
from locust import FastHttpUser, LoadTestShape, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from scenarios.arrivals import DRAIN_S, ArrivalPlanner, ArrivalScheduler, open_load_over
from scenarios.controller import OrdersPerMinuteController
from scenarios.errors import LOGGER
from scenarios.journeys import JourneyRunner, planned_endpoints
from scenarios.lifeline import tie_forked_children
from scenarios.process_setup import (
    MISMATCH_MESSAGE,
    absorb_from,
    adapter_of,
    fatal,
    flush_loop,
    plan_file_of,
    prepare_target,
    session_of,
    ship_from,
    stock_watch,
    stop_early,
)
from scenarios.session import SCRAPE_WAIT_S, LoadSession, open_or_create_run
from slo.errors import PeakopsError

CONTROL_EVERY_S = 5.0

# Locust imports its locustfile once, before ``--processes`` forks the workers: like the
# listeners below, this is registered then, so that every worker dies with the master.
tie_forked_children()


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    group = parser.add_argument_group("peakops")
    group.add_argument("--run-dir", default="", help="peakops run directory to record into")
    group.add_argument("--plan", default="peak.yaml", help="plan file, when no --run-dir is given")
    group.add_argument("--truth-url", default="", help="the OMS's source of truth (inventory)")
    group.add_argument(
        "--store-urls", default="",
        help="store nodes serving the store channel: store-1=http://127.0.0.1:8200,...",
    )  # fmt: skip
    group.add_argument(
        "--metrics-port", type=int, default=0,
        help="serve live metrics on 127.0.0.1:PORT (0: a free port, -1: off)",
    )  # fmt: skip
    group.add_argument(
        "--await-scrape", action="store_true",
        help="Prometheus scrapes the live metrics: start the arrivals after two scrapes",
    )  # fmt: skip


@events.init.add_listener
def _init(environment: Environment, **_: Any) -> None:
    """Master and local processes know their run from the start (the shape needs it)."""
    runner = environment.runner
    if isinstance(runner, WorkerRunner) or environment.parsed_options is None:
        return
    run, plan, plan_dir = open_or_create_run(environment.parsed_options, worker=False)
    session = LoadSession(run, plan, source="load", buffered=False, plan_dir=plan_dir)
    environment.peakops = session  # type: ignore[attr-defined]
    session.plan_file = plan_file_of(environment.parsed_options) or session.plan_file
    prepare_target(session, environment)
    stop_early(session, environment)
    OpenShoppers.concurrency = plan.load.max_concurrency
    if isinstance(runner, MasterRunner):
        events.worker_report.add_listener(absorb_from(session))
    session.metrics_url = session.serve_metrics(environment.parsed_options.metrics_port)


@events.test_start.add_listener
def _start(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    worker = isinstance(runner, WorkerRunner)
    if isinstance(runner, WorkerRunner) and getattr(environment, "peakops", None) is None:
        options = environment.parsed_options
        run, plan, plan_dir = open_or_create_run(options, worker=True)
        session = LoadSession(run, plan, source=f"worker-{runner.worker_index}", buffered=True,
                              plan_dir=plan_dir)  # fmt: skip
        session.skus = getattr(options, "peakops_skus", None)  # the master's list
        session.skus_source = getattr(options, "peakops_skus_source", None)
        session.plan_file = plan_file_of(options) or session.plan_file
        session.notify = lambda fields: runner.send_message(MISMATCH_MESSAGE, fields)
        environment.peakops = session  # type: ignore[attr-defined]
        OpenShoppers.concurrency = plan.load.max_concurrency
        events.report_to_master.add_listener(ship_from(session))
        try:
            adapter_of(session, environment)  # built now: a task would retry it forever
        except PeakopsError as err:
            raise fatal(err) from err
    session = session_of(environment)
    session.started = time.perf_counter()
    session.stopping = False
    session.drained = False
    if isinstance(runner, MasterRunner) and environment.parsed_options is not None:
        # Sent to every worker with the spawn message: how many share the arrivals.
        environment.parsed_options.peakops_workers = runner.worker_count
    if not worker:
        plan = session.plan
        session.events().emit(
            "load_started", mode=plan.load.mode, profile=plan.load.profile,
            baseline_per_min=plan.load.baseline_per_min,
            peak_per_min=plan.load.peak_rate_per_min, host=environment.host,
            duration_s=plan.load.duration_s, pid=os.getpid(),
            metrics_url=session.metrics_url,
        )  # fmt: skip
        _first_scrapes(session, environment)
        if plan.load.scenario == "shoppers":
            session.watch = stock_watch(session, environment)
            session.watch.start()
    closed = not worker and session.plan.load.mode == "closed"
    gevent.spawn(flush_loop, session, plan_closed=closed)


@events.test_stop.add_listener
def _stop(environment: Environment, **_: Any) -> None:
    session = session_of(environment)
    if session.stopping:  # a quit during a stop fires test_stop again: finish once
        return
    session.stopping = True
    session.flush(final=True)
    failures = session.errors.summary()
    if failures:
        logging.getLogger(LOGGER).warning(failures)
    if not isinstance(environment.runner, WorkerRunner):
        elapsed = time.perf_counter() - session.started
        interrupted = elapsed < session.plan.load.duration_s - 0.5
        scraped = session.await_final_scrape(time.time())
        if scraped is False:
            logging.getLogger(LOGGER).warning(
                "no scrape of the final interval within %.0f s: Prometheus misses it",
                SCRAPE_WAIT_S,
            )
        fields = {} if scraped is None else {"final_scrape": scraped}
        session.events().emit("load_finished", interrupted=interrupted, **fields)
        if session.watch is not None:
            session.watch.finish()
        if getattr(environment.parsed_options, "peakops_created_run", False):
            session.run.finish("interrupted" if interrupted else "completed")


def _first_scrapes(session: LoadSession, environment: Environment) -> None:
    """With ``--await-scrape``: hold the arrivals until Prometheus has sampled the
    endpoints at zero inside the load window (``LoadSession.await_first_scrapes``).
    The run's clock and a local runner's shape restart after the wait, as a master's
    does after ``test_start``: the plan's duration is all arrivals."""
    options = environment.parsed_options
    if session.metrics is None or not getattr(options, "await_scrape", False):
        return
    if not session.await_first_scrapes(time.time()):
        logging.getLogger(LOGGER).warning(
            "no scrape of the load's metrics within %.0f s of load_started: Prometheus "
            "may miss the first interval", SCRAPE_WAIT_S,
        )  # fmt: skip
    session.started = time.perf_counter()
    shape = environment.shape_class
    if shape is not None and not isinstance(environment.runner, MasterRunner):
        shape.reset_time()


def _workers(environment: Environment) -> tuple[int, int]:
    """(this process's index, how many processes share the arrivals)."""
    runner = environment.runner
    if not isinstance(runner, WorkerRunner):
        return 0, 1
    options = environment.parsed_options
    count = getattr(options, "peakops_workers", 0) or getattr(options, "expect_workers", 1) or 1
    return runner.worker_index, max(1, int(count))


class OpenShoppers(FastHttpUser):
    """One per load process: schedules this process's share of the arrivals."""

    concurrency = 256
    network_timeout = 5.0  # an answer later than this is an unknown outcome
    connection_timeout = 2.0

    @task
    def arrivals(self) -> None:
        session = session_of(self.environment)
        load = session.plan.load
        index, count = _workers(self.environment)
        journeys = session.journey_planner(index + 1, session.units(index, count))
        opj = journeys.orders_per_journey()
        planner = ArrivalPlanner(
            lambda t: session.profile.rate(t) / opj,
            duration_s=load.duration_s, poisson=load.arrivals == "poisson",
            rng=random.Random(load.seed * 7919 + index),
            share=1 / count, phase=(index + 0.5) / count,
        )  # fmt: skip
        pool = gevent.pool.Pool(max(1, load.max_concurrency // count))
        runner = JourneyRunner(
            self.client, run_id=session.run.run_id, adapter=adapter_of(session, self.environment),
            recorder=session.recorder, meter=session.meter, ledger=session.ledger,
            tracer=session.tracer(self.host or ""), key_prefix=f"{session.run.run_id}-p{index}",
            errors=session.errors, customer=session.plan.target.test_customer,
            on_answer=session.answered,
        )  # fmt: skip
        meter = session.meter

        def dropped(journey_plan: Any) -> None:
            meter.dropped()
            journeys.dropped(journey_plan)  # never sent: its units may still be ordered

        start = time.perf_counter()

        def plan() -> Any:
            journey_plan = journeys.draw(time.perf_counter() - start)
            meter.plan(planned_endpoints(journey_plan))
            return journey_plan

        def journey(intended: float, journey_plan: Any) -> None:
            meter.sent()
            try:
                runner.run(journey_plan, intended)
            finally:
                meter.finished()

        if load.target_orders_per_min:
            gevent.spawn(_control, planner, session, load.target_orders_per_min / count)
        scheduler = ArrivalScheduler(
            planner, pool, clock=time.perf_counter, sleep=gevent.sleep,
            on_drop=dropped,
        )  # fmt: skip
        scheduler.run(session.errors.guard(journey), plan)
        session.drained = pool.join(timeout=DRAIN_S)
        while True:  # the shape ends the run; a returning task would be restarted
            gevent.sleep(1.0)


def _control(planner: ArrivalPlanner, session: LoadSession, target_per_min: float) -> None:
    controller = OrdersPerMinuteController(target_per_min)
    seen = session.meter.total_confirmed
    while True:
        gevent.sleep(CONTROL_EVERY_S)
        if session.units().spent:  # no more orders to steer by: browse at the plan's rate
            planner.multiplier = 1.0
            return
        now = session.meter.total_confirmed
        planner.multiplier = controller.update(now - seen, CONTROL_EVERY_S)
        seen = now


class ClosedShopper(FastHttpUser):
    """Locust's closed model: each user runs journeys back to back, paced to the profile."""

    network_timeout = 5.0
    connection_timeout = 2.0

    def on_start(self) -> None:
        session = session_of(self.environment)
        self._number = next(_user_numbers)
        self._journeys = session.journey_planner(
            10_000 + self._number, session.units(*_workers(self.environment))
        )
        self._opj = self._journeys.orders_per_journey()
        self._next = time.perf_counter()
        self._runner = JourneyRunner(
            self.client, run_id=session.run.run_id, adapter=adapter_of(session, self.environment),
            recorder=session.recorder, meter=session.meter, ledger=session.ledger,
            tracer=session.tracer(self.host or ""),
            key_prefix=f"{session.run.run_id}-u{os.getpid()}-{self._number}",
            errors=session.errors, customer=session.plan.target.test_customer,
            on_answer=session.answered,
        )  # fmt: skip
        self._journey = session.errors.guard(self._run_journey)

    def wait_time(self) -> float:
        session = session_of(self.environment)
        elapsed = time.perf_counter() - session.started
        per_user = session.profile.rate(elapsed) / self._opj / session.plan.load.users
        self._next = max(self._next, time.perf_counter() - 1.0) + 1.0 / max(per_user, 1e-6)
        return max(0.0, self._next - time.perf_counter())

    @task
    def journey(self) -> None:
        self._journey()

    def _run_journey(self) -> None:
        session = session_of(self.environment)
        plan = self._journeys.draw(time.perf_counter() - session.started)
        session.meter.sent()
        try:
            self._runner.run(plan)
        finally:
            session.meter.finished()


_user_numbers = iter(range(1, 1 << 30))


class PeakShape(LoadTestShape):
    """Holds the user count the model needs, and ends the run after the duration.

    Open model: once the arrivals are all sent and answered (``drained``), or
    ``DRAIN_S`` after the duration at most. A master cannot see its workers' pools:
    it always gives them ``DRAIN_S``."""

    def tick(self) -> tuple[int, float, list[type]] | None:
        assert self.runner is not None
        session = session_of(self.runner.environment)
        load = session.plan.load
        elapsed = self.get_run_time()
        if load.mode == "open":
            master = isinstance(self.runner, MasterRunner)
            if open_load_over(elapsed, load.duration_s, drained=session.drained and not master):
                return None
            n = self.runner.worker_count if isinstance(self.runner, MasterRunner) else 1
            return (n, n, [OpenShoppers])
        if elapsed > load.duration_s:
            return None
        return (load.users, load.users, [ClosedShopper])

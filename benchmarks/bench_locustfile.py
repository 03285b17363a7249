"""The Locust users the benchmarks run, one class per arm, named on the command line.

- ``BareUser``: bare Locust, ``FastHttpUser`` GETting the host's ``/`` back to back.
- ``InstrumentedUser``: the same loop through peakops' real request path: a run
  directory and plan built as ``peakops load`` builds them (``url_flood_plan``,
  ``RunDir.create``), one ``LoadSession`` (HDR interval recorder, load meter, live
  metrics server, client tracer at the plan's sample ratio) and a ``JourneyRunner`` per
  user running the ``url`` scenario's ``UrlVisit``, with the session flushed every
  0.25 s as ``scenarios/locustfile.py`` does. The loop body is ``ClosedShopper.journey``'s.
- ``ShopperUser``: the default journey mix (``scenario: shoppers``, the plan's default
  channels, funnels and cancel ratio) through the same request path, back to back, as
  ``ClosedShopper`` runs it, against ``stub_oms.py``: what one load process can order.
  The CPU file then also holds the orders confirmed and the journeys run.
- ``PacedUser``: plain Locust paced with ``constant_throughput`` (closed loop).
- ``CatchUser``, ``HeadersUser``: bare Locust plus, step by step, what our path asks of
  Locust (``name=``, ``catch_response``, then our three headers), for
  ``loadgen.py --breakdown``; ``--bench-no-tracer`` runs ``InstrumentedUser`` without
  a tracer.

Started by ``loadgen.py`` and ``coordinated_omission.py``, e.g.::

    python -m locust -f benchmarks/bench_locustfile.py --headless -u 32 -r 32 -t 10s \\
        --host http://127.0.0.1:PORT InstrumentedUser --bench-run-root /tmp/x

At the end of the run it writes ``--bench-cpu-file`` (JSON): wall seconds from test
start to test stop and the CPU seconds this process and ``--bench-target-pids`` used
in that window, so the driver can show who the bottleneck was.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path
from typing import Any

import gevent
import psutil
from locust import FastHttpUser, constant, constant_throughput, events, task
from locust.env import Environment

from collectors.rundir import RunDir, new_run_id
from rehearsal.adhoc import url_flood_plan
from scenarios.funnel import UrlVisit
from scenarios.journeys import JourneyRunner
from scenarios.session import LoadSession
from slo.durations import format_duration
from slo.plan import Plan, plan_snapshot, validate_plan

FLUSH_EVERY_S = 0.25  # as scenarios/locustfile.py
NOMINAL_RATE_PER_S = 1000.0  # the plan needs a rate (within slo.plan.MAX_RATE_PER_MIN at
# the peak multiplier); the closed loop at full speed ignores it

_user_numbers = itertools.count(1)
_window: dict[str, Any] = {}
_journeys = [0]  # ShopperUser journeys run (a list: the users add to it)


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    group = parser.add_argument_group("peakops benchmarks")
    group.add_argument("--bench-run-root", default="", help="InstrumentedUser: run dirs go here")
    group.add_argument("--bench-trace-ratio", type=float, default=0.1,
                       help="InstrumentedUser: load.traceSampleRatio of the plan")  # fmt: skip
    group.add_argument("--bench-no-tracer", action="store_true",
                       help="InstrumentedUser: JourneyRunner without a tracer")  # fmt: skip
    group.add_argument("--bench-user-rate", type=float, default=10.0,
                       help="PacedUser: requests/s per user (constant_throughput)")  # fmt: skip
    group.add_argument("--bench-cpu-file", default="", help="write the CPU window here (JSON)")
    group.add_argument("--bench-target-pids", default="", help="comma-separated target pids")


def _session(environment: Environment) -> LoadSession:
    return environment.peakops_bench  # type: ignore[attr-defined]


@events.init.add_listener
def _init(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    if options is None:
        return
    PacedUser.wait_time = constant_throughput(options.bench_user_rate)
    ours = {InstrumentedUser, ShopperUser} & set(environment.user_classes)
    if not ours:
        return  # the other arms pay for nothing of ours
    if not options.bench_run_root:
        raise SystemExit("bench_locustfile: our users need --bench-run-root")
    url = (environment.host or "").rstrip("/") + "/"
    duration_s = float(options.run_time or 10)
    if ShopperUser in ours:
        plan = _shoppers_plan(url, duration_s, options.num_users, options.bench_trace_ratio)
    else:
        plan = url_flood_plan(
            url=url,
            rate_per_s=NOMINAL_RATE_PER_S,
            duration_s=duration_s,
            max_concurrency=options.num_users,
            arrivals="uniform",
            trace_sample_ratio=options.bench_trace_ratio,
        )
    run = RunDir.create(
        Path(options.bench_run_root), new_run_id(), plan=plan_snapshot(plan), git_sha=None
    )
    session = LoadSession(run, plan, source="bench", buffered=False)
    session.metrics_url = session.serve_metrics(0)
    environment.peakops_bench = session  # type: ignore[attr-defined]


def _shoppers_plan(url: str, duration_s: float, users: int, trace_ratio: float) -> Plan:
    """The default journey mix in the closed model against ``url`` (a reference-API OMS)."""
    return validate_plan(
        {
            "apiVersion": "peakops/v1",
            "name": "bench-shoppers",
            "target": {"kind": "url", "baseUrl": url, "allowHosts": ["127.0.0.1"]},
            "load": {"profile": "constant", "mode": "closed", "scenario": "shoppers",
                     "duration": format_duration(duration_s), "users": users,
                     "baseline": NOMINAL_RATE_PER_S * 60, "traceSampleRatio": trace_ratio},
            "slos": {"minSamples": 1,
                     "objectives": [{"id": "error-ratio", "kind": "error_ratio", "max": 0.01}]},
        },
        source="bench_locustfile",
    )  # fmt: skip


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def _target_pids(environment: Environment) -> list[int]:
    text = environment.parsed_options.bench_target_pids if environment.parsed_options else ""
    return [int(pid) for pid in text.split(",") if pid.strip()]


@events.test_start.add_listener
def _start(environment: Environment, **_: Any) -> None:
    _window.update(
        wall=time.perf_counter(),
        cpu=_cpu_seconds([os.getpid()]),
        target_cpu=_cpu_seconds(_target_pids(environment)),
    )
    session = getattr(environment, "peakops_bench", None)
    if session is not None:
        session.started = time.perf_counter()
        gevent.spawn(_flush_loop, session)


def _flush_loop(session: LoadSession) -> None:
    while True:
        gevent.sleep(FLUSH_EVERY_S)
        session.flush()


@events.test_stop.add_listener
def _stop(environment: Environment, **_: Any) -> None:
    options = environment.parsed_options
    window = None
    if options is not None and options.bench_cpu_file and _window:
        window = {  # before the final flush: the load's window only
            "wall_s": time.perf_counter() - _window["wall"],
            "cpu_s": _cpu_seconds([os.getpid()]) - _window["cpu"],
            "target_cpu_s": _cpu_seconds(_target_pids(environment)) - _window["target_cpu"],
        }
    session = getattr(environment, "peakops_bench", None)
    if session is not None:
        session.flush(final=True)  # the rest of the interval records, and queued spans
    if window is not None and options is not None:
        window["run_dir"] = str(session.run.path) if session is not None else None
        window["orders"] = session.meter.total_confirmed if session is not None else 0
        window["journeys"] = _journeys[0]
        Path(options.bench_cpu_file).write_text(json.dumps(window))


class BareUser(FastHttpUser):
    """Bare Locust: GET / as fast as the target answers."""

    wait_time = constant(0)

    @task
    def get(self) -> None:
        self.client.get("/")


class InstrumentedUser(FastHttpUser):
    """The same loop through peakops' recorded, traced request path."""

    wait_time = constant(0)

    def on_start(self) -> None:
        session = _session(self.environment)
        number = next(_user_numbers)
        self.meter = session.meter
        visit = session.journey_planner(number).draw(0.0)  # the url scenario's one visit
        assert isinstance(visit, UrlVisit)
        self.visit = visit
        host = self.host or ""
        self.runner = JourneyRunner(  # built as scenarios/locustfile.py builds it
            self.client, run_id=session.run.run_id, adapter=session.adapter(host, None),
            recorder=session.recorder, meter=session.meter, ledger=session.ledger,
            tracer=None if self.environment.parsed_options.bench_no_tracer
            else session.tracer(host),
            key_prefix=f"{session.run.run_id}-u{os.getpid()}-{number}",
        )  # fmt: skip

    @task
    def visit_url(self) -> None:
        self.meter.sent()
        try:
            self.runner.run(self.visit)
        finally:
            self.meter.finished()


class ShopperUser(FastHttpUser):
    """The default journey mix, back to back: ``ClosedShopper``'s loop without pacing."""

    wait_time = constant(0)

    def on_start(self) -> None:
        session = _session(self.environment)
        number = next(_user_numbers)
        self.session = session
        self.journeys = session.journey_planner(10_000 + number, session.units())
        host = self.host or ""
        self.runner = JourneyRunner(  # built as scenarios/locustfile.py's ClosedShopper
            self.client, run_id=session.run.run_id, adapter=session.adapter(host, None),
            recorder=session.recorder, meter=session.meter, ledger=session.ledger,
            tracer=session.tracer(host), key_prefix=f"{session.run.run_id}-u{os.getpid()}-{number}",
            errors=session.errors, customer=session.plan.target.test_customer,
            on_answer=session.answered,
        )  # fmt: skip

    @task
    def journey(self) -> None:
        session = self.session
        plan = self.journeys.draw(time.perf_counter() - session.started)
        session.meter.sent()
        try:
            self.runner.run(plan)
        finally:
            session.meter.finished()
        _journeys[0] += 1


class PacedUser(FastHttpUser):
    """Plain Locust paced to ``--bench-user-rate`` requests/s per user (closed loop)."""

    wait_time = constant_throughput(10.0)

    @task
    def get(self) -> None:
        self.client.get("/")


# What our path's request asks of Locust, with headers the size of ours.
_HEADERS = {
    "X-Peakops-Run-Id": "20261122-012345-abcd",
    "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
    "baggage": "peakops.synthetic=true,peakops.run_id=20261122-012345-abcd",
}


class CatchUser(FastHttpUser):
    """Bare Locust with ``name=`` and ``catch_response``, as ``JourneyRunner`` calls it."""

    wait_time = constant(0)

    @task
    def get(self) -> None:
        with self.client.request("GET", "/", name="/", catch_response=True) as resp:
            if resp.status_code == 200:
                resp.success()
            else:
                resp.failure(f"HTTP {resp.status_code}")


class HeadersUser(FastHttpUser):
    """``CatchUser`` sending our three headers (run id, ``traceparent``, ``baggage``)."""

    wait_time = constant(0)

    @task
    def get(self) -> None:
        headers = dict(_HEADERS)
        with self.client.request(
            "GET", "/", name="/", headers=headers, catch_response=True
        ) as resp:
            if resp.status_code == 200:
                resp.success()
            else:
                resp.failure(f"HTTP {resp.status_code}")

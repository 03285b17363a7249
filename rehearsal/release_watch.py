"""A release under load: the plan's deploy step, and the analysis that rolls a breach back.

A background thread follows the run's timeline. ``offset`` after ``load_started`` it
ships ``plan.deploy.version`` through the rehearsal's ``Release``. With
``rollback.on: fail`` it also judges the flood as it is recorded, every
``rollback.analysis.interval``: the latency and error-ratio objectives (steady and
all-run ones) over the last ``window`` of ``latency.jsonl``, through the same pure core
as ``peakops watch`` (``rollout.analysis``). When ``failures`` intervals in a row
breach, the breach is certain: it says so (``breach_detected``), rolls back at once
(like k6's abort-on-fail, but the load goes on, so the rest of the flood shows the
recovery) and does not wait for the end of the run. While a fault is injected (and
its recovery allowance) nothing is judged: a fault is not the release's doing.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from types import TracebackType
from typing import Any

from collectors.latency import decode_histogram
from collectors.rundir import EventLog, RunDir
from rehearsal.release import Release
from rehearsal.schedule import EventTail
from rollout.analysis import Analysis, AnalysisPolicy, IntervalFigures, judge
from slo.errors import PeakopsError
from slo.objectives import ErrorRatioObjective, LatencyObjective
from slo.plan import Plan
from slo.release import BREACH_DETECTED
from slo.runfiles import EVENTS_FILE, LATENCY_FILE
from slo.stats import ALL_ENDPOINTS

__all__ = ["ReleaseWatch", "window_figures"]

Watched = LatencyObjective | ErrorRatioObjective


class ReleaseWatch:
    """Runs the deploy step and the in-flood analysis beside the load (a context manager)."""

    def __init__(self, plan: Plan, run: RunDir, events: EventLog, release: Release) -> None:
        self._plan, self._run, self._events, self._release = plan, run, events, release
        self._cancel = threading.Event()
        self._timeline = EventTail(run.file(EVENTS_FILE))
        self._latency = EventTail(run.file(LATENCY_FILE))
        self._records: deque[dict[str, Any]] = deque()
        self._faults: set[str] = set()
        self._quiet_until = 0.0
        self._load_over = False
        self._objectives: list[Watched] = [
            o for o in plan.slos.objectives
            if isinstance(o, Watched) and o.during != "faults"
        ]  # fmt: skip
        self._thread = threading.Thread(target=self._main, name="peakops-release", daemon=True)

    @property
    def wanted(self) -> bool:
        return self._plan.deploy is not None or self._plan.rollback.active

    def __enter__(self) -> ReleaseWatch:
        if self.wanted:
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._cancel.set()
        if self._thread.is_alive():
            self._thread.join(
                60
            )  # a rollout in progress finishes: it replaces one replica at a time

    def _main(self) -> None:
        try:
            started = self._await_load()
            if started is None:
                return
            deploy = self._plan.deploy
            if deploy is not None:
                threading.Thread(
                    target=self._deploy, args=(started + deploy.offset_s,),
                    name="peakops-deploy", daemon=True,
                ).start()  # fmt: skip
            if self._plan.rollback.active and self._objectives:
                self._analyse()
        except Exception as err:  # recorded for the gate: the verdict says the analysis failed
            self._events.emit("release_watch_failed", error=f"{type(err).__name__}: {err}")

    def _await_load(self) -> float | None:
        while not self._cancel.wait(0.1):
            for event in self._timeline.new():
                if event.get("type") == "load_started":
                    return float(event["ts"])
        return None

    def _deploy(self, at: float) -> None:
        assert self._plan.deploy is not None
        if self._cancel.wait(max(0.0, at - time.time())) or self._load_over:
            self._events.emit("deploy_skipped", version=self._plan.deploy.version,
                              reason="the load ended before its offset")  # fmt: skip
            return
        try:
            self._release.deploy(self._plan.deploy.version, source="plan",
                                 reason="the plan's deploy step")  # fmt: skip
        except PeakopsError as err:  # the platform recorded deploy_failed; the gate judges it
            self._events.emit("deploy_request_failed", error=str(err))

    def _analyse(self) -> None:
        settings = self._plan.rollback.analysis
        analysis = Analysis(AnalysisPolicy(
            interval_s=settings.interval_s, window_s=settings.window_s,
            failure_limit=settings.failures, success_limit=settings.successes,
            min_samples=settings.min_samples, on_no_data="hold",
        ))  # fmt: skip
        while not self._cancel.wait(settings.interval_s):
            now = time.time()
            self._follow(now)
            if self._load_over:
                return
            if self._faults or now < self._quiet_until:
                continue  # a fault (or its recovery allowance) is not the release's doing
            since = now - settings.window_s
            judgements = [
                judge(o, window_figures(o, self._records, since), settings.min_samples)
                for o in self._objectives
            ]
            decision = analysis.observe(now, judgements)
            if decision.action == "rollback":
                self._breach(decision.reason)

    def _breach(self, reason: str) -> None:
        self._events.emit(BREACH_DETECTED, source="analysis", reason=reason)
        # A failed rollout is recorded (rollback_failed) by the Release; the gate fails on it.
        with contextlib.suppress(PeakopsError):
            self._release.rollback(reason=reason, source="analysis")

    def _follow(self, now: float) -> None:
        window = self._plan.rollback.analysis.window_s
        self._records.extend(self._latency.new())
        while self._records and float(self._records[0].get("t", 0)) < now - window - 5:
            self._records.popleft()
        allowance = self._plan.slos.recovery_allowance_s
        for event in self._timeline.new():
            kind = event.get("type")
            if kind == "fault_started":
                self._faults.add(str(event.get("id")))
            elif kind == "fault_stopped":
                self._faults.discard(str(event.get("id")))
                self._quiet_until = max(self._quiet_until, now + allowance)
            elif kind == "load_finished":
                self._load_over = True


def window_figures(objective: Watched, records: Any, since: float) -> IntervalFigures:
    """Requests (``events``) and bad ones (slow, or failed) of ``objective`` since ``since``."""
    events = bad = 0.0
    for record in records:
        if float(record.get("t", 0)) < since:
            continue
        endpoint = record.get("endpoint")
        if isinstance(objective, LatencyObjective):
            if endpoint != objective.endpoint:
                continue
            histogram = decode_histogram(str(record["hist"]))
            events += histogram.get_total_count()
            bad += _slower_than(histogram, objective.threshold_ms * 1000)
        elif objective.endpoint in (ALL_ENDPOINTS, endpoint):
            events += int(record.get("ok", 0)) + int(record.get("fail", 0))
            bad += int(record.get("fail", 0))
    return IntervalFigures(events=events, bad=bad)


def _slower_than(histogram: Any, threshold_us: float) -> int:
    return sum(
        item.count_at_value_iterated_to
        for item in histogram.get_recorded_iterator()
        if item.value_iterated_to > threshold_us
    )

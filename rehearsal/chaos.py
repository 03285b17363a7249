"""Chaos during a rehearsal: the platform's fault targets for the runners, and the schedule.

Each ``plan.chaos`` step is started ``offset`` after the load started (its
``load_started`` event) by a ``ChaosLauncher``: by default a ``python -m chaos.runner``
child with the step's ``duration`` as ``peakops_duration_s``, whose journal and log go
into the run directory (``chaos-<n>-<experiment>.journal.json`` / ``.log``) and whose
fault windows go into ``events.jsonl``. What each step did (started, skipped, stopped,
finished with an exit code) is recorded as events for the gate to judge; nothing here
decides a verdict.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from chaos.catalog import experiment_path
from chaos.handle import Replica, write_handle
from chaos.runner import runner_command
from collectors.rundir import EventLog, RunDir
from platforms.base import Platform
from platforms.processes import Spawner
from rehearsal.seams import ChaosLauncher, StepProcess
from slo.errors import PeakopsError
from slo.objectives import steady_objectives
from slo.plan import ChaosStep, ErrorRatioObjective, LatencyObjective, Plan
from slo.policy import policy
from slo.runfiles import CHAOS_HANDLE_FILE, EVENTS_FILE, chaos_journal, chaos_log

__all__ = ["ChaosSchedule", "RunnerLauncher", "chaos_variables", "error_budget", "fault_handle"]


# ------------------------------------------------------------ the local platform


@contextlib.contextmanager
def fault_handle(platform: Platform, run: RunDir) -> Iterator[Path | None]:
    """Keep the platform's fault targets in the run's handle file while the block runs.

    Only the local platform has one (replica pids and fault-proxy URLs change as the
    supervisor restarts processes); other platforms yield None.
    """
    if platform.fault_targets().kind != "local":
        yield None
        return
    path = run.file(CHAOS_HANDLE_FILE)
    stop = threading.Event()

    def refresh() -> None:
        try:
            targets = platform.fault_targets()
        except PeakopsError:
            return  # the supervisor failed: the rehearsal reports it
        replicas = [Replica(r.name, r.pid, r.admin_url) for r in targets.replicas]
        write_handle(
            path, base_url=targets.base_url or "", fault_proxies=targets.fault_proxies,
            replicas=replicas,
        )  # fmt: skip

    def keep() -> None:  # polled, not driven by platform events: no lock is ever shared
        while not stop.wait(0.25):
            refresh()

    refresh()
    keeper = threading.Thread(target=keep, name="peakops-chaos-handle", daemon=True)
    keeper.start()
    try:
        yield path
    finally:
        stop.set()
        keeper.join(5)


# ------------------------------------------------------------------ launching


class RunnerLauncher:
    """Starts each step as a ``python -m chaos.runner`` child.

    Children are forked from one long-lived thread: ``PR_SET_PDEATHSIG`` fires when the
    forking *thread* ends, so the scheduling thread must not fork them.
    """

    def __init__(self) -> None:
        self._spawner = Spawner()

    def start(self) -> None:
        self._spawner.start()

    def launch(
        self, index: int, step: ChaosStep, variables: Mapping[str, Any], run: RunDir
    ) -> StepProcess:
        command = runner_command(
            experiment_path(step.experiment),
            journal=run.file(chaos_journal(index, step.experiment)),
            events=run.file(EVENTS_FILE),
            variables=variables,
        )
        with run.file(chaos_log(index, step.experiment)).open("ab") as log:
            return self._spawner.popen(command, log)

    def close(self) -> None:
        self._spawner.close()


# ------------------------------------------------------------------ the schedule


@dataclass
class _Child:
    index: int
    step: ChaosStep
    proc: StepProcess
    started: float


class ChaosSchedule:
    """Starts the plan's chaos steps on time and waits for them (a context manager).

    Leaving the block normally waits for every child; leaving it by an exception
    (Ctrl-C included) cancels the steps not started and asks the running ones to stop
    (SIGTERM: they roll back), recording a ``chaos_stopped`` event for each. An error
    in the scheduling thread is recorded as ``chaos_schedule_failed``.
    """

    def __init__(
        self,
        plan: Plan,
        run: RunDir,
        events: EventLog,
        *,
        launcher: ChaosLauncher,
        handle: Path | None,
    ) -> None:
        self._plan = plan
        self._run = run
        self._events = events
        self._launcher = launcher
        self._handle = handle
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._children: list[_Child] = []
        self._thread = threading.Thread(target=self._schedule, name="peakops-chaos", daemon=True)

    def __enter__(self) -> ChaosSchedule:
        if self._plan.chaos:
            for step in self._plan.chaos:
                experiment_path(step.experiment)  # an unknown name fails before the flood
            self._launcher.start()
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
            self._thread.join(10)
        with self._lock:
            children = list(self._children)
        if exc is not None:
            reason = f"the rehearsal stopped ({type(exc).__name__})"
            for child in children:
                self._stop(child, reason)
        for child in children:
            self._wait(child)
        if self._plan.chaos:
            self._launcher.close()

    def _schedule(self) -> None:
        try:
            load = self._await_load_start()
            if load is None:
                return
            started_at, metrics_url = load
            steps = sorted(enumerate(self._plan.chaos, start=1), key=lambda s: s[1].offset_s)
            for index, step in steps:
                delay = started_at + step.offset_s - time.time()
                if self._cancel.wait(max(0.0, delay)):
                    self._skip(index, step, "the load ended before its offset")
                    continue
                self._start(index, step, metrics_url)
        except Exception as err:  # recorded for the gate, which judges every step not started
            self._events.emit("chaos_schedule_failed", error=f"{type(err).__name__}: {err}")

    def _skip(self, index: int, step: ChaosStep, reason: str) -> None:
        self._events.emit("chaos_skipped", experiment=step.experiment, index=index, reason=reason)

    def _await_load_start(self) -> tuple[float, str] | None:
        deadline = time.monotonic() + policy().chaos.load_start_timeout_s
        while not self._cancel.wait(0.1):
            for event in self._run.events():
                if event.get("type") == "load_started":
                    return float(event["ts"]), str(event.get("metrics_url") or "")
            if time.monotonic() > deadline:
                break
        for index, step in enumerate(self._plan.chaos, start=1):
            self._skip(index, step, "the load never started")
        return None

    def _start(self, index: int, step: ChaosStep, metrics_url: str) -> None:
        variables = chaos_variables(self._plan, step, metrics_url=metrics_url, handle=self._handle)
        proc = self._launcher.launch(index, step, variables, self._run)
        with self._lock:
            self._children.append(_Child(index, step, proc, time.monotonic()))
        self._events.emit(
            "chaos_started", experiment=step.experiment, index=index,
            offset_s=step.offset_s, duration_s=step.duration_s, pid=proc.pid,
        )  # fmt: skip

    def _stop(self, child: _Child, reason: str) -> None:
        if child.proc.poll() is None:
            self._events.emit(
                "chaos_stopped", experiment=child.step.experiment, index=child.index, reason=reason
            )
            child.proc.send_signal(signal.SIGTERM)  # it rolls back

    def _wait(self, child: _Child) -> None:
        grace = policy().chaos
        budget = (child.step.duration_s or 0) + grace.child_grace_s
        remaining = max(1.0, child.started + budget - time.monotonic())
        try:
            code = child.proc.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            self._stop(child, f"it overran its duration by {grace.child_grace_s:g} s")
            try:
                code = child.proc.wait(timeout=grace.rollback_grace_s)
            except subprocess.TimeoutExpired:
                child.proc.kill()
                code = child.proc.wait()
        self._events.emit(
            "chaos_finished", experiment=child.step.experiment, index=child.index, exit_code=code
        )


# ------------------------------------------------------------------ configuration


def chaos_variables(
    plan: Plan, step: ChaosStep, *, metrics_url: str = "", handle: Path | None = None
) -> dict[str, Any]:
    """The ``peakops_*`` configuration a step's runner gets (see chaos/settings.py)."""
    platform = plan.platform
    variables: dict[str, Any] = {"peakops_platform": platform.kind}
    if handle is not None:
        variables["peakops_state_file"] = str(handle)
    if platform.namespace:
        variables["peakops_namespace"] = platform.namespace
    if metrics_url:
        variables["peakops_metrics_url"] = metrics_url
    if step.duration_s is not None:
        variables["peakops_duration_s"] = step.duration_s
    variables["peakops_stop_burn_rate"] = step.stop_burn_rate
    variables["peakops_stop_window_s"] = policy().chaos.stop_window_s
    # After the fault, the system gets its recovery allowance before the hypothesis is
    # checked again: the transient is judged by the during-faults and recovery SLOs.
    variables["peakops_recovery_s"] = plan.slos.recovery_allowance_s
    budget = error_budget(plan)
    if budget is not None:
        variables["peakops_error_budget"] = budget
    latency = latency_budget(plan)
    if latency is not None:
        variables["peakops_latency_endpoint"] = latency.endpoint
        variables["peakops_latency_threshold_ms"] = latency.threshold_ms
        variables["peakops_latency_percentile"] = latency.percentile
    return variables


def error_budget(plan: Plan) -> float | None:
    """The error ratio the steady-state SLOs allow (the all-endpoint one first), if they say."""
    ratios = [
        o
        for o in plan.slos.objectives
        if isinstance(o, ErrorRatioObjective) and o.during != "faults"
    ]
    ratios.sort(key=lambda o: o.endpoint != "*")
    return ratios[0].max_ratio if ratios and ratios[0].max_ratio > 0 else None


def latency_budget(plan: Plan) -> LatencyObjective | None:
    """The steady-state latency objective of order placement, if the plan has one."""
    for objective in steady_objectives(plan.slos.objectives, "POST /orders"):
        if isinstance(objective, LatencyObjective) and objective.percentile < 100:
            return objective
    return None

"""Chaos during a rehearsal: the platform handle, the start-of-run sweep, the schedule.

Each ``plan.chaos`` step runs as a ``python -m chaos.runner`` child started ``offset``
after the load started (its ``load_started`` event), with the step's ``duration`` as
``peakops_duration_s``; its journal and log go into the run directory
(``chaos-<n>-<experiment>.journal.json`` / ``.log``), its fault windows into
``events.jsonl``. A child that cannot revert its fault (exit 5) or dies by a signal
makes the rehearsal fail with :class:`~slo.errors.RevertError` (exit 5).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from chaos.catalog import experiment_path
from chaos.handle import Replica, write_handle
from chaos.reaper import reap
from chaos.runner import runner_command
from collectors.rundir import EventLog, RunDir
from platforms.faultproxy.client import FaultProxyClient
from platforms.local import LocalPlatform
from platforms.processes import Spawner
from slo.errors import PeakopsError, RevertError
from slo.exitcodes import ExitCode
from slo.plan import ChaosStep, ErrorRatioObjective, Plan
from slo.runfiles import CHAOS_HANDLE_FILE

__all__ = [
    "ChaosSchedule",
    "error_budget",
    "fault_window_lines",
    "local_chaos",
    "sweep_kubernetes",
]

LOAD_START_TIMEOUT_S = 60.0
CHILD_GRACE_S = 120.0
"""How long a chaos child may run past its step's duration before it is stopped."""


# ------------------------------------------------------------ the local platform


@contextlib.contextmanager
def local_chaos(platform: LocalPlatform, run: RunDir, events: EventLog) -> Iterator[Path]:
    """Sweep the fault proxies, then keep the handle file fresh while the block runs."""
    for link, url in platform.fault_proxies().items():
        with FaultProxyClient(url) as proxy:
            removed = proxy.reset()
        events.emit("chaos_sweep", platform="local", link=link, removed=removed)
    path = run.file(CHAOS_HANDLE_FILE)
    stop = threading.Event()

    def refresh() -> None:
        try:
            replicas = [Replica(r.name, r.pid, r.admin_url) for r in platform.replicas()]
        except PeakopsError:
            return  # the supervisor failed: the rehearsal reports it
        write_handle(
            path, base_url=platform.base_url, fault_proxies=platform.fault_proxies(),
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


def sweep_kubernetes(plan: Plan, events: EventLog) -> None:
    """Reap expired peakops NetworkPolicies in the plan's namespace (kubernetes only)."""
    if plan.platform.kind != "kubernetes" or not plan.platform.namespace:
        return
    removed = reap(
        namespaces=[plan.platform.namespace],
        kubeconfig=os.environ.get("PEAKOPS_KUBECONFIG", ""),
        kube_host=os.environ.get("PEAKOPS_KUBE_HOST", ""),
    )
    events.emit("chaos_sweep", platform="kubernetes", removed=removed)


# ------------------------------------------------------------------ the schedule


@dataclass
class _Child:
    index: int
    step: ChaosStep
    proc: subprocess.Popen[bytes]
    started: float


class ChaosSchedule:
    """Starts the plan's chaos steps on time and waits for them (a context manager).

    Leaving the block normally waits for every child; leaving it by an exception
    (Ctrl-C included) cancels the steps not started and sends SIGTERM to the running
    ones, which then roll back. :meth:`failure` says whether a fault was left behind.
    """

    def __init__(self, plan: Plan, run: RunDir, events: EventLog, *, handle: Path | None) -> None:
        self._plan = plan
        self._run = run
        self._events = events
        self._handle = handle
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._children: list[_Child] = []
        self._problems: list[str] = []
        # Children are forked from one long-lived thread: PR_SET_PDEATHSIG fires when
        # the forking *thread* ends, so the scheduling thread must not fork them.
        self._spawner = Spawner()
        self._thread = threading.Thread(target=self._schedule, name="peakops-chaos", daemon=True)

    def __enter__(self) -> ChaosSchedule:
        if self._plan.chaos:
            for step in self._plan.chaos:
                experiment_path(step.experiment)  # an unknown name fails before the flood
            self._spawner.start()
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
            for child in children:
                if child.proc.poll() is None:
                    child.proc.send_signal(signal.SIGTERM)
        for child in children:
            self._wait(child)
        self._spawner.close()

    def failure(self) -> RevertError | None:
        """A RevertError naming every step that left a fault behind, or None."""
        return RevertError("; ".join(self._problems)) if self._problems else None

    def _schedule(self) -> None:
        load = self._await_load_start()
        if load is None:
            return
        started_at, metrics_url = load
        steps = sorted(enumerate(self._plan.chaos, start=1), key=lambda s: s[1].offset_s)
        for index, step in steps:
            delay = started_at + step.offset_s - time.time()
            if self._cancel.wait(max(0.0, delay)):
                self._events.emit("chaos_skipped", experiment=step.experiment, index=index)
                continue
            self._start(index, step, metrics_url)

    def _await_load_start(self) -> tuple[float, str] | None:
        deadline = time.monotonic() + LOAD_START_TIMEOUT_S
        while not self._cancel.wait(0.1):
            for event in self._run.events():
                if event.get("type") == "load_started":
                    return float(event["ts"]), str(event.get("metrics_url") or "")
            if time.monotonic() > deadline:
                break
        self._events.emit("chaos_skipped", reason="the load never started")
        return None

    def _start(self, index: int, step: ChaosStep, metrics_url: str) -> None:
        stem = f"chaos-{index}-{step.experiment}"
        command = runner_command(
            experiment_path(step.experiment),
            journal=self._run.file(f"{stem}.journal.json"),
            events=self._run.file("events.jsonl"),
            variables=self._variables(step, metrics_url),
        )
        with self._run.file(f"{stem}.log").open("ab") as log:
            proc = self._spawner.popen(command, log)
        with self._lock:
            self._children.append(_Child(index, step, proc, time.monotonic()))
        self._events.emit(
            "chaos_started", experiment=step.experiment, index=index,
            offset_s=step.offset_s, duration_s=step.duration_s, pid=proc.pid,
        )  # fmt: skip

    def _variables(self, step: ChaosStep, metrics_url: str) -> dict[str, Any]:
        platform = self._plan.platform
        variables: dict[str, Any] = {"peakops_platform": platform.kind}
        if self._handle is not None:
            variables["peakops_state_file"] = str(self._handle)
        if platform.namespace:
            variables["peakops_namespace"] = platform.namespace
        if metrics_url:
            variables["peakops_metrics_url"] = metrics_url
        if step.duration_s is not None:
            variables["peakops_duration_s"] = step.duration_s
        variables["peakops_stop_burn_rate"] = step.stop_burn_rate
        budget = error_budget(self._plan)
        if budget is not None:
            variables["peakops_error_budget"] = budget
        return variables

    def _wait(self, child: _Child) -> None:
        budget = (child.step.duration_s or 0) + CHILD_GRACE_S
        remaining = max(1.0, child.started + budget - time.monotonic())
        try:
            code = child.proc.wait(timeout=remaining)
        except subprocess.TimeoutExpired:
            child.proc.send_signal(signal.SIGTERM)  # it rolls back
            try:
                code = child.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.proc.kill()
                code = child.proc.wait()
        name = child.step.experiment
        self._events.emit("chaos_finished", experiment=name, index=child.index, exit_code=code)
        log = f"chaos-{child.index}-{name}.log"
        if code == ExitCode.REVERT_FAILED:
            self._problems.append(f"chaos {name}: a fault was not reverted (see {log})")
        elif code < 0:
            self._problems.append(
                f"chaos {name}: its runner died by signal {-code}; its faults lapse with "
                f"their leases (see {log})"
            )


# ------------------------------------------------------------------ the verdict


def fault_window_lines(run: RunDir) -> list[str]:
    """One verdict line per fault window, in seconds after the load started.

    ``fault network-cut 35.2s\N{EN DASH}40.3s``; a window never closed says so. A chaos step
    that exited with a problem gets a line too.
    """
    events = run.events()
    origin = next((float(e["ts"]) for e in events if e.get("type") == "load_started"), None)
    if origin is None:
        origin = next((float(e["ts"]) for e in events), 0.0)
    windows: dict[str, list[Any]] = {}
    lines: list[str] = []
    for event in events:
        kind = event.get("type")
        if kind == "fault_started":
            windows[str(event["id"])] = [event["fault"], float(event["ts"]) - origin, None]
        elif kind == "fault_stopped" and str(event["id"]) in windows:
            windows[str(event["id"])][2] = float(event["ts"]) - origin
        elif kind == "chaos_finished" and event.get("exit_code") not in (0, 1):
            lines.append(f"chaos {event.get('experiment')} exited {event.get('exit_code')}")
        elif kind == "chaos_halted":
            lines.append(
                f"chaos {event.get('fault')} halted by its stop condition at "
                f"{float(event['ts']) - origin:.1f}s: error-budget burn {event.get('burn_rate')}x"
                f" (stop at {event.get('stop_burn_rate')}x); rolled back"
            )
    faults = []
    for name, start, stop in sorted(windows.values(), key=lambda w: w[1]):
        end = f"{stop:.1f}s" if stop is not None else "(never stopped: its lease lapsed)"
        faults.append(f"fault {name} {start:.1f}s\N{EN DASH}{end}")
    return faults + lines


def error_budget(plan: Plan) -> float | None:
    """The error ratio the plan's SLOs allow (the all-endpoint one first), if they say."""
    ratios = [o for o in plan.slos.objectives if isinstance(o, ErrorRatioObjective)]
    ratios.sort(key=lambda o: o.endpoint != "*")
    return ratios[0].max_ratio if ratios and ratios[0].max_ratio > 0 else None

"""Chaos during a rehearsal: the platform's fault targets, the runners, their configuration.

Each ``plan.chaos`` step is started by a ``ChaosLauncher`` (``rehearsal.schedule``
decides when): by default a ``python -m chaos.runner`` child with the step's
``duration`` as ``peakops_duration_s``, whose journal and log go into the run
directory (``chaos-<n>-<experiment>.journal.json`` / ``.log``) and whose fault windows
go into ``events.jsonl``. ``chaos_variables`` is the configuration it gets.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from chaos.catalog import experiment_path
from chaos.handle import Replica, write_handle
from chaos.runner import runner_command
from collectors.rundir import RunDir
from platforms.base import Platform
from platforms.processes import Spawner
from rehearsal.seams import StepProcess
from slo.errors import PeakopsError
from slo.objectives import steady_objectives
from slo.plan import ChaosStep, ErrorRatioObjective, LatencyObjective, Plan
from slo.policy import policy
from slo.runfiles import CHAOS_HANDLE_FILE, EVENTS_FILE, chaos_journal, chaos_log

__all__ = [
    "RunnerLauncher",
    "chaos_variables",
    "error_budget",
    "fault_handle",
    "latency_budget",
]


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

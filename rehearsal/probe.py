"""After the flood: a failing gate rolls the release back, and a short probe shows recovery.

When ``rollback.on: fail`` and the in-flood analysis did not already roll back, the
rehearsal asks the gate (``rollout.gate``, the one author of the verdict) while the
target is still up. A conclusive failure (or, with ``requireConclusive: false``, an
inconclusive verdict too) rolls back through the rehearsal's ``Release`` (source
``gate``), then a probe flood of ``rollback.probe`` at the plan's baseline runs into
``<run>/probe/`` (a run directory of its own). The final gate judges the probe as the
``rollback-recovery`` evaluation (``slo.release``); its verdict replaces this one.
"""

from __future__ import annotations

from collections.abc import Callable

from collectors.rundir import EventLog, RunDir
from platforms.base import Endpoints
from rehearsal.release import Release
from rehearsal.seams import LoadRunner
from rollout.gate import gate_run
from slo.evaluation import Status
from slo.plan import Plan, plan_snapshot, with_overrides
from slo.policy import policy
from slo.release_plan import Rollback
from slo.runfiles import PROBE_DIR

__all__ = ["rollback_after_load"]

_RELEASE_IDS = ("rollback", "rollback-recovery")


def rollback_after_load(
    plan: Plan,
    run: RunDir,
    events: EventLog,
    release: Release,
    endpoints: Endpoints,
    load: LoadRunner,
    git_sha: Callable[[], str | None],
) -> None:
    """Roll back on a failing gate, then probe (see the module doc); nothing otherwise."""
    if not plan.rollback.active or release.rolled_back:
        return
    verdict = gate_run(run, plan).verdict
    judged = [e for e in verdict.evaluations if e.slo_id not in _RELEASE_IDS]
    failed = [e.slo_id for e in judged if e.status is Status.FAIL]
    if not plan.rollback.require_conclusive:
        failed += [e.slo_id for e in judged if e.status is Status.INCONCLUSIVE]
    if not failed:
        return
    reason = f"the gate failed after the load: {', '.join(failed)}"
    answer = release.rollback(reason=reason, source="gate")
    if answer["action"] == "rolled_back":
        _probe(plan, run, events, endpoints, load, git_sha)


def _probe(
    plan: Plan,
    run: RunDir,
    events: EventLog,
    endpoints: Endpoints,
    load: LoadRunner,
    git_sha: Callable[[], str | None],
) -> None:
    """A flood of ``rollback.probe`` at the baseline, recorded into ``<run>/probe/``."""
    seconds = plan.rollback.probe_s
    probe_plan = with_overrides(plan, duration_s=seconds, profile="constant").model_copy(
        update={"chaos": (), "deploy": None, "rollback": Rollback()}
    )
    probe = RunDir.create(run.path, PROBE_DIR, plan=plan_snapshot(probe_plan), git_sha=git_sha())
    events.emit("probe_started", duration_s=seconds, directory=PROBE_DIR)
    try:
        load.run(probe, endpoints, duration_s=seconds, grace_s=policy().load.grace_s,
                 on_tick=lambda _elapsed: None)  # fmt: skip
    finally:
        probe.finish("completed")
        events.emit("probe_finished", directory=PROBE_DIR)

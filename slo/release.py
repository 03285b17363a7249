"""A release under load, judged: did a breach roll it back, and did the system recover?

Pure. ``release_record`` reads the run's events (the platform's ``deploy_*``, the
analysis' ``breach_detected``, the rehearsal's ``rollback_*``); ``judge_release`` turns
them into two evaluations the gate adds to the verdict, so the deploy, the rollback,
their timings and the recovery are in ``verdict.json`` like every SLO:

- ``rollback``: n/a when nothing was released or rolled back; pass when a rollback
  finished (observed: seconds from the bad release to the rollback done); fail, exit 5,
  when it failed; n/a with the reason when the policy refused it or is ``never``.
- ``rollback-recovery``: after the rollback, the steady-state objectives of
  ``POST /orders`` (and the all-requests error ratio) must hold again within
  ``rollback.recoverWithin``; the release window is handed to ``slo.recovery`` as if
  it were a fault, so recovery is timed exactly as after a fault.

The release's own SLO breach stays in the SLO evaluations: a rolled-back release still
failed its gate (exit 1).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from slo.conventions import ENDPOINT_PLACE_ORDER
from slo.evaluate import evaluate
from slo.evaluation import Evaluation, Result, Status, number
from slo.exitcodes import ExitCode
from slo.objectives import RecoveryObjective, steady_objectives
from slo.plan import Plan
from slo.recovery import evaluate_recovery
from slo.stats import RunStats
from slo.timeline import FaultWindow

__all__ = [
    "BREACH_DETECTED",
    "ROLLBACK_KIND",
    "ReleaseRecord",
    "RollbackRecord",
    "judge_release",
    "release_record",
]

BREACH_DETECTED = "breach_detected"
ROLLBACK_KIND = "rollback"


@dataclass(frozen=True)
class RollbackRecord:
    """One rollback the rehearsal asked for: who, why, when, and how it ended."""

    source: str
    reason: str
    started: float
    finished: float | None = None
    from_revision: str | None = None
    to_revision: str | None = None
    error: str | None = None
    refused: str | None = None


@dataclass(frozen=True)
class ReleaseRecord:
    """The release part of a run's timeline (Unix seconds)."""

    deployed_version: str | None = None
    deploy_started: float | None = None
    deploy_finished: float | None = None
    deploy_error: str | None = None
    breach_at: float | None = None
    breach_reason: str = ""
    rollbacks: tuple[RollbackRecord, ...] = ()

    @property
    def rolled_back(self) -> RollbackRecord | None:
        """The first rollback that finished."""
        return next((r for r in self.rollbacks if r.finished is not None), None)


def release_record(events: Iterable[Mapping[str, Any]]) -> ReleaseRecord:
    """The release events of a timeline, in order (unknown fields tolerated)."""
    record = ReleaseRecord()
    open_rollback: RollbackRecord | None = None
    done: list[RollbackRecord] = []
    for event in events:
        kind, ts = event.get("type"), _float(event.get("ts"))
        if kind == "deploy_started" and not event.get("rollback") and ts is not None:
            if record.deploy_started is None:
                record = replace(record, deployed_version=_text(event.get("to_version")),
                                 deploy_started=ts)  # fmt: skip
        elif kind == "deploy_finished" and not event.get("rollback"):
            if record.deploy_finished is None and record.deploy_started is not None:
                record = replace(record, deploy_finished=ts)
        elif kind == "deploy_failed" and not event.get("rollback"):
            record = replace(record, deploy_error=str(event.get("error", "")))
        elif kind == BREACH_DETECTED and record.breach_at is None:
            record = replace(record, breach_at=ts, breach_reason=str(event.get("reason", "")))
        elif kind in ("rollback_started", "rollback_refused") and event.get("platform") == "local":
            if open_rollback is not None:
                done.append(open_rollback)
            open_rollback = _started(kind, event, ts)
            if kind == "rollback_refused":
                done.append(open_rollback)
                open_rollback = None
        elif kind in ("rollback_finished", "rollback_failed") and open_rollback is not None:
            done.append(_ended(open_rollback, kind, event, ts))
            open_rollback = None
    if open_rollback is not None:
        done.append(open_rollback)
    return replace(record, rollbacks=tuple(done))


def _started(kind: object, event: Mapping[str, Any], ts: float | None) -> RollbackRecord:
    refused = str(event.get("error", "refused")) if kind == "rollback_refused" else None
    return RollbackRecord(
        source=str(event.get("source", "?")), reason=str(event.get("reason", "")),
        started=ts or 0.0, from_revision=_text(event.get("from_revision")), refused=refused,
    )  # fmt: skip


def _ended(
    rollback: RollbackRecord, kind: object, event: Mapping[str, Any], ts: float | None
) -> RollbackRecord:
    if kind == "rollback_failed":
        return replace(rollback, error=str(event.get("error", "failed")))
    return replace(rollback, finished=ts, to_revision=_text(event.get("to_revision")))


def judge_release(
    plan: Plan, record: ReleaseRecord, stats: RunStats, probe: RunStats | None = None
) -> tuple[Evaluation, ...]:
    """The ``rollback`` and ``rollback-recovery`` evaluations; none for a plain run.

    ``probe``: the figures of the short flood that follows a rollback made after the
    load (by the gate); a rollback during the flood is judged on the rest of the flood.
    """
    if plan.deploy is None and not record.rollbacks:
        return ()
    rollback = _rollback(plan, record, stats)
    done = record.rolled_back
    after_load = done is not None and stats.load_end is not None and done.started >= stats.load_end
    if after_load:
        return (rollback, _probe(plan, probe))
    return (rollback, _recovery(plan, record, stats))


def _probe(plan: Plan, probe: RunStats | None) -> Evaluation:
    """The steady objectives over the probe flood after a post-load rollback."""
    objective = _recovery_objective(plan)
    steady = steady_objectives(plan.slos.objectives, objective.endpoint)
    result = Result(objective, unit="ms", threshold=objective.threshold_ms, samples=0)
    if probe is None or not probe.endpoints:
        return result.inconclusive("rolled back after the load, but no probe flood was recorded")
    judged = evaluate([o.model_copy(update={"during": "all"}) for o in steady], probe,
                      default_min_samples=plan.slos.min_samples)  # fmt: skip
    lines = "; ".join(f"{e.slo_id}: {e.reason}" for e in judged)
    span = f"probe of {number(probe.elapsed_s)} s at the baseline after the rollback"
    requests = sum(e.samples for e in judged)
    if any(e.status is Status.FAIL for e in judged):
        return replace(result.failed_unmeasured(f"{span}: not recovered: {lines}"),
                       samples=requests)  # fmt: skip
    if any(e.status is not Status.PASS for e in judged) or not judged:
        return replace(result.inconclusive(f"{span}: cannot tell: {lines}"), samples=requests)
    return replace(result.passed(0.0, f"{span}: recovered: {lines}"), samples=requests)


def _rollback(plan: Plan, record: ReleaseRecord, stats: RunStats) -> Evaluation:
    origin = stats.load_start or 0.0
    story = _story(record, origin)

    def build(status: Status, reason: str, observed: float | None = None,
              exit_code: int | None = None) -> Evaluation:  # fmt: skip
        return Evaluation(
            slo_id="rollback", kind=ROLLBACK_KIND, endpoint="*", status=status,
            observed=observed, threshold=None, unit="s", samples=len(record.rollbacks),
            reason="; ".join(p for p in (story, reason) if p), exit_code=exit_code,
        )  # fmt: skip

    failed = next((r for r in record.rollbacks if r.error is not None), None)
    if failed is not None:
        why = f"the rollback ({failed.source}) failed: {failed.error}"
        return build(Status.FAIL, why, exit_code=int(ExitCode.REVERT_FAILED))
    done = record.rolled_back
    if done is not None and done.finished is not None:
        if record.deploy_started is not None:
            since, what = record.deploy_finished or record.deploy_started, "the release"
        elif record.breach_at is not None:
            since, what = record.breach_at, "the breach"
        else:
            since, what = done.started, "the rollback request"
        took = done.finished - since
        return build(Status.PASS, f"{number(took)} s from {what} to the rollback done", took)
    refused = next((r for r in record.rollbacks if r.refused is not None), None)
    if refused is not None:
        return build(Status.NA, f"the rollback ({refused.source}) was refused: {refused.refused}")
    if record.breach_at is not None and not plan.rollback.active:
        return build(Status.NA, "no rollback: rollback.on is never")
    if record.deploy_error is not None:
        return build(Status.FAIL, f"the deploy failed: {record.deploy_error}")
    if record.deploy_started is None:
        return build(Status.INCONCLUSIVE, "the planned deploy never ran (the load ended first?)")
    if record.rollbacks:
        return build(Status.FAIL, "a rollback started and never finished")
    return build(Status.NA, "no breach was certain during the flood: nothing rolled back")


def _story(record: ReleaseRecord, origin: float) -> str:
    def at(ts: float | None) -> str:
        return "?" if ts is None else f"+{number(max(0.0, ts - origin))} s"

    parts = []
    if record.deploy_started is not None:
        took = ""
        if record.deploy_finished is not None:
            took = f", rolled out in {number(record.deploy_finished - record.deploy_started)} s"
        parts.append(f"{record.deployed_version} deployed at {at(record.deploy_started)}{took}")
    if record.breach_at is not None:
        parts.append(f"breach certain at {at(record.breach_at)} ({record.breach_reason})")
    done = record.rolled_back
    if done is not None:
        parts.append(f"rolled back to {done.to_revision} by {done.source} at {at(done.finished)}")
    return "; ".join(parts)


def _recovery_objective(plan: Plan) -> RecoveryObjective:
    return RecoveryObjective.model_validate({
        "id": "rollback-recovery", "kind": "recovery", "endpoint": ENDPOINT_PLACE_ORDER,
        "threshold": plan.rollback.recover_within_s * 1000,
    })  # fmt: skip


def _recovery(plan: Plan, record: ReleaseRecord, stats: RunStats) -> Evaluation:
    objective = _recovery_objective(plan)
    done = record.rolled_back
    steady = steady_objectives(plan.slos.objectives, objective.endpoint)
    if done is None or done.finished is None:
        return _na(objective, "no rollback finished: nothing to recover from")
    if not steady:
        return _na(objective, f"no steady-state objective of {objective.endpoint} to recover to")
    start = record.deploy_finished or record.deploy_started or done.started
    release = FaultWindow(name=f"release {record.deployed_version or ''}".strip(),
                          start=start, end=done.finished)  # fmt: skip
    judged = evaluate_recovery(objective, steady, replace(stats, faults=(release,),
                                                          faults_known=True))  # fmt: skip
    return replace(judged, reason=f"after the rollback: {judged.reason}")


def _na(objective: RecoveryObjective, reason: str) -> Evaluation:
    return Evaluation(
        slo_id=objective.id, kind=objective.kind, endpoint=objective.endpoint, status=Status.NA,
        observed=None, threshold=objective.threshold_ms, unit="ms", samples=0, reason=reason,
    )  # fmt: skip


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return None if value is None else str(value)

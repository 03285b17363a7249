"""The gate: the only author of a verdict. Judge a run directory and write the verdict files.

Everything a verdict is made of (SLO evaluations, stock drift, store outages, fault
windows, chaos outcomes, the load generator's health, the completeness of the
measurements) is read from the run directory here and decided by the pure core
(``slo.judge``, ``slo.verdict``). ``rehearse`` calls this and adds nothing, so
``peakops gate RUN_DIR`` rewrites byte-identical ``verdict.json``, ``junit.xml`` and
``summary.md``. Works on a finished run and on one that crashed or was killed: it
judges what was recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from collectors.cleanup import cleanup_note
from collectors.drift import DriftReport
from collectors.mismatch import mismatch_message
from collectors.rundir import RunDir
from collectors.storewatch import StoreOutage
from collectors.summary import EndpointSummary, LoadWindow, endpoint_summaries, run_stats
from collectors.timeline import RunTimeline, run_timeline
from rollout.drift import check_drift, drift_summary
from rollout.notes import fault_window_lines, load_note, stress_knees
from rollout.promql_gate import PromSource, from_prometheus
from rollout.report import write_report
from rollout.reports import junit_xml, markdown_summary
from rollout.stores import check_stores, outage_lines
from slo.conventions import STORE_OFFLINE
from slo.evaluate import evaluate
from slo.evaluation import Evaluation
from slo.exitcodes import ExitCode
from slo.judge import judge
from slo.objectives import DriftObjective
from slo.plan import Plan, plan_from_snapshot
from slo.quality import QualityStats
from slo.release import judge_release, release_record
from slo.runfiles import (
    EVENTS_FILE,
    HEADER_FILE,
    JUNIT_FILE,
    LEDGER_FILE,
    PROBE_DIR,
    SUMMARY_FILE,
    VERDICT_FILE,
)
from slo.stats import GeneratorStats, RunStats
from slo.verdict import Status, Verdict, decide, unfinished

if TYPE_CHECKING:
    from rollout.baseline import BaselineJudgement, Comparison

__all__ = ["GateResult", "gate_run", "judged", "plan_of_run", "quality_stats"]


@dataclass(frozen=True)
class GateResult:
    """A verdict with the per-endpoint figures it was judged on."""

    run_id: str
    run_dir: Path
    verdict: Verdict
    endpoints: list[EndpointSummary]
    window: LoadWindow | None
    generator: GeneratorStats | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    """Per SLO id, ``client`` or ``prometheus``; empty when Prometheus was not consulted."""
    comparison: Comparison | None = None
    """With ``--baseline``: the baseline run side by side (``rollout.baseline``)."""

    def to_dict(self, *, with_path: bool = True) -> dict[str, Any]:
        """The JSON form; ``verdict.json`` leaves out the path (it depends on the caller)."""
        load: dict[str, Any] | None = None
        if self.window is not None:
            load = {
                "elapsed_s": round(self.window.elapsed_s, 3),
                "complete": self.window.complete,
                "interrupted": self.window.interrupted,
            }
        if load is not None and self.generator is not None:
            g = self.generator
            load["arrivals"] = {
                "planned": round(g.arrivals_planned, 1),
                "sent": g.arrivals_sent,
                "dropped": g.arrivals_dropped,
            }
            load["busiest_cpu_percent"] = g.busiest_cpu_percent
        data = {
            "run_id": self.run_id,
            **self.verdict.to_dict(),
            "load": load,
            "endpoints": [es.to_dict() for es in self.endpoints],
        }
        if self.sources:
            for evaluation in data["evaluations"]:
                evaluation["source"] = self.sources.get(evaluation["slo_id"], "client")
        if self.comparison is not None:
            data["baseline"] = self.comparison.to_dict()
        if with_path:
            data["run_dir"] = str(self.run_dir)
        return data


def plan_of_run(run: RunDir) -> Plan:
    """The plan a run was started with, from its header."""
    return plan_from_snapshot(run.plan_snapshot(), str(run.file(HEADER_FILE)))


def gate_run(
    run: RunDir, plan: Plan, prometheus: PromSource | None = None, *, baseline: RunDir | None = None
) -> GateResult:
    """Judge ``run`` against ``plan``; write ``verdict.json``, JUnit, summary, report.html.

    With ``prometheus`` (or objectives with ``source: prometheus``) the request SLOs are
    read from Prometheus over the run's load window (``rollout.promql_gate``). With
    ``baseline``, the plan's regression limits are judged against that run too
    (``rollout.baseline``; UsageError when the runs are not comparable)."""
    against = _against(run, plan, baseline)
    timeline = run_timeline(run, [step.experiment for step in plan.chaos])
    stats, window = run_stats(run, timeline)
    drift = check_drift(run, plan)
    outages = check_stores(run, timeline)
    stats = replace(
        stats,
        drift=drift.to_stats() if drift is not None else None,
        store_reconcile_s=_reconciled(outages),
        store_outages_scheduled=sum(step.experiment == STORE_OFFLINE for step in plan.chaos),
        chaos=timeline.chaos if plan.chaos else None,
        quality=quality_stats(timeline, drift),
    )
    release = judge_release(plan, release_record(run.events()), stats, _probe_stats(run))
    evaluations = (*judged(plan, stats, timeline, drift), *release)
    promql = from_prometheus(plan, stats, window, evaluations, prometheus)
    regressions = against.evaluations if against is not None else ()
    verdict = _without_timeline(decide((*promql.evaluations, *regressions), plan.slos), timeline)
    verdict = promql.settle(_unfinished(verdict, run.header()))
    notes = _notes(run, plan, timeline, window, drift, outages)
    notes += against.notes if against is not None else ()
    verdict = replace(verdict, reasons=(*verdict.reasons, *notes))
    result = GateResult(run.run_id, run.path, verdict, endpoint_summaries(stats), window,
                        stats.generator, promql.sources,
                        against.comparison if against is not None else None)  # fmt: skip
    run.write_json(VERDICT_FILE, result.to_dict(with_path=False))
    if plan.outputs.junit:
        run.write_text(JUNIT_FILE, junit_xml(result))
    if plan.outputs.summary:
        run.write_text(SUMMARY_FILE, markdown_summary(result))
    write_report(run, plan, result)
    return result


def _against(run: RunDir, plan: Plan, baseline: RunDir | None) -> BaselineJudgement | None:
    """The regression limits judged against ``baseline`` (imported here: rollout.baseline
    reads both runs with this module's helpers)."""
    if baseline is None:
        return None
    from rollout.baseline import judge_against

    return judge_against(run, baseline, plan)


def _probe_stats(run: RunDir) -> RunStats | None:
    """The figures of the probe flood after a post-load rollback, if one ran."""
    path = run.file(PROBE_DIR)
    if not (path / HEADER_FILE).exists():
        return None
    probe = RunDir.open(path)
    return run_stats(probe, run_timeline(probe))[0]


def judged(
    plan: Plan,
    stats: RunStats,
    timeline: RunTimeline,
    drift: DriftReport | None,
    judge_with: Callable[[Plan, RunStats], tuple[Evaluation, ...]] = judge,
) -> tuple[Evaluation, ...]:
    """``judge`` (or ``judge_drift``), with what the drift checker could not know.

    It reads the fault windows from ``events.jsonl`` alone: when they were recovered
    from the chaos journals it blamed no violation on a fault, so an objective that
    tolerates some faults is judged as if the windows were unknown. And without a
    ledger (missing or empty) it has no order saying what the stock should be: stock
    outside the interval is then inconclusive, not a failure.
    """
    evaluations = judge_with(plan, stats)
    drift_objectives = [o for o in plan.slos.objectives if isinstance(o, DriftObjective)]
    if timeline.drift_faults_known != stats.faults_known:
        tolerant = [o for o in drift_objectives if o.tolerate]
        blind = replace(stats, faults_known=timeline.drift_faults_known)
        again = evaluate(tolerant, blind, default_min_samples=plan.slos.min_samples)
        rejudged = {evaluation.slo_id: evaluation for evaluation in again}
        evaluations = tuple(rejudged.get(e.slo_id, e) for e in evaluations)
    if drift is not None and not drift.records.get("ledger"):
        ids = {o.id for o in drift_objectives}
        evaluations = tuple(
            _without_ledger(e) if e.slo_id in ids and e.status is Status.FAIL else e
            for e in evaluations
        )
    return evaluations


def _without_ledger(evaluation: Evaluation) -> Evaluation:
    reason = (
        f"{LEDGER_FILE} is missing or empty: no order operation says what the stock should "
        f"be ({evaluation.reason})"
    )
    return replace(evaluation, status=Status.INCONCLUSIVE, reason=reason)


def _reconciled(outages: list[StoreOutage] | None) -> tuple[float | None, ...] | None:
    """Each outage's time to reconcile; an outage no poll saw is left out (unknown, which
    would otherwise read as never reconciled)."""
    if outages is None:
        return None
    return tuple(outage.reconcile_s for outage in outages if outage.samples)


def _without_timeline(verdict: Verdict, timeline: RunTimeline) -> Verdict:
    """A run whose ``events.jsonl`` is missing or empty cannot pass: when its load ran,
    what its chaos did and whether it finished are unknown."""
    if timeline.events or verdict.status is not Status.PASS:
        return verdict
    why = f"{EVENTS_FILE} is missing or empty: the run's timeline is unknown, so it cannot pass"
    reasons = (why, *verdict.reasons)
    return Verdict(Status.INCONCLUSIVE, int(ExitCode.INCONCLUSIVE), verdict.evaluations, reasons)


_UNFINISHED = {
    "interrupted": "the run was interrupted ({why})",
    "running": "the run never finished (its process was killed, or it is still running)",
    "crashed": "the rehearsal crashed before it finished",
}


def _unfinished(verdict: Verdict, header: dict[str, Any]) -> Verdict:
    """A run that did not finish is inconclusive: judged on what was recorded, never
    failed for what the stop caused nor passed on what it cut short."""
    status = header.get("status")
    if not isinstance(status, str):
        return unfinished(verdict, f"{HEADER_FILE} has no readable status: inconclusive")
    if status not in _UNFINISHED:
        return verdict  # completed (or a header from before statuses were lifecycles)
    why = str(header.get("reason") or header.get("signal") or "stopped")
    return unfinished(verdict, _UNFINISHED[str(status)].format(why=why) + ": inconclusive")


def quality_stats(timeline: RunTimeline, drift: DriftReport | None) -> QualityStats | None:
    """How complete the stock measurements were; None when nothing was probed."""
    probing = timeline.probing
    if probing is None and drift is None:
        return None
    reads = probing.reads if probing else 0
    return QualityStats(
        probe_reads=reads,
        probe_errors=probing.errors if probing else 0,
        probe_failure=probing.failure if probing else None,
        operations=drift.place_invokes if drift else 0,
        unresolved=max(0, probing.unknown - probing.resolved) if probing else 0,
        resolve_failure=probing.resolve_failure if probing else None,
        observations=(drift.truth_observations + drift.view_observations) if drift else 0,
        unjudged=drift.unjudged_observations if drift else 0,
    )


def _notes(
    run: RunDir,
    plan: Plan,
    timeline: RunTimeline,
    window: LoadWindow | None,
    drift: DriftReport | None,
    outages: list[Any] | None,
) -> list[str]:
    """The lines a person reads under the verdict: an API mismatch that stopped the load,
    load phase, faults, drift, stores, and the cleanup's outcome (never a verdict: a run's
    orders left in the oms change nothing in how its SLOs are judged)."""
    mismatch = mismatch_message(run.events()) if timeline.events else None
    notes = [f"load stopped early: {mismatch}"] if mismatch else []
    note = load_note(window)
    notes += [note] if note else []
    if plan.load.profile == "stress":
        notes += stress_knees(run, plan)
    if drift is not None:
        notes.append(drift_summary(drift))
    if outages:
        notes += outage_lines(outages, drift, window.start if window is not None else None)
    notes += [*timeline.notes, *fault_window_lines(timeline)]
    cleaned = cleanup_note(run, with_path=False)
    return [*notes, cleaned] if cleaned else notes

"""The gate: judge a run directory against the plan's SLOs and write the verdict files.

Works on a finished run and on one that crashed or was killed: it judges what was
recorded (a run that never finished says so in the verdict's reasons).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from collectors.rundir import RunDir
from collectors.summary import (
    EndpointSummary,
    LoadWindow,
    endpoint_summaries,
    latency_windows,
    run_stats,
)
from rollout.drift import check_drift, drift_summary
from rollout.reports import junit_xml, markdown_summary
from rollout.stores import check_stores, outage_lines
from slo.conventions import STORE_OFFLINE
from slo.evaluate import evaluate
from slo.generator import check_generator
from slo.knee import find_knee
from slo.plan import LatencyObjective, Plan, plan_from_snapshot
from slo.runfiles import HEADER_FILE, JUNIT_FILE, SUMMARY_FILE, VERDICT_FILE
from slo.stats import GeneratorStats
from slo.verdict import Verdict, decide

__all__ = ["GateResult", "gate_run", "plan_of_run"]


@dataclass(frozen=True)
class GateResult:
    """A verdict with the per-endpoint figures it was judged on."""

    run_id: str
    run_dir: Path
    verdict: Verdict
    endpoints: list[EndpointSummary]
    window: LoadWindow | None
    generator: GeneratorStats | None = None

    def to_dict(self) -> dict[str, Any]:
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
        return {
            "run_id": self.run_id,
            "run_dir": str(self.run_dir),
            **self.verdict.to_dict(),
            "load": load,
            "endpoints": [es.to_dict() for es in self.endpoints],
        }


def plan_of_run(run: RunDir) -> Plan:
    """The plan a run was started with, from its header."""
    return plan_from_snapshot(run.header()["plan"], str(run.file(HEADER_FILE)))


def stress_knees(run: RunDir, plan: Plan) -> list[str]:
    """For a stress ramp: the load at which each latency SLO first broke (5 s windows)."""
    notes = []
    for objective in plan.slos.objectives:
        if not isinstance(objective, LatencyObjective):
            continue
        windows = latency_windows(run, objective.endpoint, objective.percentile)
        knee = find_knee(windows, objective.threshold_ms)
        if knee is None:
            top = max((w.offered_per_min for w in windows), default=0.0)
            notes.append(f"stress: {objective.id} held up to {top:,.0f} orders/min")
        else:
            held = f"; held up to {knee.held_up_to_per_min:,.0f}" if knee.held_up_to_per_min else ""
            notes.append(
                f"stress: {objective.id} broke at {knee.broke_at_per_min:,.0f} orders/min "
                f"({knee.broke_at_s:.0f} s in{held})"
            )
    return notes


def gate_run(run: RunDir, plan: Plan) -> GateResult:
    """Evaluate the SLOs of ``plan`` on ``run`` and write verdict, JUnit and summary."""
    stats, window = run_stats(run)
    drift = check_drift(run, plan)
    if drift is not None:
        stats = replace(stats, drift=drift.to_stats())
    outages = check_stores(run)
    if outages is not None:
        stats = replace(stats, store_reconcile_s=tuple(o.reconcile_s for o in outages))
    scheduled = sum(step.experiment == STORE_OFFLINE for step in plan.chaos)
    stats = replace(stats, store_outages_scheduled=scheduled)
    evaluations = evaluate(plan.slos.objectives, stats, default_min_samples=plan.slos.min_samples)
    generator = check_generator(stats.generator, plan.slos)
    if generator is not None:
        evaluations = (*evaluations, generator)
    verdict = decide(evaluations, plan.slos)
    if window is not None and not window.complete:
        how = "was interrupted" if window.interrupted else "never finished"
        note = f"the load phase {how}: judged on the {window.elapsed_s:.0f} s recorded"
        verdict = replace(verdict, reasons=(*verdict.reasons, note))
    elif window is None:
        verdict = replace(verdict, reasons=(*verdict.reasons, "no load phase was recorded"))
    if plan.load.profile == "stress":
        verdict = replace(verdict, reasons=(*verdict.reasons, *stress_knees(run, plan)))
    summaries = endpoint_summaries(stats)
    if drift is not None:
        verdict = replace(verdict, reasons=(*verdict.reasons, drift_summary(drift)))
    if outages:
        origin = window.start if window is not None else None
        lines = outage_lines(outages, drift, origin)
        verdict = replace(verdict, reasons=(*verdict.reasons, *lines))
    result = GateResult(run.run_id, run.path, verdict, summaries, window, stats.generator)
    run.write_json(VERDICT_FILE, result.to_dict())
    if plan.outputs.junit:
        run.write_text(JUNIT_FILE, junit_xml(result))
    if plan.outputs.summary:
        run.write_text(SUMMARY_FILE, markdown_summary(result))
    return result

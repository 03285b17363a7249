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

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from collectors.drift import DriftReport
from collectors.rundir import RunDir
from collectors.summary import EndpointSummary, LoadWindow, endpoint_summaries, run_stats
from collectors.timeline import RunTimeline, read_timeline
from rollout.drift import check_drift, drift_summary
from rollout.notes import fault_window_lines, load_note, stress_knees
from rollout.reports import junit_xml, markdown_summary
from rollout.stores import check_stores, outage_lines
from slo.conventions import STORE_OFFLINE
from slo.judge import judge
from slo.plan import Plan, plan_from_snapshot
from slo.quality import QualityStats
from slo.runfiles import EVENTS_FILE, HEADER_FILE, JUNIT_FILE, SUMMARY_FILE, VERDICT_FILE
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
        if with_path:
            data["run_dir"] = str(self.run_dir)
        return data


def plan_of_run(run: RunDir) -> Plan:
    """The plan a run was started with, from its header."""
    return plan_from_snapshot(run.header()["plan"], str(run.file(HEADER_FILE)))


def gate_run(run: RunDir, plan: Plan) -> GateResult:
    """Judge ``run`` against ``plan`` and write ``verdict.json``, JUnit and the summary."""
    timeline = read_timeline(run.records(EVENTS_FILE))
    stats, window = run_stats(run, timeline)
    drift = check_drift(run, plan)
    outages = check_stores(run)
    stats = replace(
        stats,
        drift=drift.to_stats() if drift is not None else None,
        store_reconcile_s=tuple(o.reconcile_s for o in outages) if outages is not None else None,
        store_outages_scheduled=sum(step.experiment == STORE_OFFLINE for step in plan.chaos),
        chaos=timeline.chaos if plan.chaos else None,
        quality=quality_stats(timeline, drift),
    )
    verdict = decide(judge(plan, stats), plan.slos)
    notes = _notes(run, plan, timeline, window, drift, outages)
    verdict = replace(verdict, reasons=(*verdict.reasons, *notes))
    result = GateResult(
        run.run_id, run.path, verdict, endpoint_summaries(stats), window, stats.generator
    )
    run.write_json(VERDICT_FILE, result.to_dict(with_path=False))
    if plan.outputs.junit:
        run.write_text(JUNIT_FILE, junit_xml(result))
    if plan.outputs.summary:
        run.write_text(SUMMARY_FILE, markdown_summary(result))
    return result


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
    """The lines a person reads under the verdict: load phase, faults, drift, stores."""
    note = load_note(window)
    notes = [note] if note else []
    if plan.load.profile == "stress":
        notes += stress_knees(run, plan)
    if drift is not None:
        notes.append(drift_summary(drift))
    if outages:
        notes += outage_lines(outages, drift, window.start if window is not None else None)
    notes += fault_window_lines(timeline)
    return notes

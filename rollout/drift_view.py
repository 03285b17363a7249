"""``peakops drift``: the stock-drift part of the gate, with the violations written for people.

The checker runs again (``drift.json`` is rewritten) and the plan's drift objectives are
decided by the same core as the gate (``slo.judge.judge_drift``: ``tolerate``
honoured, incomplete measurements inconclusive), so ``drift`` and ``gate`` agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from collectors.drift import DriftReport, Violation
from collectors.rundir import RunDir
from collectors.timeline import RunTimeline, run_timeline
from rollout.drift import check_drift
from rollout.gate import judged, quality_stats
from slo.errors import UsageError
from slo.judge import judge_drift
from slo.plan import Plan
from slo.runfiles import LEDGER_FILE, STOCK_FILE
from slo.stats import RunStats
from slo.verdict import Verdict, decide

__all__ = ["SHOWN", "DriftOutcome", "drift_verdict", "violation_line", "violation_lines"]

SHOWN = 10
"""Violations printed in full; the rest are counted."""


@dataclass(frozen=True)
class DriftOutcome:
    """The checker's report, the verdict on the plan's drift objectives, and the timeline."""

    report: DriftReport
    verdict: Verdict
    timeline: RunTimeline


def drift_verdict(run: RunDir, plan: Plan) -> DriftOutcome:
    """Check the run's history and decide the plan's stock-drift objectives."""
    report = check_drift(run, plan)
    if report is None:
        raise UsageError(f"{run.path}: no {LEDGER_FILE} or {STOCK_FILE}: nothing to check")
    timeline = run_timeline(run, [step.experiment for step in plan.chaos])
    stats = RunStats(
        endpoints={},
        elapsed_s=0.0,
        drift=report.to_stats(),
        faults=timeline.faults,
        faults_known=timeline.faults_known,
        quality=quality_stats(timeline, report),
    )
    verdict = decide(judged(plan, stats, timeline, report, judge_drift), plan.slos)
    return DriftOutcome(report, verdict, timeline)


def violation_lines(violations: Sequence[Violation], total: int, origin: float) -> list[str]:
    """The first ``SHOWN`` violations, one line each, and how many more there were."""
    lines = [violation_line(v, origin) for v in violations[:SHOWN]]
    if total > len(lines):
        lines.append(f"... and {total - len(lines)} more (all counted in drift.json)")
    return lines


def violation_line(violation: Violation, origin: float) -> str:
    """``+37.2s  SKU-00042 @ loc-1  web view showed 7, expected 3..5  during network-cut``."""
    v = violation
    where = f"{v.sku} @ {v.location or '?'}"
    faults = f"  during {', '.join(v.faults)}" if v.faults else ""
    return f"{v.t - origin:+.1f}s  {where}  {_what(v)}{faults}"


def _what(v: Violation) -> str:
    expected = _interval(v.expected_lo, v.expected_hi)
    if v.kind == "view_outside_interval":
        return f"{v.channel or '?'} view showed {v.observed}, expected {expected}"
    if v.kind == "truth_outside_interval":
        return f"truth showed {v.observed}, expected {expected}"
    if v.kind == "negative_stock":
        return f"truth showed {v.observed}: below zero"
    if v.kind == "oversell":
        return f"order {v.op} confirmed beyond the stock (stock would be {v.observed})"
    if v.kind == "undersell":
        return f"order {v.op} for {v.observed} answered sold out while {expected} remained"
    if v.kind == "conservation":
        return f"on hand {v.observed} != available + reserved + committed ({expected})"
    if v.kind == "duplicate":
        return f"order {v.op} applied {v.observed} times"
    return f"{v.kind}: observed {v.observed}, expected {expected}"


def _interval(lo: int | None, hi: int | None) -> str:
    if lo is not None and hi is not None:
        return str(lo) if lo == hi else f"{lo}..{hi}"
    if lo is not None:
        return f">= {lo}"
    return f"<= {hi}" if hi is not None else "?"

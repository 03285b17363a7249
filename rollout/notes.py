"""The lines a person reads under a verdict: the load phase, fault windows, stress knees.

Times are seconds after the load started, as in every report.
"""

from __future__ import annotations

from collectors.rundir import RunDir
from collectors.summary import LoadWindow, latency_windows
from collectors.timeline import RunTimeline
from slo.knee import find_knee
from slo.plan import LatencyObjective, Plan

__all__ = ["fault_window_lines", "load_note", "stress_knees"]


def load_note(window: LoadWindow | None) -> str | None:
    """Says when the load phase did not run to its end (or was never recorded)."""
    if window is None:
        return "no load phase was recorded"
    if window.complete:
        return None
    how = "was interrupted" if window.interrupted else "never finished"
    return f"the load phase {how}: judged on the {window.elapsed_s:.0f} s recorded"


def fault_window_lines(timeline: RunTimeline) -> list[str]:
    """One line per fault window: ``fault network-cut 35.2s\N{EN DASH}37.3s``.

    A window whose end was never recorded says that it lasted until its lease expiry.
    """
    origin = timeline.origin
    lines = []
    for window in timeline.faults:
        start, end = window.start - origin, window.end - origin
        if window.stopped:
            lines.append(f"fault {window.name} {start:.1f}s\N{EN DASH}{end:.1f}s")
        else:
            lines.append(
                f"fault {window.name} {start:.1f}s\N{EN DASH}{end:.1f}s (no stop recorded: "
                "counted until its lease expiry)"
            )
    return lines


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

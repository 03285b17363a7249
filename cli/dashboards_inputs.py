"""What ``peakops dashboards`` hands the dashboards package from packages it may not
import: the plan's SLOs as the alert generator sees them, the metric catalog's windows,
and a run directory's events. Conversions only: no decisions are made here."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from alerts import RatioSli, alert_spec, load_window_set
from alerts.durations import format_window
from collectors.jsonl import parse_jsonl
from collectors.rundir import RunDir
from collectors.timeline import parse_event, run_timeline
from dashboards import DashboardInputs, MetricCatalog, RunEvent, SkippedSlo, SloRow, catalog
from slo.conventions import ALERT_WINDOWS
from slo.plan import Plan
from slo.runfiles import EVENTS_FILE

__all__ = ["burn_limits", "dashboard_inputs", "metric_catalog", "run_events"]


def dashboard_inputs(plan: Plan) -> DashboardInputs:
    """The plan with its SLOs reduced to what the recording rules record."""
    spec = alert_spec(plan)
    windows = spec.windows
    shown = tuple(format_window(s) for s in windows.windows_s)
    period = format_window(windows.period)
    rows = tuple(
        SloRow(
            slo.id,
            slo.kind,
            slo.objective,
            isinstance(slo.sli, RatioSli),
            shown,
            period,
            slo.served_by,
        )
        for slo in spec.slos
    )
    skipped = tuple(SkippedSlo(s.id, s.kind, s.reason) for s in spec.skipped)
    return DashboardInputs(plan, spec.window_set_name, rows, skipped)


def burn_limits(plan: Plan) -> tuple[float, float]:
    """(slowest ticket factor, fastest page factor) of the plan's alert window set."""
    factors = [pair.factor for pair in load_window_set(plan.slos.alert_windows).pairs]
    return min(factors), max(factors)


def metric_catalog() -> MetricCatalog:
    """Every series produced, recording rules over the windows of every window set."""
    windows: set[str] = set()
    for name in ALERT_WINDOWS:
        window_set = load_window_set(name)
        windows |= {format_window(s) for s in (*window_set.windows_s, window_set.period)}
    return catalog(windows)


def run_events(run_dir: Path) -> tuple[str, tuple[RunEvent, ...]]:
    """The run's id and its events: fault windows from the timeline reader (which also
    reads the chaos journals), every other event as recorded."""
    run = RunDir.open(run_dir)
    timeline = run_timeline(run)
    events = [RunEvent(span.start, "fault", span.name, end=span.end) for span in timeline.spans]
    events += parse_jsonl(run.file(EVENTS_FILE), _checked)
    return run.run_id, tuple(events)


def _checked(record: Mapping[str, Any], where: str) -> RunEvent:
    """The record as posted: checked by the timeline's reader, kept whole (the alert
    and rollback fields the gate does not read are what an annotation says)."""
    event = parse_event(record, where)
    return RunEvent(event.ts, event.type, "", fields=dict(record))

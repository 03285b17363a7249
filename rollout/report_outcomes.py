"""The report's outcomes section: what each chaos step, the deploy, every rollback and
every alert did, in seconds after the load started. Takes data already read; returns
escaped HTML.
"""

from __future__ import annotations

from typing import Any

from rollout.report_data import RunData, Span
from rollout.report_html import esc, paragraph, section, table
from slo.plan import Plan

__all__ = ["outcomes_section"]

_CHAOS_EXIT = {
    0: "hypothesis held",
    1: "hypothesis deviated",
    2: "refused",
    3: "nothing injected",
    4: "no data to check the hypothesis",
    5: "a fault was left behind",
}


def outcomes_section(data: RunData, plan: Plan | None) -> str:
    """What each chaos step, the deploy, every rollback and every alert did."""
    body = [_chaos_table(data, plan)]
    release = data.release
    if release.deploy_started is not None or release.deploy_error:
        done = (
            f"finished at {_at(data, release.deploy_finished)}"
            if release.deploy_finished
            else f"failed: {release.deploy_error}"
            if release.deploy_error
            else "never finished"
        )
        body.append(
            paragraph(
                f"Deploy {release.deployed_version or '?'}: started at "
                f"{_at(data, release.deploy_started)}, {done}."
            )
        )
    if release.breach_at is not None:
        body.append(
            paragraph(f"Breach detected at {_at(data, release.breach_at)}: {release.breach_reason}")
        )
    rows = []
    for r in release.rollbacks:
        outcome = (
            f"refused: {r.refused}"
            if r.refused
            else f"failed: {r.error}"
            if r.error
            else f"finished at {_at(data, r.finished)}"
            if r.finished
            else "never finished"
        )
        rows.append(
            (
                esc(_at(data, r.started)),
                esc(r.source),
                esc(r.reason),
                esc(f"{r.from_revision or '?'} \u2192 {r.to_revision or '?'}"),
                esc(outcome),
            )
        )
    if rows:
        body.append("<h3>Rollbacks</h3>" + table(("at", "by", "why", "revision", "outcome"), rows))
    elif plan is not None and (plan.deploy is not None or plan.rollback.enabled):
        body.append(paragraph("No rollback was started."))
    body.append(_alerts(data))
    return section("outcomes", "Chaos, deploy and rollback", body)


def _at(data: RunData, ts: float | None) -> str:
    return "-" if ts is None else f"{ts - data.origin:.1f} s"


def _chaos_table(data: RunData, plan: Plan | None) -> str:
    steps = {s.index: s for s in (data.timeline.chaos.steps if data.timeline else ())}
    planned = list(enumerate(plan.chaos, start=1)) if plan is not None else []
    indexes = sorted({*steps, *(i for i, _ in planned)})
    if not indexes:
        return paragraph("No chaos was scheduled.")
    by_index = dict(planned)
    rows = []
    for index in indexes:
        step, planned_step = steps.get(index), by_index.get(index)
        name = step.experiment if step else planned_step.experiment if planned_step else "?"
        offset = f"{planned_step.offset_s:g} s" if planned_step else "-"
        windows = [w for w in data.windows if w.kind == "fault" and w.label == name]
        rows.append(
            (
                esc(index),
                esc(name),
                esc(offset),
                esc(_step_outcome(step)),
                esc(", ".join(_span_text(w) for w in windows) or "-"),
            )
        )
    return "<h3>Chaos steps</h3>" + table(
        ("#", "experiment", "offset", "outcome", "fault windows (s after load start)"), rows
    )


def _step_outcome(step: Any) -> str:
    if step is None:
        return "no record: never started, or its events were lost"
    if step.skipped and not step.started:
        return f"skipped: {step.skipped}"
    parts = []
    if step.halted:
        parts.append(step.halted)
    if step.stopped:
        parts.append(f"stopped: {step.stopped}")
    if step.exit_code is None:
        parts.append("started, no outcome recorded")
    elif step.exit_code < 0:
        parts.append(f"runner killed by signal {-step.exit_code}")
    else:
        parts.append(f"exit {step.exit_code}: {_CHAOS_EXIT.get(step.exit_code, 'unknown')}")
    return "; ".join(parts)


def _span_text(span: Span) -> str:
    end = f"{span.end:.1f}" + (" (lease expiry; no stop recorded)" if span.open_ended else "")
    return f"{span.start:.1f}\u2013{end}"


def _alerts(data: RunData) -> str:
    rows = []
    ended = {
        (e.get("alert"), e.get("slo"), e.get("started_at")): e
        for e in data.events
        if e.get("type") == "alert_resolved"
    }
    for event in data.events:
        if event.get("type") != "alert_firing":
            continue
        resolved = ended.get((event.get("alert"), event.get("slo"), event.get("started_at")))
        start = event.get("started_ts", event.get("ts"))
        end = resolved.get("ended_ts") if resolved else None
        rows.append(
            (
                esc(event.get("alert", "?")),
                esc(event.get("slo", "?")),
                esc(event.get("severity", "?")),
                esc(_at(data, _num(start))),
                esc(_at(data, _num(end)) if end is not None else "still firing"),
            )
        )
    if not rows:
        return ""
    return "<h3>Alerts (a record, never the verdict)</h3>" + table(
        ("alert", "SLO", "severity", "fired", "resolved"), rows
    )


def _num(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

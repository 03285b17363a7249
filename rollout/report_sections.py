"""The text sections of ``report.html``: the header, the verdict, what is missing, the
endpoint figures and the environment the run ran in.

Each function takes what it shows and returns escaped HTML; none reads a file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rollout.report_data import RunData
from rollout.report_html import badge, esc, fmt, paragraph, section, table
from rollout.reports import format_value
from slo.objectives import (
    ConvergenceLagObjective,
    DriftObjective,
    ErrorRatioObjective,
    LatencyObjective,
    Objective,
    OversellObjective,
    RecoveryObjective,
    StoreReconcileObjective,
    ThroughputObjective,
    UndersellObjective,
)
from slo.plan import Plan
from slo.verdict import Verdict

__all__ = [
    "endpoint_table",
    "environment_section",
    "gaps_section",
    "header_section",
    "objective_text",
    "verdict_section",
]

_UNFINISHED = {
    "running": "This run did not finish: its process was killed (or it is still running). "
    "The report shows what was recorded until then.",
    "interrupted": "This run did not finish: it was interrupted ({why}). "
    "The report shows what was recorded until then.",
    "crashed": "This run did not finish: the rehearsal crashed. "
    "The report shows what was recorded until then.",
}


def header_section(data: RunData, plan: Plan | None, verdict: Verdict | None) -> str:
    """Title, run id, plan, and a banner when the run did not finish."""
    status = data.header.get("status")
    parts = [f"<h1>peakops rehearsal report: {esc(plan.name if plan else data.run_id)}</h1>"]
    parts.append(
        paragraph(
            f"run {data.run_id} \u00b7 started {data.header.get('started_at') or '?'} \u00b7 "
            f"ended {data.header.get('ended_at') or 'not recorded'} \u00b7 status {status or '?'}",
            "meta",
        )
    )
    if status != "completed":
        why = str(data.header.get("reason") or data.header.get("signal") or "stopped")
        text = _UNFINISHED.get(
            str(status),
            "This run did not finish (its header says "
            f"status {status!r}). The report shows what was recorded.",
        )
        parts.append(f'<div class="warn" id="unfinished">{esc(text.format(why=why))}</div>')
    if verdict is not None:
        css = "na" if verdict.status.value == "n/a" else verdict.status.value
        parts.append(
            f'<div class="banner {css}" id="headline">verdict {badge(verdict.status.value)} '
            f"exit {verdict.exit_code}: {esc(_headline(verdict))}</div>"
        )
    return f"<header>{''.join(parts)}</header>"


def _headline(verdict: Verdict) -> str:
    failed = [e.slo_id for e in verdict.evaluations if e.status.value == "fail"]
    if failed:
        return f"{len(failed)} failed: {', '.join(failed)}"
    return verdict.reasons[0] if verdict.reasons else verdict.status.value


def objective_text(objective: Objective | None) -> str:
    """What an objective asks, in a few words (``-`` for the gate's own checks)."""
    o = objective
    during = (
        f" ({o.during})"
        if isinstance(o, LatencyObjective | ErrorRatioObjective) and o.during != "all"
        else ""
    )
    if isinstance(o, LatencyObjective):
        return f"p{o.percentile:g} < {o.threshold_ms:g} ms{during}"
    if isinstance(o, ErrorRatioObjective):
        return f"errors \u2264 {o.max_ratio:.2%}{during}"
    if isinstance(o, ThroughputObjective):
        return f"sent/planned \u2265 {o.min_ratio:g}"
    if isinstance(o, OversellObjective):
        return f"oversold units \u2264 {o.max_units}"
    if isinstance(o, DriftObjective):
        tolerated = f", tolerating {', '.join(o.tolerate)}" if o.tolerate else ""
        return f"observations outside the interval \u2264 {o.max_count}{tolerated}"
    if isinstance(o, ConvergenceLagObjective):
        return f"p{o.percentile} convergence < {o.threshold_ms:g} ms"
    if isinstance(o, UndersellObjective):
        return f"false sold-outs \u2264 {o.max_ratio:.2%} of orders"
    if isinstance(o, StoreReconcileObjective):
        return f"reconciled < {o.threshold_ms / 1000:g} s after the link returns"
    if isinstance(o, RecoveryObjective):
        return f"back to steady state < {o.threshold_ms / 1000:g} s after each fault"
    return "-"


def verdict_section(verdict: Verdict | None, plan: Plan | None, problem: str = "") -> str:
    """Every SLO: objective, measured value, status and why; then the gate's notes."""
    if verdict is None:
        return section(
            "verdict",
            "Verdict",
            [
                f'<div class="warn">No verdict: {esc(problem or "the gate did not judge this run")}'
                "</div>",
                '<table id="verdict-table"><tbody><tr><td>no verdict</td></tr></tbody></table>',
            ],
        )
    objectives = {o.id: o for o in plan.slos.objectives} if plan is not None else {}
    rows = [
        (
            _slo_cell(e.slo_id, e.kind, e.endpoint),
            esc(_objective(objectives.get(e.slo_id), e.threshold, e.unit)),
            esc(format_value(e.observed, e.unit)),
            badge(e.status.value),
            esc(e.reason),
        )
        for e in verdict.evaluations
    ]
    body = [
        table(
            ("SLO", "objective", "measured", "status", "why"),
            rows,
            numeric=(2,),
            table_id="verdict-table",
        )
    ]
    if problem:
        body.append(f'<div class="warn">{esc(problem)}</div>')
    if verdict.reasons:
        body.append(
            "<h3>Notes from the gate</h3><ul class='reasons'>"
            + "".join(f"<li>{esc(r)}</li>" for r in verdict.reasons)
            + "</ul>"
        )
    title = f"Verdict: {verdict.status.value} (exit {verdict.exit_code})"
    return section("verdict", title, body)


def _objective(objective: Objective | None, threshold: float | None, unit: str) -> str:
    """The plan's words for an objective; for the gate's own checks, their threshold."""
    text = objective_text(objective)
    if text == "-" and threshold is not None:
        return f"threshold {format_value(threshold, unit)}"
    return text


def _slo_cell(slo_id: str, kind: str, endpoint: str) -> str:
    where = f" \u00b7 {esc(endpoint)}" if endpoint not in ("*", "") else ""
    return f"<strong>{esc(slo_id)}</strong><br><span class='meta'>{esc(kind)}{where}</span>"


def gaps_section(gaps: Sequence[str]) -> str:
    """What the run directory is missing, or could not be read, so figures may be partial."""
    if not gaps:
        return ""
    items = "".join(f"<li>{esc(g)}</li>" for g in gaps)
    return section(
        "missing",
        "Missing or unreadable data",
        [f'<div class="warn">Figures below leave these out:<ul class="reasons">{items}</ul></div>'],
    )


def environment_section(
    data: RunData,
    plan: Plan | None,
    versions: Mapping[str, str],
    cpu_chart: str,
) -> str:
    """Where and with what the run ran: plan, versions, git sha, host, generator CPU."""
    h = data.header
    load = next((e for e in data.events if e.get("type") == "load_started"), {})
    rows = [
        ("run id", data.run_id),
        ("status", h.get("status", "?")),
        ("started", h.get("started_at", "?")),
        ("ended", h.get("ended_at") or "not recorded"),
        ("git sha", h.get("git_sha") or "unknown"),
        ("host", h.get("host", "?")),
        ("target", h.get("target_url", "?")),
        ("OMS revision", h.get("revision", "?")),
        *sorted(versions.items()),
    ]
    if plan is not None:
        rows += [
            ("plan", plan.name),
            ("target kind", plan.target.kind),
            ("platform", plan.platform.kind),
            (
                "load",
                f"{plan.load.profile}, {plan.load.mode} model, {plan.load.duration_s:g} s, "
                f"baseline {plan.load.baseline_per_min:g}/min",
            ),
            (
                "chaos",
                ", ".join(f"{s.experiment} at {s.offset_s:g} s" for s in plan.chaos) or "none",
            ),
            ("SLOs", str(len(plan.slos.objectives))),
        ]
    if load:
        rows.append(
            (
                "load started",
                f"{load.get('mode', '?')} model, profile "
                f"{load.get('profile', '?')}, {load.get('baseline_per_min', '?')}\u2192"
                f"{load.get('peak_per_min', '?')} orders/min",
            )
        )
    body = [table(("what", "value"), ((esc(k), f"<code>{esc(v)}</code>") for k, v in rows))]
    body.append("<h3>Load generator CPU</h3>" + cpu_chart)
    return section("environment", "Environment", body)


def endpoint_table(endpoints: Iterable[Mapping[str, Any]]) -> str:
    """The per-endpoint figures of ``verdict.json`` (``EndpointSummary.to_dict``)."""

    def num(es: Mapping[str, Any], key: str, digits: int = 1) -> str:
        value = es.get(key)
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        return fmt(number, digits)

    rows = [
        (
            f"<code>{esc(es.get('endpoint', '?'))}</code>",
            num(es, "planned", 0),
            num(es, "requests", 0),
            num(es, "failures", 0),
            *(num(es, f"p{q}_ms") for q in ("50", "95", "99", "99.9")),
            num(es, "max_ms"),
        )
        for es in endpoints
    ]
    if not rows:
        return ""
    return "<h3>Endpoints (whole run, ms)</h3>" + table(
        ("endpoint", "planned", "requests", "failed", "p50", "p95", "p99", "p99.9", "max"),
        rows,
        numeric=tuple(range(1, 9)),
    )

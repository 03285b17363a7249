"""The charted sections of ``report.html``: latency, load and errors, stock, slow traces.

Every chart shades the run's fault, deploy and rollback windows, so a spike lines up
with its cause at a glance. Each function takes data already read (``report_data``,
``report_stock``, ``report_traces``) and returns escaped HTML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rollout.report_data import EndpointSeries, RunData
from rollout.report_html import esc, fmt, paragraph, section, table
from rollout.report_sections import endpoint_table
from rollout.report_stock import StockData
from rollout.report_svg import Rule, Series, Shade, line_chart
from rollout.report_traces import TraceData, TracedRequest
from slo.objectives import LatencyObjective
from slo.plan import Plan

__all__ = [
    "MAX_CHARTED_ENDPOINTS",
    "cpu_chart",
    "latency_section",
    "load_section",
    "stock_section",
    "traces_section",
]

MAX_CHARTED_ENDPOINTS = 12
"""Endpoints charted one by one (the busiest); every one stays in the tables."""


def _chart(
    title: str, series: Sequence[Series], y_label: str, data: RunData, *, small: bool = False
) -> str:
    """A chart over the run's time axis with its windows shaded."""
    return line_chart(
        title,
        series,
        y_label=y_label,
        shades=_shades(data),
        x_range=_x_range(data),
        size=(760, 170) if small else (760, 230),
    )


def _shades(data: RunData) -> list[Shade]:
    return [Shade(w.label, w.start, w.end, w.kind) for w in data.windows]


def _x_range(data: RunData) -> tuple[float, float]:
    start = min([0.0, *(w.start for w in data.windows)])
    return start, max(data.end_s, start + 1.0)


def _legend_note(data: RunData) -> str:
    if not data.windows:
        return paragraph("No fault, deploy or rollback window was recorded.", "meta")
    return paragraph(
        "Shaded: faults (red), deploys (blue), rollbacks (green). Times are seconds after "
        "the load started"
        + (f"; each point is {data.bucket_s:g} s." if data.bucket_s > 1 else "."),
        "meta",
    )


def latency_section(
    data: RunData, plan: Plan | None, endpoints: Sequence[Mapping[str, Any]]
) -> str:
    """Per endpoint, p50/p95/p99 of successful requests over time, objectives as rules."""
    if not data.endpoints:
        return section("latency", "Latency", [paragraph("No latency was recorded.")])
    busiest = sorted(data.endpoints, key=lambda e: (-e.requests, e.endpoint))
    charted = sorted(busiest[:MAX_CHARTED_ENDPOINTS], key=lambda e: e.endpoint)
    body = [_legend_note(data)]
    for series in charted:
        body.append(f"<h3><code>{esc(series.endpoint)}</code></h3>")
        body.append(_latency_chart(data, series, plan))
    if len(busiest) > len(charted):
        body.append(
            paragraph(f"{len(busiest) - len(charted)} quieter endpoints are in the table only.")
        )
    body.append(endpoint_table(endpoints))
    return section("latency", "Latency over time", body)


def _latency_chart(data: RunData, series: EndpointSeries, plan: Plan | None) -> str:
    lines = [
        Series(name, [(p.t, getattr(p, attr)) for p in series.points])
        for name, attr in (("p50", "p50"), ("p95", "p95"), ("p99", "p99"))
    ]
    rules = []
    for o in plan.slos.objectives if plan is not None else ():
        if isinstance(o, LatencyObjective) and o.endpoint in (series.endpoint, "*"):
            rules.append(Rule(f"{o.id}: p{o.percentile:g} < {o.threshold_ms:g} ms", o.threshold_ms))
    return line_chart(
        f"{series.endpoint} latency",
        lines,
        y_label="ms (log)",
        log=True,
        shades=_shades(data),
        rules=rules[:3],
        x_range=_x_range(data),
    )


def load_section(data: RunData) -> str:
    """Planned, sent and dropped arrivals; confirmed orders against the profile; errors."""
    body = [_legend_note(data)]
    per_s = 1.0 / data.bucket_s
    if data.load:
        arrivals = [  # planned last, dashed, so it shows on top of an equal "sent"
            Series("sent", [(p.t, p.sent * per_s) for p in data.load]),
            Series("dropped", [(p.t, p.dropped * per_s) for p in data.load]),
            Series("planned", [(p.t, p.planned * per_s) for p in data.load], dashed=True),
        ]
        body.append("<h3>Arrivals per second: planned, sent, dropped</h3>")
        body.append(_chart("arrivals", arrivals, "arrivals/s", data))
        orders = [
            Series(
                "profile (planned orders)",
                [(p.t, p.planned_orders * 60 * per_s) for p in data.load],
                dashed=True,
            ),
            Series("confirmed", [(p.t, p.confirmed * 60 * per_s) for p in data.load]),
        ]
        body.append("<h3>Confirmed orders per minute against the profile</h3>")
        body.append(_chart("orders per minute", orders, "orders/min", data))
        totals = (
            sum(p.planned for p in data.load),
            sum(p.sent for p in data.load),
            sum(p.dropped for p in data.load),
            sum(p.confirmed for p in data.load),
        )
        body.append(
            paragraph(
                f"Arrivals: planned {totals[0]:,.0f}, sent {totals[1]:,}, "
                f"dropped {totals[2]:,}; orders confirmed {totals[3]:,}."
            )
        )
    else:
        body.append(paragraph("No load generator record (load.jsonl) was found."))
    body.append(_errors(data))
    return section("load", "Load and errors", body)


def _errors(data: RunData) -> str:
    if not data.endpoints:
        return ""
    per_s = 1.0 / data.bucket_s
    failing = [e for e in data.endpoints if e.failures]
    parts = ["<h3>Errors by endpoint</h3>"]
    if failing:
        lines = [
            Series(e.endpoint, [(p.t, p.failures * per_s) for p in e.points])
            for e in failing[:MAX_CHARTED_ENDPOINTS]
        ]
        parts.append(_chart("failed requests per second", lines, "failed/s", data))
    rows = [
        (
            f"<code>{esc(e.endpoint)}</code>",
            f"{e.requests:,}",
            f"{e.failures:,}",
            fmt(100.0 * e.failures / e.requests if e.requests else None, 2, "%"),
            esc(", ".join(f"{kind}: {n}" for kind, n in e.errors.items()) or "-"),
        )
        for e in data.endpoints
    ]
    parts.append(
        table(("endpoint", "requests", "failed", "error ratio", "why"), rows, numeric=(1, 2, 3))
    )
    return "".join(parts)


def stock_section(stock: StockData, data: RunData) -> str:
    """Drift, observations outside the interval, oversell, false sold-outs, lag, stores."""
    body = [
        *(
            _drift_summary(stock.drift)
            if stock.drift is not None
            else [paragraph("No drift check result (drift.json): nothing probed, or not gated.")]
        )
    ]
    if stock.points:
        per_s = 1.0 / data.bucket_s
        outside = [
            Series("truth outside", [(p.t, p.truth_outside * per_s) for p in stock.points]),
            Series("views outside", [(p.t, p.views_outside * per_s) for p in stock.points]),
        ]
        body.append("<h3>Observations outside the interval, per second</h3>")
        body.append(_chart("outside the interval", outside, "observations/s", data))
        made = [
            Series("truth", [(p.t, p.truth * per_s) for p in stock.points]),
            Series("views", [(p.t, p.views * per_s) for p in stock.points]),
        ]
        body.append("<h3>All stock observations per second (probe coverage)</h3>")
        body.append(_chart("stock observations", made, "observations/s", data, small=True))
        if any(p.truth_drift or p.view_drift for p in stock.points):
            drift = [
                Series("truth |drift|", [(p.t, p.truth_drift) for p in stock.points]),
                Series("view |drift|", [(p.t, p.view_drift) for p in stock.points]),
            ]
            body.append("<h3>Largest drift outside the interval (units)</h3>")
            body.append(_chart("drift", drift, "units", data))
        if not stock.detail_complete:
            body.append(
                paragraph(
                    "Only the first violations are kept in detail (drift.json): "
                    "the charts show those; the counts above cover all.",
                    "meta",
                )
            )
    body.append(_stores(stock, data))
    return section("stock", "Stock", body)


def _drift_summary(drift: Mapping[str, Any]) -> list[str]:
    def get(key: str) -> Any:
        return drift.get(key, "-")

    rows = [
        ("oversold units", get("oversell_units")),
        (
            "truth observations outside the interval",
            f"{get('truth_outside_interval')} of {get('truth_observations')}",
        ),
        (
            "view observations outside the interval",
            f"{get('views_outside_interval')} of {get('view_observations')}",
        ),
        ("truth drift (min / max, units)", f"{get('truth_drift_min')} / {get('truth_drift_max')}"),
        (
            "false sold-outs",
            f"{get('undersell_false_sold_out')} in {get('place_invokes')} orders"
            f" ({get('sold_out_answers')} sold-out answers)",
        ),
        ("never converged", get("never_converged")),
        ("unknown outcomes", get("unknown_ops")),
        ("conservation violations", get("conservation_violations")),
        (
            "violations by fault",
            ", ".join(
                f"{fault}: {sum(kinds.values())}"
                for fault, kinds in sorted((get("violations_by_fault") or {}).items())
                if isinstance(kinds, dict)
            )
            or "none",
        ),
    ]
    parts = [table(("figure", "value"), ((esc(k), esc(v)) for k, v in rows), numeric=(1,))]
    found = drift.get("lag")
    lag: Mapping[str, Any] = found if isinstance(found, dict) else {}
    lag_rows = [
        (esc(name), _bracket(lag, key))
        for name, key in (("p50", "p50"), ("p95", "p95"), ("p99", "p99"), ("worst", "worst"))
    ]
    for channel, figures in sorted((drift.get("channels") or {}).items()):
        if isinstance(figures, dict) and isinstance(figures.get("lag"), dict):
            lag_rows.append((esc(f"{channel} p99"), _bracket(figures["lag"], "p99")))
    parts.append(
        "<h3>Convergence lag (ack \u2192 every view shows it): lower\u2013upper bound</h3>"
    )
    parts.append(table(("percentile", "seconds"), lag_rows, numeric=(1,)))
    return parts


def _bracket(lag: Mapping[str, Any], key: str) -> str:
    low, high = lag.get(f"{key}_s"), lag.get(f"{key}_upper_s")
    if not isinstance(low, int | float) or not isinstance(high, int | float):
        return "-"
    return f"{low:.3f}\u2013{high:.3f}"


def _stores(stock: StockData, data: RunData) -> str:
    if not stock.backlog:
        return ""
    lines = [
        Series(f"{store} pending units", points) for store, points in sorted(stock.backlog.items())
    ]
    parts = [
        "<h3>Store outboxes: units sold offline, not yet in the source of truth</h3>",
        _chart("store backlog", lines, "units", data),
    ]
    rows = []
    for o in stock.outages or ():
        stopped = f"{o.stopped - data.origin:.1f}" if o.stopped is not None else "no stop"
        rows.append(
            (
                esc(f"{o.started - data.origin:.1f}\u2013{stopped}"),
                str(o.peak_pending_units),
                str(o.queued_ops),
                fmt(o.reconcile_s, 3) if o.reconcile_s is not None else "NOT reconciled",
                str(o.samples),
            )
        )
    if rows:
        parts.append(
            table(
                ("outage (s)", "peak backlog (units)", "queued ops", "reconcile (s)", "polls"),
                rows,
                numeric=(1, 2, 3, 4),
            )
        )
    if stock.store_errors:
        parts.append(paragraph(f"{stock.store_errors} polls got no answer from a store.", "meta"))
    return "".join(parts)


def traces_section(traces: TraceData | None, data: RunData) -> str:
    """The slowest traced requests, each with the spans of its trace."""
    if traces is None:
        return section(
            "traces",
            "Slowest requests",
            [
                paragraph(
                    "No traces were recorded in the run directory (tracing off, or exported to an "
                    "OTLP endpoint)."
                )
            ],
        )
    if not traces.requests:
        return section("traces", "Slowest requests", [paragraph("No traced request was found.")])
    rows = [
        (
            str(rank),
            f"<code>{esc(r.trace_id)}</code>",
            f"<code>{esc(r.endpoint)}</code>",
            fmt(r.start - data.origin),
            fmt(r.duration_ms),
            esc(r.status),
            _waterfall(r, open_=rank == 1),
        )
        for rank, r in enumerate(traces.requests, start=1)
    ]
    note = (
        f"The {len(traces.requests)} slowest of {traces.client_spans:,} traced requests "
        f"(from {', '.join(traces.files)})"
        + (f"; {traces.bad_lines} unreadable lines skipped." if traces.bad_lines else ".")
    )
    body = [
        paragraph(note, "meta"),
        table(
            ("#", "trace id", "endpoint", "at (s)", "ms", "status", "span breakdown"),
            rows,
            numeric=(0, 3, 4),
        ),
    ]
    return section("traces", "Slowest requests", body)


def _waterfall(request: TracedRequest, open_: bool = False) -> str:
    if not request.spans:
        return "<span class='meta'>no spans of this trace were recorded</span>"
    total = max((s.offset_ms + s.duration_ms for s in request.spans), default=1.0) or 1.0
    rows = []
    for s in request.spans:
        left, width = 100 * s.offset_ms / total, max(0.3, 100 * s.duration_ms / total)
        err = " err" if "error" in s.status or s.status.startswith("HTTP 5") else ""
        rows.append(
            f"<tr><td>{'&nbsp;' * 2 * s.depth}{esc(s.service)}: {esc(s.name)}</td>"
            f'<td class="num">{s.offset_ms:.1f}</td><td class="num">{s.duration_ms:.1f}</td>'
            f'<td><div class="wf"><div class="bar{err}" style="margin-left:{left:.1f}%;'
            f'width:{width:.1f}%"></div></div></td></tr>'
        )
    return (
        f"<details{' open' if open_ else ''}><summary>{len(request.spans)} spans</summary>"
        "<table><thead><tr>"
        "<th>span</th><th>start ms</th><th>ms</th><th></th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></details>"
    )


def cpu_chart(data: RunData) -> str:
    """The busiest load process's CPU over time (a saturated generator under-reports)."""
    if not data.load:
        return paragraph("No load generator record.")
    series = [Series("busiest process CPU %", [(p.t, p.cpu_max) for p in data.load])]
    busiest = max(p.cpu_max for p in data.load)
    chart = _chart("generator CPU", series, "CPU %", data, small=True)
    return paragraph(f"Busiest second: {busiest:.0f}% CPU.") + chart

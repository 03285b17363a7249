"""The verdict as a person reads it in a terminal: SLO table, endpoint table, one line."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from rollout.gate import GateResult
from rollout.reports import format_value
from slo.runfiles import REPORT_FILE
from slo.verdict import Status

__all__ = ["render_result"]

_STYLE = {
    Status.PASS: "green",
    Status.FAIL: "red",
    Status.INCONCLUSIVE: "yellow",
    Status.NA: "dim",
}


def _slo_table(result: GateResult) -> Table:
    table = Table(title=f"SLOs of run {escape(result.run_id)}", title_justify="left")
    for column in ("SLO", "endpoint", "status", "observed", "threshold"):
        table.add_column(column, no_wrap=True)
    for ev in result.verdict.evaluations:
        table.add_row(
            Text(ev.slo_id),
            Text(ev.endpoint),
            Text(ev.status.value, style=_STYLE[ev.status]),
            format_value(ev.observed, ev.unit),
            format_value(ev.threshold, ev.unit),
        )
    return table


def _endpoint_table(result: GateResult) -> Table:
    table = Table(title="endpoints (latency in ms)", title_justify="left")
    for column in ("endpoint", "planned", "sent", "failed", "p50", "p95", "p99", "p99.9"):
        table.add_column(column, no_wrap=True, justify="left" if column == "endpoint" else "right")
    for es in result.endpoints:
        p = es.percentiles_ms
        planned = f"{es.planned:.0f}" if es.planned is not None else "-"
        table.add_row(
            Text(es.endpoint), planned, str(es.requests), str(es.failures),
            *(f"{p[q]:.1f}" for q in (50.0, 95.0, 99.0, 99.9)),
        )  # fmt: skip
    return table


def render_result(result: GateResult, console: Console) -> None:
    """Print the verdict: tables, why anything did not pass, and where the files are."""
    console.print(_slo_table(result))
    console.print(_endpoint_table(result))
    if result.generator is not None:
        g = result.generator
        console.print(
            f"arrivals: planned {g.arrivals_planned:.0f}, sent {g.arrivals_sent}, "
            f"dropped {g.arrivals_dropped}; busiest load process {g.busiest_cpu_percent:.0f}% CPU"
        )
    for reason in result.verdict.reasons:  # user data (endpoint names, values): no markup
        console.print(reason, markup=False, highlight=False)
    verdict = result.verdict
    console.print(
        f"verdict: [bold {_STYLE[verdict.status]}]{verdict.status.value}[/] "
        f"(exit {verdict.exit_code})  files: {escape(str(result.run_dir))}/"
    )
    report = result.run_dir / REPORT_FILE
    if report.is_file():
        console.print(f"report: {escape(str(report))}", highlight=False)

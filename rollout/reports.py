"""Render a gate result for machines and people: JUnit XML and a Markdown summary."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from slo.verdict import Status

if TYPE_CHECKING:
    from rollout.gate import GateResult
    from slo.evaluation import Evaluation

__all__ = ["format_value", "junit_xml", "markdown_summary"]

_ICON = {
    Status.PASS: "PASS",
    Status.FAIL: "FAIL",
    Status.INCONCLUSIVE: "INCONCLUSIVE",
    Status.NA: "n/a",
}


def junit_xml(result: GateResult) -> str:
    """One ``testcase`` per SLO: failed SLOs are failures, inconclusive ones errors, n/a
    ones skipped (never a pass); each failure's message is the SLO's reason. Every case
    carries where its figures came from (property ``source``: ``client``, ``prometheus``,
    or ``baseline`` for a regression limit) and its observed value and threshold."""
    evaluations = result.verdict.evaluations
    suite = ET.Element(
        "testsuite",
        name=f"peakops.{result.run_id}",
        tests=str(len(evaluations)),
        failures=str(sum(e.status is Status.FAIL for e in evaluations)),
        errors=str(sum(e.status is Status.INCONCLUSIVE for e in evaluations)),
        skipped=str(sum(e.status is Status.NA for e in evaluations)),
    )
    for ev in evaluations:
        case = ET.SubElement(suite, "testcase", classname=f"slo.{ev.kind}", name=ev.slo_id)
        _properties(case, ev, result)
        if ev.status is Status.FAIL:
            ET.SubElement(case, "failure", message=ev.reason, type="slo_breach").text = ev.reason
        elif ev.status is Status.INCONCLUSIVE:
            ET.SubElement(case, "error", message=ev.reason, type="inconclusive").text = ev.reason
        elif ev.status is Status.NA:
            ET.SubElement(case, "skipped", message=f"n/a: {ev.reason}")
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _properties(case: ET.Element, ev: Evaluation, result: GateResult) -> None:
    source = "baseline" if ev.kind == "regression" else result.sources.get(ev.slo_id, "client")
    properties = ET.SubElement(case, "properties")
    shown = {
        "source": source,
        "status": ev.status.value,
        "endpoint": ev.endpoint,
        "observed": format_value(ev.observed, ev.unit),
        "threshold": format_value(ev.threshold, ev.unit),
    }
    if ev.kind == "regression" and result.comparison is not None:
        shown["baseline"] = result.comparison.baseline_run_id
    for name, value in shown.items():
        ET.SubElement(properties, "property", name=name, value=value)


def format_value(value: float | None, unit: str) -> str:
    """An observed value or threshold as the reports show it."""
    if value is None:
        return "-"
    if unit == "exit":
        return f"exit {value:.0f}"
    return f"{value:.1f} ms" if unit == "ms" else f"{value:.4g}"


def markdown_summary(result: GateResult) -> str:
    """The report an on-call engineer reads first: verdict, SLOs, then endpoints."""
    verdict = result.verdict
    lines = [
        f"# peakops verdict: {_ICON[verdict.status]} (exit {verdict.exit_code})",
        "",
        f"Run `{result.run_id}`.",
    ]
    lines += [f"- {reason}" for reason in verdict.reasons]
    if result.generator is not None:
        g = result.generator
        lines.append(
            f"- arrivals: planned {g.arrivals_planned:.0f}, sent {g.arrivals_sent}, "
            f"dropped {g.arrivals_dropped}; busiest load process {g.busiest_cpu_percent:.0f}% CPU"
        )
    lines += ["", "## SLOs", "", "| SLO | endpoint | status | observed | threshold | detail |"]
    lines.append("|---|---|---|---|---|---|")
    for ev in verdict.evaluations:
        observed, threshold = (
            format_value(ev.observed, ev.unit),
            format_value(ev.threshold, ev.unit),
        )
        lines.append(
            f"| {ev.slo_id} | `{ev.endpoint}` | {_ICON[ev.status]} | {observed}"
            f" | {threshold} | {ev.reason} |"
        )
    lines += ["", "## Endpoints", ""]
    lines.append("| endpoint | planned | requests | failures | p50 | p95 | p99 | p99.9 | max |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for es in result.endpoints:
        p = es.percentiles_ms
        planned = f"{es.planned:.0f}" if es.planned is not None else "-"
        lines.append(
            f"| `{es.endpoint}` | {planned} | {es.requests} | {es.failures} | {p[50.0]:.1f} "
            f"| {p[95.0]:.1f} | {p[99.0]:.1f} | {p[99.9]:.1f} | {es.max_ms:.1f} |"
        )
    if result.comparison is not None:
        lines += result.comparison.markdown()
    return "\n".join(lines) + "\n"

"""The report's baseline section: this run beside a baseline run, per endpoint and per SLO.

Renders the JSON form of ``rollout.baseline.Comparison`` (``verdict.json``'s ``baseline``
key, or a comparison made for ``peakops report --baseline``). Reads the dict defensively:
the comparison belongs to another module and may grow fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rollout.report_html import esc, paragraph, section, table

__all__ = ["baseline_section"]

_METRICS = (("p50_ms", "p50 ms"), ("p95_ms", "p95 ms"), ("p99_ms", "p99 ms"))


def baseline_section(comparison: Mapping[str, Any] | None) -> str:
    """Nothing without a comparison; else its refusals, notes and tables."""
    if comparison is None:
        return ""
    if "unavailable" in comparison:
        why = str(comparison["unavailable"])
        return section("baseline", "Against the baseline", [paragraph(f"Not compared: {why}.")])
    body = []
    refused = [str(r) for r in comparison.get("refused") or []]
    if refused:
        body.append('<div class="warn">Not comparable: ' + esc("; ".join(refused)) + "</div>")
    body += [paragraph(f"Plans differ: {note}", "meta") for note in comparison.get("notes") or []]
    body.append(_endpoints(comparison.get("endpoints") or []))
    body.append(_slos(comparison.get("slos") or []))
    oversell = comparison.get("oversell_units")
    if isinstance(oversell, Mapping):
        body.append(
            paragraph(
                f"Oversold units: {_num(oversell.get('baseline'))} \u2192 "
                f"{_num(oversell.get('current'))}"
            )
        )
    title = f"Against the baseline {comparison.get('run_id', '?')}"
    return section("baseline", title, body)


def _num(value: object, digits: int = 1) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"


def _pair(before: Any, after: Any, key: str, change: Any = None, unit: str = "") -> str:
    left = before.get(key) if isinstance(before, Mapping) else None
    right = after.get(key) if isinstance(after, Mapping) else None
    text = f"{_num(left)} \u2192 {_num(right)}"
    if isinstance(change, int | float) and not isinstance(change, bool):
        text += f" ({change:+.1f} {unit})"
    return esc(text)


def _endpoints(rows: list[Any]) -> str:
    cells = []
    for row in rows:
        if not isinstance(row, Mapping):
            continue
        before, after = row.get("baseline"), row.get("current")
        found = row.get("change")
        change: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
        metric_key = {"p50_ms": "p50_percent", "p95_ms": "p95_percent", "p99_ms": "p99_percent"}
        cells.append(
            (
                f"<code>{esc(row.get('endpoint', '?'))}</code>",
                _pair(before, after, "requests"),
                *(
                    _pair(before, after, key, change.get(metric_key[key]), "%")
                    for key, _ in _METRICS
                ),
                _pair(before, after, "error_ratio", change.get("error_ratio_pp"), "pp"),
                _pair(before, after, "throughput_per_s", change.get("throughput_percent"), "%"),
            )
        )
    if not cells:
        return paragraph("No endpoint figures to compare.")
    headers = ("endpoint", "requests", *(label for _, label in _METRICS), "error ratio", "req/s")
    return "<h3>Endpoints: baseline \u2192 this run</h3>" + table(headers, cells)


def _slos(rows: list[Any]) -> str:
    cells = [
        (
            esc(row.get("slo_id", "?")),
            esc(row.get("unit", "")),
            esc(f"{_num(row.get('baseline'), 3)} ({row.get('baseline_status') or '-'})"),
            esc(f"{_num(row.get('current'), 3)} ({row.get('current_status') or '-'})"),
        )
        for row in rows
        if isinstance(row, Mapping)
    ]
    if not cells:
        return ""
    return "<h3>SLOs: baseline \u2192 this run</h3>" + table(
        ("SLO", "unit", "baseline", "this run"), cells
    )

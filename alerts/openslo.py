"""The plan's event-ratio SLOs as OpenSLO v1 documents (``peakops alerts openslo``).

One ``Service`` (the plan) and one ``SLO`` per event-ratio objective, with a
``ratioMetric`` over the same counters the rules read (``counter: true``), a rolling
time window of the window set's period and occurrences budgeting. Count SLOs (a budget
of units per period) have no OpenSLO form and are left out, like the objectives
without a live SLI; the header says which and why.
"""

from __future__ import annotations

from typing import Any

from alerts.durations import format_window
from alerts.model import AlertSlo, AlertSpec, RatioSli, Selector
from alerts.window_sets import number

__all__ = ["API_VERSION", "openslo_documents"]

API_VERSION = "openslo/v1"


def _source(selector: Selector) -> dict[str, Any]:
    return {"metricSource": {"type": "Prometheus", "spec": {"query": f"sum({selector.promql()})"}}}


def _slo(slo: AlertSlo, sli: RatioSli, spec: AlertSpec) -> dict[str, Any]:
    ratio: dict[str, Any] = {"counter": True, "total": _source(sli.total)}
    if sli.bad is not None:
        ratio["bad"] = _source(sli.bad)
    else:
        assert sli.good is not None
        ratio["good"] = _source(sli.good)
    return {
        "apiVersion": API_VERSION,
        "kind": "SLO",
        "metadata": {"name": slo.id, "displayName": slo.objective},
        "spec": {
            "description": " ".join((f"{slo.objective}.", *slo.notes)),
            "service": spec.plan_name,
            "indicator": {"metadata": {"name": f"{slo.id}-sli"}, "spec": {"ratioMetric": ratio}},
            "timeWindow": [{"duration": format_window(spec.windows.period), "isRolling": True}],
            "budgetingMethod": "Occurrences",
            "objectives": [{"displayName": slo.objective, "target": float(number(1 - slo.budget))}],
        },
    }


def openslo_documents(spec: AlertSpec) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """The documents (the service first, then SLOs by id) and notes on what was left out."""
    service = {
        "apiVersion": API_VERSION,
        "kind": "Service",
        "metadata": {"name": spec.plan_name},
        "spec": {"description": f"SLOs of the peakops plan {spec.plan_name}"},
    }
    documents: list[dict[str, Any]] = [service]
    notes = [
        f"skipped {s.id} ({s.kind}): {s.reason}" for s in sorted(spec.skipped, key=lambda s: s.id)
    ]
    for slo in sorted(spec.slos, key=lambda s: s.id):
        if isinstance(slo.sli, RatioSli):
            documents.append(_slo(slo, slo.sli, spec))
        else:
            notes.append(
                f"skipped {slo.id} ({slo.kind}): a budget of {number(slo.budget)} bad events per "
                "period has no OpenSLO form (objectives are ratios)"
            )
    return documents, tuple(sorted(notes))

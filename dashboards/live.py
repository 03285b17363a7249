"""Every panel query of a dashboard against a real Prometheus: how many series each
returns over a run's window (the live check's measurement; the check decides).

Template variables take their All value (``.*``) and Grafana's intervals a value that
fits a short run (``rate_interval``). The URL is checked first (loopback or an
operator-allowed host); redirects are not followed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from dashboards.grafana import checked_url
from dashboards.promql_check import resolve_variables
from slo.errors import InfraError
from slo.hosts import mask_url

__all__ = ["PanelSeries", "panel_series"]


@dataclass(frozen=True)
class PanelSeries:
    """One query of one panel: its expression as sent, and the series it returned
    (``error``: Prometheus refused it, ``series`` then 0)."""

    panel: str
    ref_id: str
    expr: str
    series: int
    error: str | None = None


def _queries(doc: dict[str, Any]) -> Iterable[tuple[str, str, str]]:
    for panel in doc.get("panels") or []:
        for item in (panel, *(panel.get("panels") or [])):
            for target in item.get("targets") or []:
                if target.get("expr"):
                    yield str(item.get("title")), str(target.get("refId")), str(target["expr"])


def panel_series(doc: dict[str, Any], prometheus_url: str, start: float, end: float, *,
                 operator_hosts: Iterable[str] = (), step_s: float = 1.0,
                 rate_interval: str = "15s",
                 transport: httpx.BaseTransport | None = None) -> list[PanelSeries]:  # fmt: skip
    """Each panel query of ``doc`` run as a range query over ``[start, end]`` (Unix s)."""
    base = checked_url(prometheus_url, operator_hosts, field="--prometheus-url")
    values = {"__rate_interval": rate_interval, "__interval": f"{step_s:g}s"}
    out: list[PanelSeries] = []
    with httpx.Client(timeout=10.0, transport=transport, follow_redirects=False) as http:
        for title, ref, expr in _queries(doc):
            query = resolve_variables(expr, values)
            params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}",
                      "step": f"{step_s:g}"}  # fmt: skip
            try:
                answer = http.get(f"{base}/api/v1/query_range", params=params)
            except httpx.HTTPError as err:
                where = mask_url(base)
                raise InfraError(f"prometheus at {where} is unreachable: {err}") from err
            out.append(_counted(title, ref, query, answer, mask_url(base)))
    return out


def _counted(title: str, ref: str, query: str, answer: httpx.Response, where: str) -> PanelSeries:
    if answer.status_code >= 500 or 300 <= answer.status_code < 400:
        raise InfraError(f"prometheus at {where} answered HTTP {answer.status_code}")
    try:
        body = answer.json()
    except ValueError as err:
        raise InfraError(f"prometheus at {where} answered something that is not JSON") from err
    if body.get("status") != "success":
        return PanelSeries(title, ref, query, 0, str(body.get("error") or "refused"))
    result = (body.get("data") or {}).get("result") or []
    return PanelSeries(title, ref, query, len(result))

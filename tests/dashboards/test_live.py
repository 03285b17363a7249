"""``panel_series``: every panel query of a dashboard with its series count over a run
window (what the live check asserts on), against an emulated query_range API."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from dashboards import panel_series
from slo.errors import InfraError, UsageError

OVERVIEW = json.loads(Path("dashboards/generated/default-peak-overview.json").read_text())


def _prometheus(seen: list[httpx.Request]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        query = request.url.params["query"]
        if "oms_" in query:
            return httpx.Response(
                200, json={"status": "success", "data": {"resultType": "matrix", "result": []}}
            )
        series = [{"metric": {"i": str(i)}, "values": [[1, "1"]]} for i in range(2)]
        return httpx.Response(
            200, json={"status": "success", "data": {"resultType": "matrix", "result": series}}
        )

    return httpx.MockTransport(answer)  # fmt: skip


def test_every_panel_query_is_run_over_the_window_with_variables_resolved() -> None:
    seen: list[httpx.Request] = []
    found = panel_series(OVERVIEW, "http://127.0.0.1:9090", 1000.0, 1060.0,
                         transport=_prometheus(seen))  # fmt: skip
    expected = sum(len(p.get("targets") or []) for p in OVERVIEW["panels"])
    assert len(found) == len(seen) == expected
    request = seen[0]
    assert request.url.path == "/api/v1/query_range"
    assert request.url.params["start"] == "1000.000" and request.url.params["end"] == "1060.000"
    assert all("$" not in r.url.params["query"] for r in seen)
    assert all("[15s]" in r.url.params["query"] for r in seen if "rate(" in r.url.params["query"])
    empty = {f.panel for f in found if f.series == 0}
    assert "OMS server latency p99 by route" in empty
    assert next(f for f in found if f.panel == "Active journeys").series == 2


def test_a_non_loopback_prometheus_needs_the_operator() -> None:
    with pytest.raises(UsageError, match="not allowed by the operator"):
        panel_series(OVERVIEW, "http://prom.example.com", 0, 1)


def test_a_failing_prometheus_is_an_infra_error() -> None:
    transport = httpx.MockTransport(lambda _: httpx.Response(503, text="down"))
    with pytest.raises(InfraError, match="HTTP 503"):
        panel_series(OVERVIEW, "http://127.0.0.1:9090", 0, 1, transport=transport)

"""``peakops alerts openslo``: the plan's event-ratio SLOs as OpenSLO v1 documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from alerts import generate_openslo
from cli import app
from slo.loader import load_plan
from tests.alerts.plans import ROOT

runner = CliRunner()


def _documents() -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(generate_openslo(load_plan(ROOT / "peak.yaml"))))


def test_a_service_then_one_slo_per_event_ratio_objective() -> None:
    documents = _documents()
    assert [(d["apiVersion"], d["kind"]) for d in documents[:2]] == [
        ("openslo/v1", "Service"),
        ("openslo/v1", "SLO"),
    ]
    assert [d["metadata"]["name"] for d in documents[1:]] == [
        "error-ratio",
        "error-ratio-under-faults",
        "place-order-latency",
        "place-order-latency-under-faults",
        "stock-check-latency",
        "views-converge",
    ]


def test_a_latency_slo_counts_good_requests_under_the_threshold_bucket() -> None:
    (slo,) = [d for d in _documents() if d["metadata"]["name"] == "place-order-latency"]
    spec = slo["spec"]
    ratio = spec["indicator"]["spec"]["ratioMetric"]
    assert ratio["counter"] is True
    assert ratio["good"]["metricSource"]["spec"]["query"] == (
        'sum(peakops_client_request_duration_seconds_bucket{endpoint="POST /orders", le="0.25"})'
    )
    assert spec["objectives"] == [{"displayName": slo["metadata"]["displayName"], "target": 0.99}]
    assert spec["timeWindow"] == [{"duration": "30d", "isRolling": True}]
    assert spec["budgetingMethod"] == "Occurrences"


def test_count_slos_are_left_out_with_the_reason() -> None:
    text = generate_openslo(load_plan(ROOT / "peak.yaml"))
    assert "# skipped no-oversell (oversell): a budget of 0 bad events per period" in text


def test_the_command_prints_or_writes_the_documents(tmp_path: Path) -> None:
    printed = runner.invoke(app, ["alerts", "openslo", "--plan", str(ROOT / "peak.yaml")])
    assert printed.exit_code == 0 and "kind: SLO" in printed.output
    out = tmp_path / "slos.openslo.yaml"
    written = runner.invoke(
        app, ["alerts", "openslo", "--plan", str(ROOT / "peak.yaml"), "-o", str(out)]
    )
    assert written.exit_code == 0 and out.read_text() == printed.output

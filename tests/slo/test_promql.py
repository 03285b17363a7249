"""PromQL builders shared by the alert rules and the gate, and the plan's ``source``."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.sli_rules import window_sli_rules
from alerts.spec import alert_spec
from slo.errors import PlanError
from slo.loader import load_plan, load_plan_text
from slo.objectives import ErrorRatioObjective, LatencyObjective
from slo.promql import error_ratio_sli, latency_sli, quantile_expr, sli_expr

PLAN = """\
apiVersion: peakops/v1
target: {kind: embedded}
load: {duration: 10s, profile: constant, baseline: 600}
slos:
  objectives:
    - id: p99
      kind: latency
      endpoint: POST /orders
      percentile: 99
      threshold: 250ms
      source: prometheus
    - id: errors
      kind: error_ratio
      max: 0.01
      source: client
"""


def test_the_gate_reads_the_expression_of_the_generated_recording_rule() -> None:
    plan = load_plan_text(PLAN, "plan.yaml")
    p99, errors = plan.slos.objectives
    assert isinstance(p99, LatencyObjective) and isinstance(errors, ErrorRatioObjective)
    spec = alert_spec(plan)
    for objective, sli in ((p99, latency_sli(p99)), (errors, error_ratio_sli(errors))):
        slo = next(s for s in spec.slos if s.id == objective.id)
        assert slo.sli == sli
        rule = window_sli_rules(slo, spec)[0]
        assert rule.expr == sli_expr(sli, "5m", "rate")


def test_the_quantile_reads_every_bucket_of_the_threshold_histogram() -> None:
    plan = load_plan_text(PLAN, "plan.yaml")
    p99 = plan.slos.objectives[0]
    assert isinstance(p99, LatencyObjective)
    assert quantile_expr(0.99, latency_sli(p99), "60s") == (
        "histogram_quantile(0.99, sum by (le) (increase("
        'peakops_client_request_duration_seconds_bucket{endpoint="POST /orders"}[60s])))'
    )


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (("max: 0.01\n      source: client", "max: 0.01\n      source: prometheus\n"
          "      during: steady"), None, None),
        (("source: client", "source: prom"), "slos.objectives[1].source", "'client' or"),
        (("kind: error_ratio\n      max: 0.01\n      source: client",
          "kind: throughput\n      minRatio: 0.9\n      source: prometheus"),
         "slos.objectives[1].source", "not available for throughput objectives"),
        (("threshold: 250ms", "threshold: 200ms"), "slos.objectives[0].threshold",
         "needs a threshold on a latency bucket boundary"),
    ],
    ids=["prometheus on an error ratio is valid", "an unknown source is refused",
         "a kind without a PromQL SLI is refused at its line",
         "a latency threshold off the buckets is refused at its line"],
)  # fmt: skip
def test_the_source_field_is_checked_with_file_and_line(
    tmp_path: Path, change: tuple[str, str], field: str | None, message: str | None
) -> None:
    path = tmp_path / "peak.yaml"
    path.write_text(PLAN.replace(*change))
    if field is None:
        assert load_plan(path).slos.objectives[1].source == "prometheus"
        return
    with pytest.raises(PlanError) as caught:
        load_plan(path)
    issue = caught.value.issues[0]
    assert issue.field == field and message in issue.message and issue.line is not None
    assert str(caught.value).startswith(f"{path}:{issue.line}:")

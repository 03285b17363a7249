"""Plan objectives -> live SLIs: what is generated, what is skipped and why, and the
latency thresholds that must be bucket boundaries."""

from __future__ import annotations

import pytest

from alerts.model import AlertSpec, CountSli, RatioSli
from alerts.spec import SKIP_REASONS, alert_spec
from slo.conventions import CLIENT_LATENCY_BUCKETS_S
from slo.errors import PlanError, UsageError
from slo.loader import load_plan
from tests.alerts.plans import ROOT, plan_with


@pytest.fixture(scope="module")
def default_spec() -> AlertSpec:
    return alert_spec(load_plan(ROOT / "peak.yaml"))


def test_the_default_plan_generates_every_slo_with_a_live_sli(default_spec: AlertSpec) -> None:
    kinds = {slo.id: type(slo.sli) for slo in default_spec.slos}
    assert kinds == {
        "place-order-latency": RatioSli,
        "error-ratio": RatioSli,
        "stock-check-latency": RatioSli,
        "place-order-latency-under-faults": RatioSli,
        "error-ratio-under-faults": RatioSli,
        "views-converge": RatioSli,
        "no-oversell": CountSli,
        "no-stock-drift": CountSli,
    }
    assert default_spec.window_set_name == "google-30d"
    assert default_spec.min_events is None


def test_the_default_plan_skips_the_slos_without_a_live_sli_saying_why(
    default_spec: AlertSpec,
) -> None:
    skipped = {s.id: s.reason for s in default_spec.skipped}
    assert skipped == {
        "order-throughput": SKIP_REASONS["throughput"],
        "orders-recover": SKIP_REASONS["recovery"],
        "store-reconciles": SKIP_REASONS["store_reconcile"],
        "few-false-sold-outs": SKIP_REASONS["undersell_ratio"],
    }


@pytest.mark.parametrize("threshold_ms", [250, 100, 2500])
def test_the_default_latency_thresholds_are_bucket_boundaries(threshold_ms: int) -> None:
    assert threshold_ms / 1000 in CLIENT_LATENCY_BUCKETS_S


def test_a_latency_slo_reads_the_bucket_at_its_threshold(default_spec: AlertSpec) -> None:
    (slo,) = [s for s in default_spec.slos if s.id == "place-order-latency"]
    assert isinstance(slo.sli, RatioSli) and slo.sli.good is not None
    assert slo.sli.good.promql() == (
        'peakops_client_request_duration_seconds_bucket{endpoint="POST /orders", le="0.25"}'
    )
    assert slo.sli.total.promql() == (
        'peakops_client_request_duration_seconds_count{endpoint="POST /orders"}'
    )
    assert slo.budget == 0.01


@pytest.mark.parametrize(
    ("threshold", "nearest"),
    [("300ms", "250ms and 500ms"), ("1.5ms", "1ms and 2.5ms"), ("45s", "30s"), ("0.5ms", "1ms")],
    ids=["between two buckets", "just above the first", "beyond the last", "below the first"],
)
def test_a_latency_threshold_between_buckets_names_the_slo_and_nearest_boundaries(
    threshold: str, nearest: str
) -> None:
    plan = plan_with(
        f"    - {{id: slow-orders, kind: latency, percentile: 99, threshold: {threshold}}}\n"
    )
    with pytest.raises(UsageError) as caught:
        alert_spec(plan)
    message = str(caught.value)
    assert "'slow-orders'" in message and threshold in message
    assert f"nearest: {nearest})" in message
    assert "peakops_client_request_duration_seconds" in message


def test_a_convergence_lag_threshold_must_be_a_bucket_of_the_collector() -> None:
    plan = plan_with("    - {id: lag, kind: convergence_lag, percentile: 95, threshold: 3s}\n")
    with pytest.raises(
        UsageError, match=r"nearest: 2.5s and 5s\).*lag_seconds|lag_seconds.*2.5s and 5s"
    ):
        alert_spec(plan)


def test_slos_choose_a_window_set_and_a_low_traffic_guard() -> None:
    plan = plan_with(
        "    - {id: errors, kind: error_ratio, max: 0.01}\n",
        extra="  alertWindows: rehearsal\n  alertMinEvents: 50\n",
    )
    spec = alert_spec(plan)
    assert (spec.window_set_name, spec.min_events) == ("rehearsal", 50)
    assert spec.windows.period == 86_400


def test_an_unknown_window_set_is_a_plan_error_at_its_line() -> None:
    with pytest.raises(PlanError) as caught:
        plan_with(
            "    - {id: errors, kind: error_ratio, max: 0.01}\n", extra="  alertWindows: 7d\n"
        )
    (issue,) = caught.value.issues
    assert (issue.line, issue.field) == (6, "slos.alertWindows")
    assert "unknown alert window set '7d': use one of google-30d, google-28d, rehearsal" in str(
        issue
    )


@pytest.mark.parametrize("value", ["0", "-5", "1.5", "many"])
def test_a_bad_low_traffic_guard_is_a_plan_error(value: str) -> None:
    with pytest.raises(PlanError, match=r"slos\.alertMinEvents"):
        plan_with(
            "    - {id: errors, kind: error_ratio, max: 0.01}\n",
            extra=f"  alertMinEvents: {value}\n",
        )

"""Names shared with the collectors: the buckets and ``le`` labels alert rules read are
the ones the load process and the peak-day collector serve."""

from __future__ import annotations

import importlib

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from collectors.live_metrics import BUCKETS_S
from slo.conventions import (
    CLIENT_LATENCY_BUCKETS_S,
    COLLECT_LAG_BUCKETS_S,
    METRIC_COLLECT_LAG,
    bucket_label,
    burn_alert_name,
    window_rule,
)


def test_the_load_process_serves_the_latency_buckets_of_the_conventions() -> None:
    assert BUCKETS_S is CLIENT_LATENCY_BUCKETS_S


def test_the_collector_serves_the_lag_buckets_of_the_conventions() -> None:
    try:
        collect = importlib.import_module("collectors.collect")
    except ImportError:
        pytest.skip("the peak-day collector (collectors/collect.py) is not there yet")
    assert tuple(collect.LAG_BUCKETS_S) == COLLECT_LAG_BUCKETS_S


def _exposed_le(buckets: tuple[float, ...]) -> set[str]:
    registry = CollectorRegistry()
    Histogram("h_seconds", "h", buckets=buckets, registry=registry).observe(0)
    text = generate_latest(registry).decode()
    return {line.split('le="')[1].split('"')[0] for line in text.splitlines() if 'le="' in line}


@pytest.mark.parametrize(
    "buckets", [CLIENT_LATENCY_BUCKETS_S, COLLECT_LAG_BUCKETS_S], ids=["latency", "lag"]
)
def test_bucket_labels_are_what_prometheus_client_exposes(buckets: tuple[float, ...]) -> None:
    assert _exposed_le(buckets) == {bucket_label(b) for b in buckets} | {"+Inf"}


def test_the_load_process_exposes_the_latency_buckets_with_those_labels() -> None:
    from collectors.live_metrics import _cumulative

    bounds = [bound for bound, *_ in _cumulative([0] * (len(BUCKETS_S) + 1), None)]
    assert bounds == [bucket_label(b) for b in CLIENT_LATENCY_BUCKETS_S] + ["+Inf"]


def test_rule_and_alert_names_follow_the_documented_scheme() -> None:
    assert window_rule("peakops:slo_sli_error:ratio_rate", "5m") == (
        "peakops:slo_sli_error:ratio_rate5m"
    )
    assert burn_alert_name("ticket", "slow") == "PeakopsSLOBurnTicketSlow"
    assert METRIC_COLLECT_LAG == "peakops_collect_convergence_lag_seconds"

"""Live metrics of the load process: OpenMetrics histograms with trace-id exemplars."""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client.openmetrics.exposition import generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from collectors.latency import IntervalRecorder
from collectors.live_metrics import LiveMetrics


def records(
    latencies: list[float], trace: str | None = None, *, fail_every: int = 4
) -> list[dict[str, Any]]:
    """Interval records of ``latencies``; every ``fail_every``-th request (0: none) failed."""
    out: list[dict[str, Any]] = []
    rec = IntervalRecorder(out.append, clock=lambda: 1000.0)
    for i, latency in enumerate(latencies):
        failed = fail_every > 0 and i % fail_every == 0
        rec.record("POST /orders", latency, ok=not failed, trace_id=trace)
    rec.flush(final=True)
    return out


def scrape(metrics: LiveMetrics) -> dict[str, Any]:
    text = generate_latest(metrics.registry()).decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_client_latency_buckets_count_every_successful_request_with_an_exemplar() -> None:
    metrics = LiveMetrics()
    # The first request fails: like the gate, the latency histogram leaves it out.
    for record in records([0.002, 0.004, 0.040, 0.400], trace="ab" * 16):
        metrics.observe_latency(record)
    family = scrape(metrics)["peakops_client_request_duration_seconds"]
    buckets = {s.labels["le"]: s for s in family.samples if s.name.endswith("_bucket")}
    assert buckets["0.0025"].value == 0
    assert buckets["0.005"].value == 1
    assert buckets["0.05"].value == 2
    assert buckets["+Inf"].value == 3
    exemplar = next(s.exemplar for s in buckets.values() if s.exemplar is not None)
    assert exemplar.labels == {"trace_id": "ab" * 16}
    assert abs(exemplar.value - 0.4) < 1e-9


def test_requests_and_arrivals_are_counted() -> None:
    metrics = LiveMetrics()
    for record in records([0.01] * 8):
        metrics.observe_latency(record)
    metrics.observe_load({"arrivals_planned": 10, "arrivals_sent": 9, "arrivals_dropped": 1,
                          "orders_confirmed": 7, "active_max": 3, "source": "load"})  # fmt: skip
    families = scrape(metrics)
    requests = {s.labels["outcome"]: s.value for s in families["peakops_client_requests"].samples
                if s.name.endswith("_total")}  # fmt: skip
    assert requests == {"ok": 6, "fail": 2}
    assert families["peakops_arrivals_dropped"].samples[0].value == 1
    assert families["peakops_journeys_active"].samples[0].value == 3


def test_the_latest_drift_check_is_served_as_gauges() -> None:
    metrics = LiveMetrics()
    assert "peakops_drift_oversell_units" not in scrape(metrics)  # nothing checked yet
    metrics.observe_drift({"oversell_units": 3, "truth_outside_interval": 1,
                           "views_outside_interval": 4, "undersell_false_sold_out": 2,
                           "lag_p50_s": 0.1, "lag_p95_s": 0.4, "lag_p99_s": 0.9,
                           "lag_worst_s": None})  # fmt: skip
    families = scrape(metrics)
    assert families["peakops_drift_oversell_units"].samples[0].value == 3
    samples = families["peakops_drift_observations_outside_interval"].samples
    outside = {s.labels["source"]: s.value for s in samples}
    assert outside == {"truth": 1, "views": 4}
    lag = {s.labels["quantile"]: s.value
           for s in families["peakops_drift_convergence_lag_seconds"].samples}  # fmt: skip
    assert lag == {"0.5": 0.1, "0.95": 0.4, "0.99": 0.9}


def test_buckets_add_up_across_intervals_and_match_the_requests() -> None:
    """Counted per interval as records arrive (a scrape only copies the counters)."""
    metrics = LiveMetrics()
    first = [0.0004] * 30 + [0.003] * 20 + [0.2] * 5
    second = [0.0007] * 10 + [0.07] * 4 + [40.0]
    for record in [*records(first, fail_every=0), *records(second, fail_every=0)]:
        metrics.observe_latency(record)
    family = scrape(metrics)["peakops_client_request_duration_seconds"]
    buckets = {s.labels["le"]: s.value for s in family.samples if s.name.endswith("_bucket")}
    assert buckets["0.001"] == 40 and buckets["0.005"] == 60 and buckets["0.1"] == 64
    assert buckets["0.25"] == 69 and buckets["30.0"] == 69 and buckets["+Inf"] == 70
    (total,) = [s.value for s in family.samples if s.name.endswith("_sum")]
    assert abs(total - sum(first + second)) < 0.01 * sum(first + second)


def test_registered_endpoints_are_served_at_zero_before_their_first_interval() -> None:
    """A counter first scraped at 12 loses those 12 to ``increase()``: start them at 0."""
    metrics = LiveMetrics()
    metrics.register_endpoints(["GET /stock/{sku}", "POST /orders"])
    families = scrape(metrics)
    counts = {s.labels["endpoint"]: s.value
              for s in families["peakops_client_request_duration_seconds"].samples
              if s.name.endswith("_count")}  # fmt: skip
    assert counts == {"GET /stock/{sku}": 0, "POST /orders": 0}
    requests = {(s.labels["endpoint"], s.labels["outcome"]): s.value
                for s in families["peakops_client_requests"].samples
                if s.name.endswith("_total")}  # fmt: skip
    assert set(requests.values()) == {0} and len(requests) == 4
    for record in records([0.01] * 4, fail_every=0):  # counting goes on from zero
        metrics.observe_latency(record)
    metrics.register_endpoints(["POST /orders"])  # registering again keeps the counts
    family = scrape(metrics)["peakops_client_request_duration_seconds"]
    counted = [s.value for s in family.samples if s.name.endswith("_count")]
    assert counted == [0, 4]  # GET /stock/{sku}, POST /orders


def test_each_scrape_is_timed_and_awaited_scrapes_count_from_a_moment() -> None:
    now = [100.0]
    metrics = LiveMetrics(clock=lambda: now[0])
    assert not metrics.scraped
    assert metrics.await_scrapes(100.0, 1, timeout_s=0) is False  # none yet: gives up
    scrape(metrics)
    now[0] = 101.0
    scrape(metrics)
    assert metrics.scraped
    assert metrics.await_scrapes(100.0, 2, timeout_s=0) is True
    assert metrics.await_scrapes(100.5, 1, timeout_s=0) is True
    assert metrics.await_scrapes(100.5, 2, timeout_s=0) is False  # one began since


def test_a_waiting_process_is_woken_by_the_scrape_itself() -> None:
    metrics = LiveMetrics()
    done: list[bool] = []
    waiter = threading.Thread(target=lambda: done.append(metrics.await_scrapes(0.0, 1, 30.0)))
    waiter.start()
    scrape(metrics)
    waiter.join(timeout=30)
    assert done == [True]


def test_each_load_process_cpu_is_served_as_recorded_in_load_jsonl() -> None:
    metrics = LiveMetrics()
    for source, cpu in (("load", 40.0), ("worker-1", 97.5), ("load", 55.0)):
        metrics.observe_load({"arrivals_planned": 1, "arrivals_sent": 1, "arrivals_dropped": 0,
                              "orders_confirmed": 0, "active_max": 1, "source": source,
                              "cpu_percent": cpu})  # fmt: skip
    samples = scrape(metrics)["peakops_load_cpu_percent"].samples
    assert {s.labels["source"]: s.value for s in samples} == {"load": 55.0, "worker-1": 97.5}

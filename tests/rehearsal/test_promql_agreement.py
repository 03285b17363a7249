"""In a real rehearsal with its own Prometheus, the PromQL verdict agrees with the
client-side verdict on the same run (issue #12).

One rehearsal (embedded OMS v1, 15 s of closed-model load: requests go on to the very
end, so the final interval matters; a 2 s network cut between orders and inventory, so
some orders fail) whose plan lists each objective twice, ``source: client`` and
``source: prometheus``: one ``verdict.json`` holds both judgements. While the
rehearsal's Prometheus is still up (after the gate), the raw counter samples of the
load window are read, so the test can say exactly how the figures relate:

* **status**: the same per pair; one pair passes for sure (GET /stock/{sku} p99 under
  10 s), one fails for sure (POST /orders p99 under 1 ms: an order calls inventory
  over HTTP), one is an error ratio (under 50 %, all endpoints).
* **error ratio**: equal within one request of the client's count (the counters are
  exact; ``increase()`` scales both sides of the ratio by the same factor).
* **latency** (resolution): Prometheus knows latency per bucket of
  ``CLIENT_LATENCY_BUCKETS_S`` only; ``histogram_quantile`` interpolates inside the
  bucket holding the percentile. The PromQL p99 equals ``histogram_quantile`` of the
  run directory's own histograms counted per bucket, and lies in the bucket that holds
  the client's HDR p99: the resolution is that bucket's width (25 ms in 25-50 ms, 50 ms
  in 50-100 ms, 150 ms in 100-250 ms). The two ranks differ by under one request
  (HDR takes the ``round(0.99 x n)``-th, PromQL ``0.99 x n``), so when a bucket ends
  between them the PromQL p99 is in the next bucket (seen in CI: client 9.935 ms,
  PromQL 10.42 ms); HDR's 3 significant digits put a value within 0.1 % of a bound.
* **counts**: every request is in Prometheus: in each series, the first sample in
  the window is 0 (endpoints registered at zero, arrivals after two scrapes) and the
  last equals the client's count (the final interval scraped before ``load_finished``).
  The PromQL ``samples`` differ only by ``increase()``'s extrapolation from the last
  scrape to the window's end: ``count x (1 + d / span)``, ``d`` the time from the last
  scrape to ``load_finished`` (well under the 1 s scrape interval), ``span`` first to
  last scrape; asserted to the request (rounding), together with ``d < 1 s``.
"""

from __future__ import annotations

import itertools
import json
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from collectors.latency import merge
from collectors.live_metrics import bucket_counts
from collectors.rundir import RunDir
from rehearsal.monitoring import Monitor, Notice, default_monitor
from rehearsal.run import rehearse
from slo.conventions import CLIENT_LATENCY_BUCKETS_S, METRIC_CLIENT_LATENCY, METRIC_CLIENT_REQUESTS
from slo.loader import load_plan_text
from slo.plan import Plan
from slo.runfiles import LATENCY_FILE, VERDICT_FILE
from tests.rehearsal.kept_up import Inspected

pytestmark = [
    pytest.mark.integration,
    pytest.mark.parallel,  # its pairs are far from their thresholds: load cannot flip them
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="needs the prometheus binary"),
]

ORDERS, STOCK = "POST /orders", "GET /stock/{sku}"

PLAN = """
apiVersion: peakops/v1
name: promql-agreement
target:
  kind: embedded
  omsVersion: v1
  replicas: 1
  catalog: {skus: 200, locations: 2, seed: 42, minStock: 500, maxStock: 1000}
platform: {kind: local}
load:
  profile: constant
  mode: closed
  users: 10
  duration: 15s
  baseline: 720
  channels: {web: 0.5, app: 0.3, marketplace: 0.2}
  cancelRatio: 0.1
  seed: 1
chaos:
  - {experiment: network-cut, offset: 5s, duration: 2s}
slos:
  minSamples: 50
  objectives:
"""

PAIRS: dict[str, tuple[str, str]] = {
    # pair: (objective fields, the status both must give)
    "orders-p99": ("kind: latency, endpoint: POST /orders, percentile: 99, threshold: 1ms",
                   "fail"),
    "stock-p99": ('kind: latency, endpoint: "GET /stock/{sku}", percentile: 99, threshold: 10s',
                  "pass"),
    "errors": ("kind: error_ratio, max: 0.5", "pass"),
}  # fmt: skip


def agreement_plan() -> Plan:
    lines = [
        f"    - {{id: {pair}-{source}, {fields}, during: all, source: {source}}}"
        for pair, (fields, _status) in PAIRS.items()
        for source in ("client", "prometheus")
    ]
    return load_plan_text(PLAN + "\n".join(lines) + "\n", "agreement.yaml")


@dataclass
class Seen:
    """What was read from the rehearsal's Prometheus before it stopped."""

    window: tuple[float, float] | None = None
    series: dict[tuple[str, str], list[tuple[float, float]]] = field(default_factory=dict)
    """(metric, endpoint[/outcome]) -> the raw samples in the load window."""
    error: str | None = None


def _window(run: RunDir) -> tuple[float, float]:
    events = run.events()
    start = next(e["ts"] for e in events if e["type"] == "load_started")
    end = next(e["ts"] for e in events if e["type"] == "load_finished")
    return float(start), float(end)


def _read_raw(seen: Seen) -> Callable[[str, RunDir], None]:
    def inspect(url: str, run: RunDir) -> None:
        try:
            start, end = seen.window = _window(run)
            span = f"{max(1, round((end - start) * 1000))}ms"
            with httpx.Client(base_url=url, trust_env=False, timeout=10) as client:
                for metric in (f"{METRIC_CLIENT_LATENCY}_count", f"{METRIC_CLIENT_REQUESTS}_total"):
                    answer = client.get("/api/v1/query", params={"query": f"{metric}[{span}]",
                                                                 "time": end})  # fmt: skip
                    for series in answer.json()["data"]["result"]:
                        labels = series["metric"]
                        key = "/".join(filter(None, (labels["endpoint"], labels.get("outcome"))))
                        points = [(float(t), float(v)) for t, v in series["values"]]
                        seen.series[(metric, key)] = points
        except Exception as err:  # said after the rehearsal, where pytest shows it
            seen.error = f"{type(err).__name__}: {err}"

    return inspect


@pytest.fixture(scope="module")
def rehearsed(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Seen, RunDir]:
    seen = Seen()
    runs: list[RunDir] = []

    def monitor(plan: Plan, run: RunDir, notice: Notice, hosts: frozenset[str]) -> Monitor:
        runs.append(run)
        return Inspected(default_monitor(plan, run, notice, hosts), run, _read_raw(seen))

    rehearse(agreement_plan(), tmp_path_factory.mktemp("agreement"), monitor=monitor,
             notice=lambda message: None)  # fmt: skip
    (run,) = runs
    assert seen.error is None, seen.error
    verdict = json.loads(run.file(VERDICT_FILE).read_text())
    return {e["slo_id"]: e for e in verdict["evaluations"]}, seen, run


def _increase(points: list[tuple[float, float]], start: float, end: float) -> float:
    """What Prometheus 2's ``increase()`` makes of ``points`` over [start, end]
    (``extrapolatedRate`` in promql/functions.go; no counter resets here)."""
    (t0, v0), (tn, vn) = points[0], points[-1]
    result, sampled = vn - v0, tn - t0
    average = sampled / (len(points) - 1)
    to_start, to_end = t0 - start, end - tn
    if result > 0 and v0 >= 0:
        to_start = min(to_start, sampled * v0 / result)
    interval = sampled
    for gap in (to_start, to_end):
        interval += gap if gap < average * 1.1 else average / 2
    return result * interval / sampled


def test_each_pair_gets_the_same_status_from_both_sources(rehearsed: Any) -> None:
    found, _seen, _run = rehearsed
    for pair, (_fields, status) in PAIRS.items():
        client, promql = found[f"{pair}-client"], found[f"{pair}-prometheus"]
        assert (client["source"], promql["source"]) == ("client", "prometheus")
        assert promql["reason"].startswith("from Prometheus"), promql["reason"]
        assert (client["status"], promql["status"]) == (status, status), (client, promql)


def test_prometheus_holds_every_request_from_zero_to_the_final_interval(rehearsed: Any) -> None:
    found, seen, _run = rehearsed
    latency = f"{METRIC_CLIENT_LATENCY}_count"
    for endpoint, pair in ((ORDERS, "orders-p99"), (STOCK, "stock-p99")):
        points = seen.series[(latency, endpoint)]
        assert points[0][1] == 0, f"{endpoint}: the window's first sample is {points[0]}"
        assert points[-1][1] == found[f"{pair}-client"]["samples"], (endpoint, points[-3:])
    requests = [p for (metric, _), p in seen.series.items() if metric.endswith("_total")]
    assert all(points[0][1] == 0 for points in requests)
    assert sum(points[-1][1] for points in requests) == found["errors-client"]["samples"]


def test_promql_sample_counts_differ_only_by_the_extrapolation_to_the_window_end(
    rehearsed: Any,
) -> None:
    found, seen, _run = rehearsed
    assert seen.window is not None
    start, end = seen.window
    latency = f"{METRIC_CLIENT_LATENCY}_count"
    for endpoint, pair in ((ORDERS, "orders-p99"), (STOCK, "stock-p99")):
        points = seen.series[(latency, endpoint)]
        assert end - points[-1][0] < 1.0, "the last scrape is within a scrape of the end"
        expected = _increase(points, start, end)
        client, promql = found[f"{pair}-client"]["samples"], found[f"{pair}-prometheus"]["samples"]
        assert abs(promql - expected) <= 1, (endpoint, promql, expected, client)
        assert client <= promql <= math.ceil(client * 1.1), (endpoint, client, promql)
    total = sum(
        _increase(p, start, end) for (metric, _), p in seen.series.items()
        if metric.endswith("_total")
    )  # fmt: skip
    assert abs(found["errors-prometheus"]["samples"] - total) <= 1


def test_the_error_ratios_agree_within_one_request(rehearsed: Any) -> None:
    found, _seen, _run = rehearsed
    client, promql = found["errors-client"], found["errors-prometheus"]
    assert client["observed"] > 0, "the network cut failed no order: nothing to compare"
    assert abs(promql["observed"] - client["observed"]) <= 1 / client["samples"], (client, promql)


BOUNDS_MS = [0.0, *(b * 1000 for b in CLIENT_LATENCY_BUCKETS_S), math.inf]


def _cumulative(run: RunDir, endpoint: str) -> list[int]:
    """The run directory's successful requests to ``endpoint`` counted per bucket of
    ``CLIENT_LATENCY_BUCKETS_S``, cumulative, as the load process serves them."""
    latency = merge(run.records(LATENCY_FILE))[endpoint].latency.histogram
    return list(itertools.accumulate(bucket_counts(latency)))


def _histogram_quantile(quantile: float, cumulative: list[int]) -> float:
    """Prometheus's ``histogram_quantile`` (ms) over cumulative bucket counts: linear
    inside the first bucket whose count reaches ``quantile x total``. ``increase()``
    scales every bucket by one factor (same scrapes, all from 0), which cancels."""
    rank = quantile * cumulative[-1]
    index = next(i for i, count in enumerate(cumulative) if count >= rank)
    if index == len(cumulative) - 1:  # the +Inf bucket: its lower bound
        return BOUNDS_MS[index]
    below = cumulative[index - 1] if index else 0
    lower, upper = BOUNDS_MS[index], BOUNDS_MS[index + 1]
    return lower + (upper - lower) * (rank - below) / (cumulative[index] - below)


def _bucket_of(value_ms: float) -> set[int]:
    """The buckets holding ``value_ms``, within HDR's 0.1 % of a bound."""
    return {
        i for i, (lower, upper) in enumerate(itertools.pairwise(BOUNDS_MS))
        if lower * 0.999 < value_ms <= upper * 1.001
    }  # fmt: skip


def _bucket_at(rank: float, cumulative: list[int]) -> int:
    """The bucket holding the ``rank``-th request (the first to count ``rank``)."""
    return next(i for i, count in enumerate(cumulative) if count >= rank)


@pytest.mark.parametrize(("pair", "endpoint"), [("orders-p99", ORDERS), ("stock-p99", STOCK)])
def test_the_promql_p99_is_in_the_bucket_of_the_client_p99(
    rehearsed: Any, pair: str, endpoint: str
) -> None:
    """PromQL's p99 is ``histogram_quantile`` of the recorded buckets, and lies in the
    bucket of the client's HDR p99 -- or the next one, when HDR's rank (the
    ``round(0.99 x n)``-th request) is below PromQL's ``0.99 x n`` and that bucket
    ends between the two."""
    found, _seen, run = rehearsed
    client_ms = found[f"{pair}-client"]["observed"]
    promql_ms = found[f"{pair}-prometheus"]["observed"]
    cumulative = _cumulative(run, endpoint)
    total = cumulative[-1]
    assert total == found[f"{pair}-client"]["samples"]
    assert math.isclose(promql_ms, _histogram_quantile(0.99, cumulative), rel_tol=1e-6)
    hdr_rank = max(1, int(0.99 * total + 0.5))
    hdr_bucket = _bucket_at(hdr_rank, cumulative)
    promql_bucket = _bucket_at(0.99 * total, cumulative)
    assert hdr_bucket in _bucket_of(client_ms), (client_ms, cumulative)
    assert promql_bucket in _bucket_of(promql_ms), (promql_ms, cumulative)
    rounded_down = hdr_rank < 0.99 * total
    assert promql_bucket - hdr_bucket in ((0, 1) if rounded_down else (0,)), (
        client_ms, promql_ms, cumulative,
    )  # fmt: skip
    print(f"{pair}: client {client_ms} ms, PromQL {promql_ms} ms, n {total}, "
          f"buckets {hdr_bucket} / {promql_bucket}")  # fmt: skip

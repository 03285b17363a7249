"""SLO evaluation: pass, fail or inconclusive per objective, from plain run figures."""

from __future__ import annotations

import json

import pytest

from slo.evaluate import Evaluation, Status, evaluate
from slo.objectives import ErrorRatioObjective, LatencyObjective, Objective, ThroughputObjective
from slo.stats import ALL_ENDPOINTS, RunStats
from tests.slo.fakes import endpoint, run_stats

ORDERS = "POST /orders"
ONE_TO_A_HUNDRED = [float(v) for v in range(1, 101)]


def p99(threshold_ms: float, *, at: str = ORDERS, min_samples: int | None = None) -> Objective:
    return LatencyObjective(
        id="p99", endpoint=at, percentile=99, threshold_ms=threshold_ms, min_samples=min_samples
    )


def errors(max_ratio: float, *, min_samples: int | None = None) -> Objective:
    return ErrorRatioObjective(
        id="errors", endpoint=ORDERS, max_ratio=max_ratio, min_samples=min_samples
    )


def throughput(min_ratio: float) -> Objective:
    return ThroughputObjective(id="throughput", min_ratio=min_ratio)


def one(objective: Objective, stats: RunStats, *, default_min_samples: int = 100) -> Evaluation:
    (result,) = evaluate([objective], stats, default_min_samples=default_min_samples)
    return result


CASES = [
    pytest.param(
        p99(250),
        run_stats(),
        Status.INCONCLUSIVE,
        None,
        "no latency recorded for POST /orders",
        id="latency of an endpoint with no data is inconclusive",
    ),
    pytest.param(
        p99(250),
        run_stats(endpoint(ORDERS, requests=12, latencies=[1.0] * 12)),
        Status.INCONCLUSIVE,
        None,
        "only 12 samples for POST /orders, need 100",
        id="latency from too few samples is inconclusive",
    ),
    pytest.param(
        p99(250, min_samples=10),
        run_stats(endpoint(ORDERS, requests=12, latencies=[1.0] * 12)),
        Status.PASS,
        1.0,
        "p99 of POST /orders is 1 ms, under 250 ms",
        id="an objective's own minSamples overrides the plan default",
    ),
    pytest.param(
        p99(250),
        run_stats(endpoint(ORDERS, requests=100, latencies=ONE_TO_A_HUNDRED)),
        Status.PASS,
        99.0,
        "p99 of POST /orders is 99 ms, under 250 ms",
        id="latency under the threshold passes",
    ),
    pytest.param(
        p99(250),
        run_stats(endpoint(ORDERS, requests=100, latencies=[1.0] * 98 + [412.3, 500.0])),
        Status.FAIL,
        412.3,
        "p99 of POST /orders is 412.3 ms, threshold 250 ms",
        id="latency over the threshold fails",
    ),
    pytest.param(
        p99(99),
        run_stats(endpoint(ORDERS, requests=100, latencies=ONE_TO_A_HUNDRED)),
        Status.FAIL,
        99.0,
        "p99 of POST /orders is 99 ms, threshold 99 ms",
        id="latency exactly at the threshold fails because the bound is strict",
    ),
    pytest.param(
        p99(250, at=ALL_ENDPOINTS),
        run_stats(endpoint(ALL_ENDPOINTS, requests=100, latencies=ONE_TO_A_HUNDRED)),
        Status.PASS,
        99.0,
        "p99 of all requests is 99 ms, under 250 ms",
        id="latency of all requests together reads the pseudo-endpoint",
    ),
    pytest.param(
        errors(0.01),
        run_stats(),
        Status.INCONCLUSIVE,
        None,
        "no requests recorded for POST /orders",
        id="error ratio of an endpoint with no data is inconclusive",
    ),
    pytest.param(
        errors(0.01),
        run_stats(endpoint(ORDERS, requests=99, failures=0)),
        Status.INCONCLUSIVE,
        None,
        "only 99 requests to POST /orders, need 100",
        id="error ratio from too few requests is inconclusive",
    ),
    pytest.param(
        errors(0.01),
        run_stats(endpoint(ORDERS, requests=200, failures=2)),
        Status.PASS,
        0.01,
        "error ratio of POST /orders is 1% (2 of 200 failed), max 1%",
        id="error ratio exactly at the maximum passes",
    ),
    pytest.param(
        errors(0.01),
        run_stats(endpoint(ORDERS, requests=200, failures=3)),
        Status.FAIL,
        0.015,
        "error ratio of POST /orders is 1.5% (3 of 200 failed), max 1%",
        id="error ratio above the maximum fails",
    ),
    pytest.param(
        throughput(0.9),
        run_stats(endpoint(ORDERS, requests=90)),
        Status.INCONCLUSIVE,
        None,
        "the plan does not pace POST /orders: nothing to compare with",
        id="throughput of an endpoint the plan does not pace is inconclusive",
    ),
    pytest.param(
        throughput(0.9),
        run_stats(endpoint(ORDERS, requests=90), planned={ORDERS: 0}),
        Status.INCONCLUSIVE,
        None,
        "the plan does not pace POST /orders: nothing to compare with",
        id="throughput against zero planned requests is inconclusive",
    ),
    pytest.param(
        throughput(0.9),
        run_stats(planned={ORDERS: 100}),
        Status.INCONCLUSIVE,
        None,
        "no requests recorded for POST /orders",
        id="throughput with no requests recorded is inconclusive",
    ),
    pytest.param(
        throughput(0.9),
        run_stats(endpoint(ORDERS, requests=90), planned={ORDERS: 100}),
        Status.PASS,
        0.9,
        "POST /orders got 90% of its planned requests (90 of 100), min 90%",
        id="throughput exactly at the minimum passes",
    ),
    pytest.param(
        throughput(0.9),
        run_stats(endpoint(ORDERS, requests=89), planned={ORDERS: 100}),
        Status.FAIL,
        0.89,
        "POST /orders got 89% of its planned requests (89 of 100), min 90%",
        id="throughput below the minimum fails",
    ),
]


@pytest.mark.parametrize(("objective", "stats", "status", "observed", "reason"), CASES)
def test_an_objective_is_judged_on_the_recorded_figures(
    objective: Objective, stats: RunStats, status: Status, observed: float | None, reason: str
) -> None:
    result = one(objective, stats)
    assert (result.status, result.observed, result.reason) == (status, observed, reason)


def test_an_evaluation_carries_the_objective_threshold_unit_and_samples() -> None:
    stats = run_stats(endpoint(ORDERS, requests=100, latencies=ONE_TO_A_HUNDRED))
    assert one(p99(250), stats) == Evaluation(
        slo_id="p99",
        kind="latency",
        endpoint=ORDERS,
        status=Status.PASS,
        observed=99.0,
        threshold=250.0,
        unit="ms",
        samples=100,
        reason="p99 of POST /orders is 99 ms, under 250 ms",
    )


def test_evaluations_come_back_in_objective_order() -> None:
    stats = run_stats(endpoint(ORDERS, requests=200, failures=0, latencies=ONE_TO_A_HUNDRED))
    results = evaluate([errors(0.01), p99(250), throughput(0.5)], stats, default_min_samples=1)
    assert [r.slo_id for r in results] == ["errors", "p99", "throughput"]


def test_an_evaluation_round_trips_through_json() -> None:
    stats = run_stats(endpoint(ORDERS, requests=200, failures=3))
    result = one(errors(0.01), stats)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["status"] == "fail"
    assert Evaluation.from_dict(data) == result

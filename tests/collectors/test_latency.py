"""The interval recorder: what it writes per interval, and that intervals merge exactly."""

from __future__ import annotations

import random
from typing import Any

from collectors.latency import HdrDistribution, IntervalRecorder, merge


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def recorder(clock: FakeClock) -> tuple[IntervalRecorder, list[dict[str, Any]]]:
    out: list[dict[str, Any]] = []
    return IntervalRecorder(out.append, clock=clock), out


def test_an_interval_is_written_once_it_closes_with_counts_per_endpoint() -> None:
    clock = FakeClock(1000.2)
    rec, out = recorder(clock)
    rec.record("POST /orders", 0.010, ok=True)
    rec.record("POST /orders", 0.020, ok=False)
    rec.record("GET /stock/{sku}", 0.001, ok=True)
    assert out == []  # the interval is still open
    clock.now = 1001.1
    rec.flush()
    by_endpoint = {r["endpoint"]: r for r in out}
    assert set(by_endpoint) == {"POST /orders", "GET /stock/{sku}"}
    assert (by_endpoint["POST /orders"]["ok"], by_endpoint["POST /orders"]["fail"]) == (1, 1)
    assert by_endpoint["POST /orders"]["t"] == 1000.0


def test_a_request_in_a_new_interval_closes_the_previous_one() -> None:
    clock = FakeClock(1000.0)
    rec, out = recorder(clock)
    rec.record("POST /orders", 0.010, ok=True)
    clock.now = 1002.5
    rec.record("POST /orders", 0.010, ok=True)
    assert [r["t"] for r in out] == [1000.0]
    rec.flush(final=True)
    assert [r["t"] for r in out] == [1000.0, 1002.0]


def test_latency_keeps_three_significant_digits_in_milliseconds() -> None:
    clock = FakeClock()
    rec, out = recorder(clock)
    rec.record("POST /orders", 0.123456, ok=True)
    rec.flush(final=True)
    dist = merge(out)["POST /orders"][2]
    assert abs(dist.value_at_percentile(100) - 123.456) / 123.456 < 1e-3


def test_histograms_from_two_processes_merge_to_the_same_figures_as_one() -> None:
    rng = random.Random(7)
    samples = [rng.lognormvariate(-4, 1) for _ in range(5000)]
    clock = FakeClock()
    one, out_one = recorder(clock)
    a, out_a = recorder(clock)
    b, out_b = recorder(clock)
    for i, s in enumerate(samples):
        one.record("POST /orders", s, ok=i % 10 != 0)
        (a if i % 2 else b).record("POST /orders", s, ok=i % 10 != 0)
    for r in (one, a, b):
        r.flush(final=True)
    ok1, fail1, d1 = merge(out_one)["POST /orders"]
    ok2, fail2, d2 = merge(out_a + out_b)["POST /orders"]
    assert (ok1, fail1) == (ok2, fail2) == (4500, 500)
    assert d1.total_count == d2.total_count == 5000
    for pct in (50, 95, 99, 99.9, 100):
        assert d1.value_at_percentile(pct) == d2.value_at_percentile(pct)


def test_an_empty_distribution_reports_zero_samples() -> None:
    assert HdrDistribution().total_count == 0


def test_the_slowest_traced_request_of_an_interval_is_its_exemplar() -> None:
    clock = FakeClock()
    rec, out = recorder(clock)
    rec.record("POST /orders", 0.010, ok=True, trace_id="a" * 32)
    rec.record("POST /orders", 0.500, ok=True)  # slowest, but not traced
    rec.record("POST /orders", 0.090, ok=True, trace_id="b" * 32)
    rec.flush(final=True)
    assert out[0]["exemplar"] == {"trace_id": "b" * 32, "latency_s": 0.090}

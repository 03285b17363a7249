"""The fake latency distribution behaves like a nearest-rank percentile."""

from __future__ import annotations

import pytest

from tests.slo.fakes import SortedLatencies


@pytest.mark.parametrize(
    ("percentile", "expected"),
    [(50, 50.0), (99, 99.0), (100, 100.0), (0.1, 1.0)],
    ids=["median", "p99", "p100 is the max", "a tiny percentile is the min"],
)
def test_nearest_rank_percentiles_of_one_to_a_hundred(percentile: float, expected: float) -> None:
    latencies = SortedLatencies.of([float(v) for v in range(100, 0, -1)])
    assert latencies.total_count == 100
    assert latencies.value_at_percentile(percentile) == expected

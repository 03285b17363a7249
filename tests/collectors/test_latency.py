"""The interval recorder: what it writes per interval, and that intervals merge exactly.

Also how the gate reads the records back (``collectors.summary``): successful and
failed requests apart, and records written before they were kept apart.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from collectors.latency import (
    HdrDistribution,
    IntervalRecorder,
    RecordedEndpoint,
    decode_histogram,
    merge,
    new_histogram,
)
from collectors.rundir import RunDir
from collectors.summary import endpoint_summaries, run_stats
from collectors.timeline import read_timeline
from slo.runfiles import LATENCY_FILE
from slo.stats import ALL_ENDPOINTS
from slo.timeline import window_stats


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


def test_a_sink_that_lets_others_record_meanwhile_writes_each_interval_once() -> None:
    """Under gevent the sink may yield (a lock held by a scrape); a request recorded
    meanwhile goes into the next interval, and the closed one is not written twice."""
    clock = FakeClock(1000.2)
    out: list[dict[str, Any]] = []

    def yielding_sink(record: dict[str, Any]) -> None:
        out.append(record)
        if len(out) == 1:
            rec.record("POST /orders", 0.030, ok=True)  # another greenlet, same second

    rec = IntervalRecorder(yielding_sink, clock=clock)
    rec.record("POST /orders", 0.010, ok=True)
    rec.record("GET /stock/{sku}", 0.001, ok=True)
    clock.now = 1001.1
    rec.record("POST /orders", 0.020, ok=True)
    rec.flush(final=True)
    written = sorted((r["t"], r["endpoint"], r["ok"]) for r in out)
    assert written == [
        (1000.0, "GET /stock/{sku}", 1), (1000.0, "POST /orders", 1), (1001.0, "POST /orders", 2),
    ]  # fmt: skip


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
    ok1, fail1, d1, f1, errors1 = merge(out_one)["POST /orders"]
    ok2, fail2, d2, f2, errors2 = merge(out_a + out_b)["POST /orders"]
    assert (ok1, fail1) == (ok2, fail2) == (4500, 500)
    assert d1.total_count == d2.total_count == 4500
    assert f1 is not None and f2 is not None
    assert f1.total_count == f2.total_count == 500
    assert errors1 == errors2 == {"unknown": 500}
    for pct in (50, 95, 99, 99.9, 100):
        assert d1.value_at_percentile(pct) == d2.value_at_percentile(pct)
        assert f1.value_at_percentile(pct) == f2.value_at_percentile(pct)


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


def test_a_failed_traced_request_is_not_the_exemplar() -> None:
    clock = FakeClock()
    rec, out = recorder(clock)
    rec.record("POST /orders", 0.010, ok=True, trace_id="a" * 32)
    rec.record("POST /orders", 2.000, ok=False, trace_id="b" * 32, error="TimeoutError")
    rec.flush(final=True)
    assert out[0]["exemplar"] == {"trace_id": "a" * 32, "latency_s": 0.010}


def counts(encoded: str) -> int:
    return int(decode_histogram(encoded).get_total_count())


def test_failed_requests_go_into_their_own_histogram_counted_by_reason() -> None:
    clock = FakeClock()
    rec, out = recorder(clock)
    rec.record("POST /orders", 0.020, ok=True)
    rec.record("POST /orders", 0.001, ok=False, error="ConnectionRefusedError")
    rec.record("POST /orders", 0.002, ok=False, error="ConnectionRefusedError")
    rec.record("POST /orders", 5.000, ok=False, error="HTTP 503")
    rec.flush(final=True)
    (record,) = out
    assert (record["ok"], record["fail"]) == (1, 3)
    assert counts(record["hist"]) == 1 and counts(record["hist_fail"]) == 3
    assert decode_histogram(record["hist"]).get_min_value() >= 19_000  # the 20 ms one only
    assert record["errors"] == {"ConnectionRefusedError": 2, "HTTP 503": 1}
    assert sum(record["errors"].values()) == record["fail"]


def test_an_interval_without_failures_has_an_empty_failure_histogram_and_no_errors() -> None:
    clock = FakeClock()
    rec, out = recorder(clock)
    rec.record("GET /stock/{sku}", 0.003, ok=True)
    rec.flush(final=True)
    (record,) = out
    assert counts(record["hist_fail"]) == 0
    assert "errors" not in record


def test_an_interval_where_everything_failed_has_an_empty_latency_histogram() -> None:
    clock = FakeClock()
    rec, out = recorder(clock)
    for _ in range(5):
        rec.record("GET /stock/{sku}", 0.001, ok=False, error="ConnectionRefusedError")
    rec.flush(final=True)
    (record,) = out
    assert counts(record["hist"]) == 0 and counts(record["hist_fail"]) == 5
    merged = merge(out)["GET /stock/{sku}"]
    assert merged.latency.total_count == 0
    assert merged.failed is not None and merged.failed.total_count == 5


def old_record(endpoint: str, ok_ms: list[float], fail_ms: list[float]) -> dict[str, Any]:
    """A record as written before ``hist_fail``: every request in ``hist``."""
    hist = new_histogram()
    for ms in ok_ms + fail_ms:
        hist.record_value(int(ms * 1000))
    return {"t": 1000.0, "interval_s": 1.0, "endpoint": endpoint, "ok": len(ok_ms),
            "fail": len(fail_ms), "source": "load", "hist": hist.encode().decode()}  # fmt: skip


def test_records_from_before_hist_fail_merge_with_every_request_in_the_latency() -> None:
    merged = merge([old_record("POST /orders", [10.0] * 9, [1.0])])["POST /orders"]
    assert (merged.ok, merged.fail) == (9, 1)
    assert merged.latency.total_count == 10
    assert merged.failed is None and merged.errors == {}


def write_latency(tmp_path: Path, records: list[dict[str, Any]]) -> RunDir:
    run = RunDir(tmp_path)
    appender = run.appender(LATENCY_FILE)
    for record in records:
        appender.append(record)
    return run


def new_records(ok_ms: list[float], failed: list[tuple[float, str]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    rec = IntervalRecorder(out.append, clock=FakeClock())
    for ms in ok_ms:
        rec.record("POST /orders", ms / 1000, ok=True)
    for ms, error in failed:
        rec.record("POST /orders", ms / 1000, ok=False, error=error)
    rec.flush(final=True)
    return out


def test_the_gate_judges_latency_on_successful_requests_and_reports_failures_apart(
    tmp_path: Path,
) -> None:
    failed = [(1.0, "ConnectionRefusedError")] * 30 + [(3000.0, "TimeoutError")] * 2
    run = write_latency(tmp_path, new_records([100.0] * 68, failed))
    stats, _ = run_stats(run, read_timeline([]))
    orders = stats.endpoints["POST /orders"]
    assert (orders.requests, orders.failures) == (100, 32)
    assert orders.latency.total_count == 68  # successful requests only: "only N samples"
    assert 99.9 < orders.latency.value_at_percentile(1) <= 100.1  # no 1 ms refusal in there
    assert isinstance(orders, RecordedEndpoint) and orders.failed_latency is not None
    assert orders.failed_latency.total_count == 32
    summary = {s.endpoint: s.to_dict() for s in endpoint_summaries(stats)}
    line = summary["POST /orders"]
    assert 99.9 < line["p50_ms"] <= 100.1 and 99.9 < line["max_ms"] <= 100.1
    assert 0.99 < line["failed_p50_ms"] <= 1.01
    assert 2990 < line["failed_p99_ms"] <= 3010
    assert line["errors"] == {"ConnectionRefusedError": 30, "TimeoutError": 2}
    assert summary[ALL_ENDPOINTS]["errors"] == line["errors"]


def test_the_gate_still_reads_a_run_recorded_before_failures_were_kept_apart(
    tmp_path: Path,
) -> None:
    run = write_latency(tmp_path, [old_record("POST /orders", [10.0] * 9, [1.0])])
    stats, _ = run_stats(run, read_timeline([]))
    orders = stats.endpoints["POST /orders"]
    assert (orders.requests, orders.failures, orders.latency.total_count) == (10, 1, 10)
    assert stats.timeline is not None
    (second,) = stats.timeline.of("POST /orders")
    assert second.latency.total_count == 10
    line = next(s.to_dict() for s in endpoint_summaries(stats) if s.endpoint == "POST /orders")
    assert line["failed_p99_ms"] is None and line["errors"] == {}


@pytest.mark.parametrize(
    ("ok", "failed", "samples"),
    [
        pytest.param(5, 0, 5, id="an interval without failures holds every request"),
        pytest.param(5, 3, 5, id="an interval with failures holds only the successful ones"),
        pytest.param(0, 3, 0, id="an interval where all failed holds no latency sample"),
    ],
)
def test_each_interval_of_the_timeline_counts_its_successful_requests_as_latency_samples(
    tmp_path: Path, ok: int, failed: int, samples: int
) -> None:
    run = write_latency(tmp_path, new_records([5.0] * ok, [(1.0, "HTTP 503")] * failed))
    stats, _ = run_stats(run, read_timeline([]))
    assert stats.timeline is not None
    (second,) = stats.timeline.of("POST /orders")
    assert (second.requests, second.failures) == (ok + failed, failed)
    assert second.latency.total_count == samples


def test_a_window_where_every_request_failed_does_not_read_as_fast(tmp_path: Path) -> None:
    """Recovery judges windows of intervals: no successful request is no latency, not 0 ms."""
    run = write_latency(tmp_path, new_records([], [(1.0, "ConnectionRefusedError")] * 20))
    stats, _ = run_stats(run, read_timeline([]))
    assert stats.timeline is not None
    seconds = stats.timeline.of("POST /orders")
    assert seconds[0].latency.value_at_percentile(99) == math.inf
    figures = window_stats(stats.timeline, "POST /orders", seconds)
    assert figures.requests == 20 and figures.latency.total_count == 0
    assert figures.latency.value_at_percentile(99) == math.inf
    assert HdrDistribution().value_at_percentile(50) == math.inf


def test_an_endpoint_where_every_request_failed_is_reported_in_valid_json(tmp_path: Path) -> None:
    run = write_latency(tmp_path, new_records([], [(1.0, "ConnectionRefusedError")] * 20))
    stats, _ = run_stats(run, read_timeline([]))
    line = next(s.to_dict() for s in endpoint_summaries(stats) if s.endpoint == "POST /orders")
    json.dumps(line, allow_nan=False)  # no Infinity in verdict.json
    assert line["p99_ms"] == 0.0 and line["failures"] == 20
    assert 0.99 < line["failed_p99_ms"] <= 1.01


@pytest.mark.parametrize(
    ("latencies_s", "flushes"),
    [
        ([random.Random(1).lognormvariate(-6, 1.5) for _ in range(5000)], 0),
        ([random.Random(2).lognormvariate(-6, 1.5) for _ in range(5000)], 3),
        ([0.0, -1.0, 1e-7, 0.5, 4000.0, 0.000123, 0.000123, 3599.9], 1),
    ],
    ids=[
        "a batch of successful requests builds the histogram one record per request would",
        "flushes inside the interval change nothing in the histogram",
        "latencies out of range are clamped as one record per request would",
    ],
)
def test_batched_latencies_give_exactly_the_per_request_histogram(
    latencies_s: list[float], flushes: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("collectors.latency.FOLD_AT", 100)  # flushes add their batches
    clock = FakeClock(1000.0)
    rec, out = recorder(clock)
    expected = new_histogram()
    every = max(1, len(latencies_s) // (flushes + 1))
    for number, latency in enumerate(latencies_s, 1):
        rec.record("GET /", latency, ok=True)
        expected.record_value(min(max(int(latency * 1_000_000), 1), 3_600_000_000))
        if flushes and number % every == 0:
            rec.flush()  # the interval is still open: adds the batch so far
    rec.flush(final=True)
    (record,) = out
    got = decode_histogram(record["hist"])
    assert record["ok"] == len(latencies_s)
    assert got.encode() == expected.encode()
    assert (got.get_min_value(), got.get_max_value()) == (
        expected.get_min_value(),
        expected.get_max_value(),
    )

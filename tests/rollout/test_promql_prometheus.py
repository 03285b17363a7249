"""The gate's Prometheus source against a real Prometheus scraping the load process's
collector: it agrees with the gate's own judgement of the same requests.

One recording for the module: every request goes both into the run directory (the
real ``IntervalRecorder``) and into the exporter (the real ``LiveMetrics``), so the
client-side gate and the PromQL one judge the same numbers. Latency buckets are those
of ``CLIENT_LATENCY_BUCKETS_S``: PromQL latencies are exact only to the bucket that
holds them (here 100-250 ms and 250-500 ms wide), the resolution the test asserts.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app
from collectors.latency import IntervalRecorder, new_histogram
from collectors.rundir import RunDir
from rollout.gate import GateResult, gate_run
from rollout.promql_gate import PromSource
from slo.conventions import CLIENT_LATENCY_BUCKETS_S
from slo.loader import load_plan_text
from slo.plan import Plan, plan_snapshot
from slo.runfiles import EVENTS_FILE, LATENCY_FILE, LOAD_FILE, SUMMARY_FILE, VERDICT_FILE
from tests.rollout.promserver import PROMETHEUS, running_prometheus

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(PROMETHEUS is None, reason="needs the prometheus binary (make setup)"),
]

ORDERS, GET_ORDER, STOCK = "POST /orders", "GET /orders/{id}", "GET /stock/{sku}"
NAN_ENDPOINT = "GET /nan"

JUDGED = """
apiVersion: peakops/v1
target: {kind: embedded}
load: {duration: 10s, profile: constant, baseline: 600}
slos:
  minSamples: 20
  objectives:
    - {id: lat-pass, kind: latency, endpoint: POST /orders, percentile: 99, threshold: 250ms}
    - {id: lat-fail, kind: latency, endpoint: "GET /orders/{id}", percentile: 95,
       threshold: 100ms}
    - {id: err-pass, kind: error_ratio, endpoint: POST /orders, max: 0.05}
    - {id: err-fail, kind: error_ratio, endpoint: "GET /orders/{id}", max: 0.01}
"""

NO_DATA = """
apiVersion: peakops/v1
target: {kind: embedded}
load: {duration: 10s, profile: constant, baseline: 600}
slos:
  minSamples: 20
  objectives:
    - {id: zero, kind: latency, endpoint: "GET /stock/{sku}", percentile: 99, threshold: 250ms}
    - {id: empty, kind: error_ratio, endpoint: "POST /orders/{id}/cancel", max: 0.01}
    - {id: nan, kind: error_ratio, endpoint: GET /nan, max: 0.01}
"""


@dataclass(frozen=True)
class Recorded:
    run: RunDir
    url: str
    start: float
    end: float


def _requests() -> Iterator[tuple[str, float, bool]]:
    """POST /orders: 1000 requests, 20-219 ms, 2 % failed (p99 ~217 ms).
    GET /orders/{id}: 500 requests, 80 % at 30 ms, 20 % at 300-399 ms, 10 % failed."""
    for i in range(1000):
        yield ORDERS, (20 + i % 200) / 1000, i % 50 != 0
    for i in range(500):
        slow = i % 5 == 0
        yield GET_ORDER, (300 + i % 100) / 1000 if slow else 0.030, i % 10 != 3


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    work = tmp_path_factory.mktemp("promql")
    with running_prometheus(work, NAN_ENDPOINT) as prometheus:
        # Every series exists at zero before the run, as the load process's do after
        # its first interval: increase() then sees the whole count.
        for endpoint in (ORDERS, GET_ORDER, STOCK):
            empty = new_histogram().encode().decode()
            prometheus.live.observe_latency({"endpoint": endpoint, "ok": 0, "fail": 0,
                                             "hist": empty})  # fmt: skip
        prometheus.scraped_after(0.0)
        start = time.time()
        prometheus.scraped_after(start)  # a zero sample inside the window
        plan = load_plan_text(JUDGED, "judged.yaml")
        run = RunDir.create(work, "run", plan=plan_snapshot(plan), git_sha=None)
        now = [start]
        with run.appender(LATENCY_FILE) as out:

            def both(record: dict[str, Any]) -> None:
                out.append(record)
                prometheus.live.observe_latency(record)

            recorder = IntervalRecorder(both, clock=lambda: now[0])
            for n, (endpoint, latency_s, ok) in enumerate(_requests()):
                now[0] = start + n / 1500
                recorder.record(endpoint, latency_s, ok)
            recorder.flush(final=True)
        end = prometheus.scraped_after(time.time())
        _finish(run, start, end)
        yield Recorded(run, prometheus.url, start, end)


def _finish(run: RunDir, start: float, end: float) -> None:
    with run.appender(LOAD_FILE) as load:
        load.append({"t": start, "interval_s": 1.0, "source": "load", "arrivals_planned": 1500,
                     "arrivals_sent": 1500, "arrivals_dropped": 0, "orders_confirmed": 980,
                     "active_max": 1, "cpu_percent": 20.0,
                     "planned": {ORDERS: 1000, GET_ORDER: 500}})  # fmt: skip
    with run.appender(EVENTS_FILE) as events:
        events.append({"type": "load_started", "ts": start})
        events.append({"type": "load_finished", "ts": end})
    run.finish("completed")


def _by_id(result: GateResult) -> dict[str, Any]:
    return {e.slo_id: e for e in result.verdict.evaluations}


def _plan(text: str) -> Plan:
    return load_plan_text(text, "plan.yaml")


def test_promql_passes_and_fails_the_same_slos_as_the_run_directory(recorded: Recorded) -> None:
    plan = _plan(JUDGED)
    client = _by_id(gate_run(recorded.run, plan))
    promql = _by_id(gate_run(recorded.run, plan, PromSource(recorded.url)))
    expected = {"lat-pass": "pass", "lat-fail": "fail", "err-pass": "pass", "err-fail": "fail"}
    assert {k: client[k].status.value for k in expected} == expected
    assert {k: promql[k].status.value for k in expected} == expected
    for slo_id in expected:
        assert promql[slo_id].reason.startswith("from Prometheus"), promql[slo_id].reason
    # error ratios from counters are exact: 20 of 1000 and 50 of 500 failed
    assert promql["err-pass"].observed == pytest.approx(0.02)
    assert promql["err-fail"].observed == pytest.approx(0.10)
    assert promql["err-fail"].samples == client["err-fail"].samples == 500


def _bucket(value_ms: float) -> tuple[float, float]:
    bounds = [0.0, *(b * 1000 for b in CLIENT_LATENCY_BUCKETS_S)]
    for lower, upper in itertools.pairwise(bounds):
        if lower < value_ms <= upper:
            return lower, upper
    return bounds[-1], float("inf")


@pytest.mark.parametrize(
    ("slo_id", "bucket"),
    [("lat-pass", (100.0, 250.0)), ("lat-fail", (250.0, 500.0))],
    ids=["p99 of ~217 ms is read within its 100-250 ms bucket",
         "p95 of ~380 ms is read within its 250-500 ms bucket"],
)  # fmt: skip
def test_a_promql_latency_is_within_the_bucket_of_the_true_value(
    recorded: Recorded, slo_id: str, bucket: tuple[float, float]
) -> None:
    plan = _plan(JUDGED)
    true_ms = _by_id(gate_run(recorded.run, plan))[slo_id].observed
    read_ms = _by_id(gate_run(recorded.run, plan, PromSource(recorded.url)))[slo_id].observed
    assert _bucket(true_ms) == bucket
    assert bucket[0] < read_ms <= bucket[1], (read_ms, true_ms)


@pytest.mark.parametrize(
    ("slo_id", "why"),
    [("zero", "zero traffic"), ("empty", "empty result"), ("nan", "NaN for")],
    ids=["a series that never grew is zero traffic",
         "an endpoint never scraped is an empty result",
         "a NaN counter is NaN, never a pass"],
)  # fmt: skip
def test_no_data_from_prometheus_is_inconclusive_with_the_reason(
    recorded: Recorded, slo_id: str, why: str
) -> None:
    result = gate_run(recorded.run, _plan(NO_DATA), PromSource(recorded.url))
    evaluation = _by_id(result)[slo_id]
    assert evaluation.status.value == "inconclusive"
    assert why in evaluation.reason, evaluation.reason
    assert (result.verdict.status.value, result.verdict.exit_code) == ("inconclusive", 4)


def test_the_gate_command_reads_prometheus_and_says_so_in_every_file(
    recorded: Recorded, tmp_path: Path
) -> None:
    plan_file = tmp_path / "judged.yaml"
    plan_file.write_text(JUDGED)
    args = ["gate", str(recorded.run.path), "--plan", str(plan_file),
            "--prometheus-url", recorded.url, "--output", "json"]  # fmt: skip
    outcome = CliRunner().invoke(app, args)
    assert outcome.exit_code == 1, outcome.output
    sources = {e["slo_id"]: e["source"] for e in json.loads(outcome.stdout)["evaluations"]}
    assert sources["lat-pass"] == sources["err-fail"] == "prometheus"
    assert sources["load-generator"] == "client"  # judged from the run directory alone
    written = json.loads(recorded.run.file(VERDICT_FILE).read_text())
    assert {e["slo_id"]: e["source"] for e in written["evaluations"]} == sources
    assert "from Prometheus" in recorded.run.file(SUMMARY_FILE).read_text()

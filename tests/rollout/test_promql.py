"""The gate's Prometheus source without a Prometheus: routing, no-data reasons, an
unreachable server (exit 3), the host allowlist, and the queries it sends."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from cli import app
from collectors.latency import IntervalRecorder
from collectors.rundir import RunDir
from rollout.gate import GateResult, gate_run
from rollout.promql import PromClient, QueryRejected, prometheus_url
from rollout.promql_gate import PromSource
from slo.errors import InfraError, UsageError
from slo.hosts import ALLOWED_HOSTS_ENV
from slo.loader import load_plan_text
from slo.plan import Plan, plan_snapshot
from slo.promql import error_ratio_sli, events_expr, latency_sli, quantile_expr, sli_expr
from slo.runfiles import EVENTS_FILE, LATENCY_FILE, LOAD_FILE, VERDICT_FILE
from tests.rollout.promserver import free_port

PLAN = """
apiVersion: peakops/v1
target: {kind: embedded}
load: {duration: 10s, profile: constant, baseline: 600}
slos:
  minSamples: 20
  objectives:
    - {id: p99, kind: latency, endpoint: POST /orders, percentile: 99, threshold: 250ms}
    - {id: errors, kind: error_ratio, max: 0.05}
"""
URL = "http://127.0.0.1:9"
Handler = Callable[[str], Any]


def record_run(
    tmp_path: Path, plan_text: str = PLAN, *, fail_every: int = 0
) -> tuple[RunDir, Plan]:
    """100 requests to POST /orders at 20 ms over 10 s from t=1000 (fast, few failures)."""
    plan = load_plan_text(plan_text, "test.yaml")
    run = RunDir.create(tmp_path, "run-1", plan=plan_snapshot(plan), git_sha=None)
    now = [1000.0]
    with run.appender(LATENCY_FILE) as out:
        recorder = IntervalRecorder(out.append, clock=lambda: now[0])
        for n in range(100):
            now[0] = 1000.0 + n / 10
            recorder.record("POST /orders", 0.020, ok=not (fail_every and n % fail_every == 0))
        recorder.flush(final=True)
    with run.appender(LOAD_FILE) as load:
        load.append({"t": 1000.0, "interval_s": 10.0, "source": "load", "arrivals_planned": 100,
                     "arrivals_sent": 100, "arrivals_dropped": 0, "orders_confirmed": 100,
                     "active_max": 1, "cpu_percent": 20.0,
                     "planned": {"POST /orders": 100}})  # fmt: skip
    with run.appender(EVENTS_FILE) as events:
        events.append({"type": "load_started", "ts": 1000.0})
        events.append({"type": "load_finished", "ts": 1010.0})
    run.finish("completed")
    return run, plan


def prometheus(answer: Handler, seen: list[dict[str, str]] | None = None) -> PromSource:
    """A fake Prometheus: ``answer(query)`` gives the vector's values (or a Response)."""

    def handle(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        if seen is not None:
            seen.append(params)
        value = answer(params["query"])
        if isinstance(value, httpx.Response):
            return value
        result = [] if value is None else [{"metric": {}, "value": [params["time"], value]}]
        body = {"status": "success", "data": {"resultType": "vector", "result": result}}
        return httpx.Response(200, json=body)

    return PromSource(URL, transport=httpx.MockTransport(handle))


def healthy(query: str) -> str:
    """What a Prometheus that scraped the run would say: 100 requests, 2 % failed."""
    if query.startswith("histogram_quantile"):
        return "0.0245"
    if query.startswith("sum(increase("):
        return "100"
    return "0.02" if "fail" in query else "0"


def by_id(result: GateResult) -> dict[str, Any]:
    return {e.slo_id: e for e in result.verdict.evaluations}


def test_the_queries_are_the_recording_rules_expressions_over_the_run_window(
    tmp_path: Path,
) -> None:
    run, plan = record_run(tmp_path)
    seen: list[dict[str, str]] = []
    result = gate_run(run, plan, prometheus(healthy, seen))
    assert result.verdict.status.value == "pass"
    p99, errors = plan.slos.objectives
    assert isinstance(p99, type(p99)) and p99.kind == "latency" and errors.kind == "error_ratio"
    latency, ratio = latency_sli(p99), error_ratio_sli(errors)  # type: ignore[arg-type]
    assert [s["query"] for s in seen] == [
        events_expr(latency, "10000ms"), sli_expr(latency, "10000ms", "increase"),
        quantile_expr(0.99, latency, "10000ms"),
        events_expr(ratio, "10000ms"), sli_expr(ratio, "10000ms", "increase"),
    ]  # fmt: skip
    assert {s["time"] for s in seen} == {"1010.000"}  # the end of the load window


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (lambda q: None, "empty result for `sum(increase(peakops_client_request_duration"),
        (lambda q: "NaN", "NaN for `sum(increase("),
        (lambda q: "0", "zero traffic: Prometheus counted no successful requests to POST /orders"),
        (lambda q: "NaN" if q.startswith("histogram_quantile") else healthy(q),
         "NaN for `histogram"),
        (lambda q: httpx.Response(400, json={"status": "error", "errorType": "bad_data",
                                             "error": "parse error"}),
         "refused the query (bad_data)"),
    ],
    ids=["an empty result is inconclusive", "NaN events are inconclusive",
         "zero traffic is inconclusive", "a NaN quantile is inconclusive",
         "a refused query is inconclusive"],
)  # fmt: skip
def test_no_data_is_inconclusive_with_the_reason_never_a_pass(
    tmp_path: Path, answer: Handler, why: str
) -> None:
    run, plan = record_run(tmp_path)
    result = gate_run(run, plan, prometheus(answer))
    p99 = by_id(result)["p99"]
    assert p99.status.value == "inconclusive" and p99.observed is None
    assert why in p99.reason, p99.reason
    assert result.verdict.status.value == "inconclusive" and result.verdict.exit_code == 4


def test_an_unreachable_prometheus_is_inconclusive_and_exits_3(tmp_path: Path) -> None:
    run, _plan = record_run(tmp_path)
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    outcome = CliRunner().invoke(app, ["gate", str(run.path), "--prometheus-url", url])
    assert outcome.exit_code == 3, outcome.output
    verdict = json.loads(run.file(VERDICT_FILE).read_text())
    assert verdict["status"] == "inconclusive" and verdict["exit_code"] == 3
    promql = [e for e in verdict["evaluations"] if e["source"] == "prometheus"]
    assert {e["slo_id"] for e in promql} == {"p99", "errors"}
    assert all(e["status"] == "inconclusive" and "unreachable" in e["reason"] for e in promql)
    assert verdict["reasons"][0].startswith(f"prometheus at {url} is unreachable")


def test_a_known_breach_outranks_an_unreachable_prometheus(tmp_path: Path) -> None:
    text = PLAN.replace("max: 0.05}", "max: 0.05, source: client}")
    run, plan = record_run(tmp_path, text, fail_every=5)  # 20 % failed, judged client-side
    result = gate_run(run, plan, PromSource(f"http://127.0.0.1:{free_port()}"))
    assert by_id(result)["errors"].status.value == "fail"
    assert by_id(result)["p99"].status.value == "inconclusive"
    assert (result.verdict.status.value, result.verdict.exit_code) == ("fail", 1)


def test_a_server_error_or_a_timeout_is_unreachable() -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        if "slow" in request.url.params["query"]:
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(503, text="down")

    with PromClient(URL, timeout_s=0.5, transport=httpx.MockTransport(fail)) as client:
        with pytest.raises(InfraError, match="answered HTTP 503"):
            client.instant("up", 1.0)
        with pytest.raises(InfraError, match=r"did not answer within 0\.5 s"):
            client.instant("slow", 1.0)


def test_a_malformed_answer_is_a_refused_query_not_a_value() -> None:
    body = {"status": "success", "data": {"resultType": "matrix", "result": []}}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=body))
    with PromClient(URL, transport=transport) as client, pytest.raises(QueryRejected):
        client.instant("up", 1.0)


@pytest.mark.parametrize(
    ("url", "hosts", "message"),
    [
        ("http://prom.example.com:9090", (), "'prom.example.com' is not allowed by the operator"),
        ("http://10.0.0.5:9090", ("prom.example.com",), "host '10.0.0.5' is not allowed"),
        ("http://user:secret@127.0.0.1:9090", (), "credentials in the URL"),
        ("ftp://127.0.0.1", (), "invalid URL"),
        ("http://0.0.0.0:9090", (), "wildcard"),
    ],
    ids=["a host the operator did not allow is refused", "another allowed host is not enough",
         "credentials are refused", "only http(s)", "a wildcard address is refused"],
)  # fmt: skip
def test_the_url_goes_through_the_operator_allowlist(
    url: str, hosts: tuple[str, ...], message: str
) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        prometheus_url(url, hosts, field="--prometheus-url")
    assert "secret" not in str(caught.value)


def test_loopback_and_operator_allowed_hosts_are_accepted() -> None:
    assert prometheus_url("http://LOCALHOST:9090/", (), field="f") == "http://localhost:9090"
    allowed = prometheus_url("https://prom.example.com", ("prom.example.com",), field="f")
    assert allowed == "https://prom.example.com"


def test_the_gate_command_refuses_a_non_allowlisted_host_before_connecting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ALLOWED_HOSTS_ENV, raising=False)
    run, _plan = record_run(tmp_path)
    args = ["gate", str(run.path), "--prometheus-url", "http://prom.example.com:9090"]
    outcome = CliRunner().invoke(app, args)
    assert outcome.exit_code == 2
    assert "--prometheus-url: host 'prom.example.com' is not allowed" in outcome.output
    assert not run.file(VERDICT_FILE).exists()


def test_source_prometheus_without_a_url_is_inconclusive(tmp_path: Path) -> None:
    text = PLAN.replace("threshold: 250ms}", "threshold: 250ms, source: prometheus}")
    run, plan = record_run(tmp_path, text)
    result = gate_run(run, plan)
    assert by_id(result)["p99"].status.value == "inconclusive"
    assert "no --prometheus-url" in by_id(result)["p99"].reason
    assert by_id(result)["errors"].status.value == "pass"  # unset: client without a URL
    assert result.sources == {"p99": "prometheus", "errors": "client", "load-generator": "client"}


def test_without_prometheus_the_verdict_files_do_not_change(tmp_path: Path) -> None:
    run, plan = record_run(tmp_path)
    result = gate_run(run, plan)
    assert result.sources == {}
    assert all("source" not in e for e in json.loads(run.file(VERDICT_FILE).read_text())[
        "evaluations"])  # fmt: skip


def test_source_client_is_never_queried(tmp_path: Path) -> None:
    text = PLAN.replace("threshold: 250ms}", "threshold: 250ms, source: client}")
    run, plan = record_run(tmp_path, text)
    seen: list[dict[str, str]] = []
    result = gate_run(run, plan, prometheus(healthy, seen))
    assert result.sources["p99"] == "client" and result.sources["errors"] == "prometheus"
    assert all("duration" not in s["query"] for s in seen)


@pytest.mark.parametrize(
    ("during", "status", "why"),
    [("faults", "n/a", "no fault window in this run"),
     ("steady", "pass", "p99 of POST /orders is 24.5 ms")],
    ids=["during faults in a run without faults is n/a",
         "steady state of a run without faults is the whole run"],
)  # fmt: skip
def test_phases_a_single_range_can_express(
    tmp_path: Path, during: str, status: str, why: str
) -> None:
    text = PLAN.replace("threshold: 250ms}", f"threshold: 250ms, during: {during}}}")
    run, plan = record_run(tmp_path, text)
    p99 = by_id(gate_run(run, plan, prometheus(healthy)))["p99"]
    assert p99.status.value == status and why in p99.reason, p99.reason


def test_a_phase_beside_fault_windows_is_inconclusive(tmp_path: Path) -> None:
    text = PLAN.replace("threshold: 250ms}", "threshold: 250ms, during: steady}")
    run, plan = record_run(tmp_path, text)
    with run.appender(EVENTS_FILE) as events:
        fault = {"fault": "network-cut", "id": "network-cut-1", "experiment": "network-cut"}
        events.append({"type": "fault_started", "ts": 1003.0, "expires_ts": 1010.0, **fault})
        events.append({"type": "fault_stopped", "ts": 1005.0, **fault})
    seen: list[dict[str, str]] = []
    p99 = by_id(gate_run(run, plan, prometheus(healthy, seen)))["p99"]
    assert p99.status.value == "inconclusive"
    assert "one range query over the run cannot express" in p99.reason
    assert not any("duration" in s["query"] for s in seen)


def test_the_judged_latency_is_prometheus_quantile_in_ms(tmp_path: Path) -> None:
    run, plan = record_run(tmp_path)
    p99 = by_id(gate_run(run, plan, prometheus(healthy)))["p99"]
    assert p99.status.value == "pass" and math.isclose(p99.observed, 24.5)
    assert p99.samples == 100 and "(0% slower than 250 ms)" in p99.reason

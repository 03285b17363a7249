"""Regression limits: how the plan writes them, and judging a run against a baseline's figures."""

from __future__ import annotations

import pytest

from slo.baseline import comparability
from slo.errors import PlanError
from slo.evaluation import Evaluation, Status
from slo.loader import load_plan_text
from slo.plan import Plan
from slo.regression import (
    Change,
    EndpointFigures,
    Regression,
    RunFigures,
    judge_regression,
    regression_endpoints,
)

PLAN = """\
apiVersion: peakops/v1
name: black-friday
target: {kind: embedded}
load: {duration: 60s, profile: constant, baseline: 600}
slos:
  objectives:
    - {id: p99, kind: latency, endpoint: POST /orders, percentile: 99, threshold: 250ms}
    - {id: errors, kind: error_ratio, endpoint: "*", max: 0.01}
regression:
  p99: +10%
  p95: +25ms
  errorRatio: +0.5pp
  throughput: -5%
  oversell: +0
"""


def plan(text: str = PLAN) -> Plan:
    return load_plan_text(text, "peak.yaml")


def figures(
    p99: float = 182.0, *, requests: int = 1000, failures: int = 1, rate: float = 10.0,
    oversell: int | None = 0, endpoint: str = "POST /orders",
) -> RunFigures:  # fmt: skip
    pcts: dict[str, float | None] = {"p50": p99 / 4, "p95": p99 / 2, "p99": p99}
    one = EndpointFigures(endpoint, requests, failures, pcts, rate)
    return RunFigures("run", {endpoint: one, "*": EndpointFigures("*", requests, failures, pcts,
                                                                     rate)}, oversell)  # fmt: skip


def judge(current: RunFigures, baseline: RunFigures, text: str = PLAN) -> dict[str, Evaluation]:
    the_plan = plan(text)
    assert the_plan.regression is not None
    endpoints = regression_endpoints(the_plan.regression, the_plan.slos.objectives)
    found = judge_regression(the_plan.regression, current, baseline, endpoints=endpoints,
                             min_samples=100)  # fmt: skip
    return {e.slo_id: e for e in found}


def test_the_plan_reads_every_kind_of_limit_and_writes_it_back() -> None:
    regression = plan().regression
    assert regression == Regression(
        p95=Change(25.0, "ms"), p99=Change(10.0, "%"), error_ratio=Change(0.5, "pp"),
        throughput=Change(5.0, "%", "-"), oversell=Change(0.0, "units"),
    )  # fmt: skip
    written = regression.model_dump(mode="json", by_alias=True)
    assert written["p99"] == "+10%" and written["errorRatio"] == "+0.5pp"
    assert written["throughput"] == "-5%" and written["oversell"] == 0


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("p99: -10%", "peak.yaml:10: regression.p99: '-10%': the limit is how much it may grow"),
        ("p99: 10", "peak.yaml:10: regression.p99: expected a change such as +10% or +25ms"),
        ("errorRatio: +1%", "regression.errorRatio: invalid limit '+1%': write +0.5pp (percentage"),
        ("throughput: +5%", "regression.throughput: '+5%': the limit is how much it may drop"),
        ("oversell: -1", "regression.oversell: expected a count from +0"),
        ("p99: +5000%", "regression.p99: '+5000%': expected at most +1000%"),
        ("p99s: +10%", "regression.p99s: unknown field (did you mean 'p99'?)"),
        ("endpoints: [orders]", "regression.endpoints: invalid endpoint 'orders'"),
    ],
    ids=[
        "a latency limit that shrinks", "a bare number", "an error ratio in percent",
        "throughput that may grow", "a negative oversell", "an absurd percentage",
        "a misspelt key", "an endpoint without a method",
    ],
)  # fmt: skip
def test_a_bad_limit_is_reported_at_its_line(line: str, message: str) -> None:
    text = PLAN.split("regression:")[0] + f"regression:\n  {line}\n"
    with pytest.raises(PlanError) as err:
        plan(text)
    assert message in str(err.value)


def test_the_compared_endpoints_default_to_those_the_request_objectives_name() -> None:
    the_plan = plan()
    assert the_plan.regression is not None
    assert regression_endpoints(the_plan.regression, the_plan.slos.objectives) == (
        "POST /orders", "*",
    )  # fmt: skip


def test_a_p99_regression_beyond_the_limit_fails_with_both_figures_in_the_reason() -> None:
    found = judge(figures(p99=204.0), figures(p99=182.0))
    p99 = found["regression-p99-POST /orders"]
    assert p99.status is Status.FAIL
    assert p99.reason == ("p99 of POST /orders 182 ms → 204 ms (+12.1 %), limit +10 %")
    assert p99.kind == "regression" and p99.threshold == pytest.approx(200.2)


def test_identical_figures_pass_every_limit() -> None:
    found = judge(figures(), figures())
    assert {e.status for e in found.values()} == {Status.PASS}
    assert set(found) == {
        f"regression-{metric}-{endpoint}"
        for metric in ("p95", "p99", "errorRatio", "throughput")
        for endpoint in ("POST /orders", "*")
    } | {"regression-oversell"}


@pytest.mark.parametrize(
    ("current", "slo_id", "reason"),
    [
        (figures(failures=7), "regression-errorRatio-*",
         "error ratio of all requests 0.1 % → 0.7 % (+0.6 pp), limit +0.5 pp"),
        (figures(rate=9.0), "regression-throughput-POST /orders",
         "throughput of POST /orders 10 → 9 req/s (-10 %), limit -5 %"),
        (figures(oversell=3), "regression-oversell", "oversell 0 → 3 units (+3), limit +0"),
        (figures(p99=182.0 * 2 + 60), "regression-p95-POST /orders",
         "p95 of POST /orders 91 ms → 212 ms (+121 ms), limit +25 ms"),
    ],
    ids=["errors up 0.6 points", "throughput down 10 %", "oversell 0 → 3",
         "p95 up more than 25 ms"],
)  # fmt: skip
def test_each_limit_fails_when_exceeded(current: RunFigures, slo_id: str, reason: str) -> None:
    found = judge(current, figures())
    assert found[slo_id].status is Status.FAIL
    assert found[slo_id].reason == reason


def test_too_few_requests_in_the_baseline_is_inconclusive_not_a_pass() -> None:
    found = judge(figures(), figures(requests=12))
    p99 = found["regression-p99-POST /orders"]
    assert p99.status is Status.INCONCLUSIVE
    assert "baseline 12, this run 1000; need 100" in p99.reason


def test_oversell_is_na_when_neither_run_checked_stock() -> None:
    found = judge(figures(oversell=None), figures(oversell=None))
    assert found["regression-oversell"].status is Status.NA


def test_runs_of_different_loads_are_refused_with_what_differs() -> None:
    other = PLAN.replace("baseline: 600", "baseline: 900").replace("black-friday", "cyber-monday")
    found = comparability(plan(), plan(other))
    assert not found.comparable
    assert found.refused == ("load.baseline: 900.0 → 600.0",)
    assert found.notes == ("name: cyber-monday → black-friday",)


def test_another_oms_version_and_other_slos_are_comparable_and_named() -> None:
    other = PLAN.replace("kind: embedded}", "kind: embedded, omsVersion: v2}").replace(
        "max: 0.01", "max: 0.02"
    )
    found = comparability(plan(), plan(other))
    assert found.comparable
    assert found.notes == ("slos.objectives: changed", "target.omsVersion: v2 → v1")


def test_another_chaos_schedule_is_refused() -> None:
    chaos = PLAN.split("regression:")[0] + "chaos:\n  - {experiment: kill-replica, offset: 10s}\n"
    found = comparability(plan(), plan(chaos))
    assert found.refused == ("chaos: [kill-replica at 10s] → none",)

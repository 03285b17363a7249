"""The verdict: failures win, inconclusive fails closed unless the plan lets it through."""

from __future__ import annotations

import json
from typing import Literal

import pytest

from slo.evaluate import Evaluation, Status
from slo.objectives import LatencyObjective, Slos
from slo.verdict import Verdict, decide


def ev(slo_id: str, status: Status) -> Evaluation:
    return Evaluation(
        slo_id=slo_id,
        kind="latency",
        endpoint="POST /orders",
        status=status,
        observed=None if status is Status.INCONCLUSIVE else 100.0,
        threshold=250.0,
        unit="ms",
        samples=500,
        reason=f"{slo_id} is {status.value}",
    )


def policy(on_inconclusive: Literal["fail", "pass"] = "fail", breach_exit_code: int = 1) -> Slos:
    objective = LatencyObjective(id="p99", percentile=99, threshold_ms=250)
    return Slos(
        objectives=(objective,),
        on_inconclusive=on_inconclusive,
        breach_exit_code=breach_exit_code,
    )


PASS, FAIL, UNSURE = Status.PASS, Status.FAIL, Status.INCONCLUSIVE

CASES = [
    pytest.param(
        [ev("a", PASS), ev("b", PASS)],
        policy(),
        PASS,
        0,
        ("all 2 SLOs passed",),
        id="all passing is a pass with exit 0",
    ),
    pytest.param(
        [ev("a", PASS), ev("b", FAIL)],
        policy(),
        FAIL,
        1,
        ("b breached: b is fail",),
        id="one breach fails the run with the default breach code",
    ),
    pytest.param(
        [ev("a", FAIL)],
        policy(breach_exit_code=99),
        FAIL,
        99,
        ("a breached: a is fail",),
        id="a breach uses the plan's own breach exit code",
    ),
    pytest.param(
        [ev("a", UNSURE), ev("b", FAIL)],
        policy(on_inconclusive="pass"),
        FAIL,
        1,
        ("b breached: b is fail", "a inconclusive: a is inconclusive"),
        id="a breach wins over inconclusive results",
    ),
    pytest.param(
        [ev("a", PASS), ev("b", UNSURE)],
        policy(),
        UNSURE,
        4,
        ("b inconclusive: b is inconclusive",),
        id="inconclusive fails closed with exit 4 by default",
    ),
    pytest.param(
        [ev("a", PASS), ev("b", UNSURE)],
        policy(on_inconclusive="pass"),
        PASS,
        0,
        (
            "passed with inconclusive SLOs let through (onInconclusive: pass): b",
            "b inconclusive: b is inconclusive",
        ),
        id="inconclusive passes only when the plan says so and the verdict says which",
    ),
    pytest.param(
        [],
        policy(on_inconclusive="pass"),
        UNSURE,
        4,
        ("no SLO was evaluated",),
        id="no evaluations at all is inconclusive even when inconclusive may pass",
    ),
]


@pytest.mark.parametrize(("evaluations", "slos", "status", "exit_code", "reasons"), CASES)
def test_the_verdict_follows_the_policy(
    evaluations: list[Evaluation],
    slos: Slos,
    status: Status,
    exit_code: int,
    reasons: tuple[str, ...],
) -> None:
    verdict = decide(evaluations, slos)
    assert (verdict.status, verdict.exit_code, verdict.reasons) == (status, exit_code, reasons)
    assert verdict.evaluations == tuple(evaluations)


def test_failed_lists_only_the_breaches() -> None:
    verdict = decide([ev("a", FAIL), ev("b", PASS), ev("c", UNSURE), ev("d", FAIL)], policy())
    assert [e.slo_id for e in verdict.failed()] == ["a", "d"]


def test_a_verdict_round_trips_through_json() -> None:
    verdict = decide([ev("a", FAIL), ev("b", PASS)], policy(breach_exit_code=99))
    data = json.loads(json.dumps(verdict.to_dict()))
    assert (data["status"], data["exit_code"]) == ("fail", 99)
    assert Verdict.from_dict(data) == verdict

"""Chaos outcomes and the completeness of the measurements, judged; and how n/a counts."""

from __future__ import annotations

import pytest

from slo.evaluate import Evaluation, Status
from slo.experiments import ChaosRecord, StepRecord, judge_chaos
from slo.loader import load_plan_text
from slo.policy import DataQuality, policy
from slo.quality import QualityStats, check_quality
from slo.verdict import decide

LOG = "chaos-1-network-cut.log"


def step(**fields: object) -> StepRecord:
    return StepRecord(index=1, experiment="network-cut", log=LOG, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("record", "status", "exit_code", "words"),
    [
        (step(started=True, exit_code=0), Status.PASS, None, "hypothesis held"),
        (step(started=True, exit_code=1), Status.FAIL, None, "deviated after the fault"),
        (step(started=True, exit_code=3), Status.INCONCLUSIVE, None, "injected nothing"),
        (step(started=True, exit_code=2), Status.INCONCLUSIVE, None, "refused"),
        (step(started=True, exit_code=4), Status.INCONCLUSIVE, None, "probes had no data"),
        (step(skipped="the load ended before its offset"), Status.INCONCLUSIVE, None, "skipped"),
        (step(started=True), Status.INCONCLUSIVE, None, "no outcome recorded"),
        (step(started=True, exit_code=5), Status.FAIL, 5, "a fault was not reverted"),
        (step(started=True, exit_code=-9), Status.FAIL, 5, "died by signal 9"),
        (step(started=True, exit_code=1, halted="halted by its stop condition at 21.0s"),
         Status.NA, None, "halted by its stop condition"),
        (step(started=True, exit_code=1, stopped="the rehearsal stopped (KeyboardInterrupt)"),
         Status.INCONCLUSIVE, None, "stopped before it finished"),
    ],
    ids=[
        "the hypothesis held: pass",
        "the hypothesis deviated: fail",
        "nothing injected: inconclusive",
        "refused by a guard: inconclusive",
        "no data to check the hypothesis after the fault: inconclusive",
        "skipped: inconclusive",
        "no recorded outcome: inconclusive",
        "a fault left behind: fail with exit 5",
        "a runner killed by a signal: fail with exit 5",
        "halted by the stop condition: n/a, reported",
        "stopped by the rehearsal: inconclusive, not a deviation",
    ],
)  # fmt: skip
def test_each_chaos_outcome_becomes_an_evaluation(
    record: StepRecord, status: Status, exit_code: int | None, words: str
) -> None:
    (evaluation,) = judge_chaos(["network-cut"], ChaosRecord((record,)))
    assert evaluation.slo_id == "chaos-1-network-cut" and evaluation.kind == "chaos"
    assert evaluation.status is status and evaluation.exit_code == exit_code
    assert words in evaluation.reason


def test_a_step_that_never_started_names_the_schedule_error() -> None:
    (evaluation,) = judge_chaos(["network-cut"], ChaosRecord((), "RuntimeError: boom"))
    assert evaluation.status is Status.INCONCLUSIVE
    assert "never started: the chaos schedule failed: RuntimeError: boom" in evaluation.reason


PLAN = load_plan_text(
    """
apiVersion: peakops/v1
target: {kind: embedded}
load: {duration: 10s, baseline: 60}
slos:
  objectives:
    - {id: p99, kind: latency, endpoint: POST /orders, percentile: 99, threshold: 250ms}
""",
    "plan.yaml",
)


def evaluation(status: Status, exit_code: int | None = None, slo_id: str = "x") -> Evaluation:
    return Evaluation(slo_id, "latency", "*", status, None, None, "ms", 0, "why", exit_code)


def test_a_fault_not_reverted_makes_the_verdict_exit_5_even_beside_a_breach() -> None:
    verdict = decide([evaluation(Status.FAIL), evaluation(Status.FAIL, 5, "chaos")], PLAN.slos)
    assert verdict.status is Status.FAIL and verdict.exit_code == 5


def test_n_a_never_counts_as_a_pass() -> None:
    verdict = decide([evaluation(Status.NA), evaluation(Status.NA)], PLAN.slos)
    assert verdict.status is Status.INCONCLUSIVE and verdict.exit_code == 4
    assert verdict.reasons == ("nothing was judged: every SLO is n/a",)


def test_passes_beside_n_a_pass_and_say_how_many_were_n_a() -> None:
    verdict = decide([evaluation(Status.PASS), evaluation(Status.NA)], PLAN.slos)
    assert verdict.status is Status.PASS and verdict.reasons == ("all 1 SLOs passed (1 n/a)",)


LIMITS = DataQuality(max_probe_error_ratio=0.05, max_unresolved_ratio=0.02, max_unjudged_ratio=0.05)


@pytest.mark.parametrize(
    ("stats", "status", "words"),
    [
        (QualityStats(probe_reads=1000, probe_errors=10, operations=500, unresolved=2,
                      observations=900, unjudged=9), Status.PASS, "10 of 1000 stock reads failed"),
        (QualityStats(probe_reads=1000, probe_errors=60), Status.INCONCLUSIVE,
         "60 of 1000 stock reads failed (6%, max 5%)"),
        (QualityStats(operations=100, unresolved=3), Status.INCONCLUSIVE,
         "3 of 100 order operations stayed unknown (3%, max 2%)"),
        (QualityStats(observations=100, unjudged=6), Status.INCONCLUSIVE,
         "6 of 100 stock observations unjudged"),
        (QualityStats(probe_reads=10, probe_failure="KeyError: 'available' (in read_truth)"),
         Status.INCONCLUSIVE, "stock probes stopped on an adapter error: KeyError"),
        (QualityStats(operations=10, resolve_failure="TypeError: bad"), Status.INCONCLUSIVE,
         "resolving unknown outcomes stopped: TypeError: bad"),
    ],
    ids=[
        "within every ratio: pass",
        "too many failed probes: inconclusive",
        "too many unknown outcomes: inconclusive (they widen the interval toward a pass)",
        "too many unjudged observations: inconclusive",
        "probes stopped on an adapter bug: inconclusive",
        "resolution stopped on an adapter bug: inconclusive",
    ],
)  # fmt: skip
def test_incomplete_measurements_make_the_run_inconclusive(
    stats: QualityStats, status: Status, words: str
) -> None:
    result = check_quality(stats, LIMITS)
    assert result is not None and result.status is status
    assert words in result.reason


def test_the_shipped_policy_is_what_plans_default_to() -> None:
    assert PLAN.slos.data_quality == policy().data_quality
    assert PLAN.slos.recovery_allowance_s == policy().faults.recovery_allowance_s

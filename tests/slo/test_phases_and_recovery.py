"""Objectives that apply to a phase (steady / faults) and the recovery objective, on plain data.

A synthetic run: one interval per second of ``POST /orders``, healthy (10 ms, no errors)
except where a test makes it slow or failing, with fault windows laid over it.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from slo.evaluate import Evaluation, Status, evaluate
from slo.objectives import (
    ErrorRatioObjective,
    LatencyObjective,
    Objective,
    RecoveryObjective,
    Slos,
)
from slo.stats import EndpointStats, LatencyDistribution, RunStats
from slo.timeline import FaultWindow, Second, Timeline, episodes
from tests.slo.fakes import SortedLatencies

ORDERS = "POST /orders"
T0 = 1000.0


def merge(parts: Sequence[LatencyDistribution]) -> LatencyDistribution:
    values: list[float] = []
    for part in parts:
        assert isinstance(part, SortedLatencies)
        values += part.values
    return SortedLatencies.of(values)


def run(
    seconds: int = 60,
    *,
    slow: range = range(0),
    failing: range = range(0),
    faults: tuple[FaultWindow, ...] = (),
    per_second: int = 30,
) -> RunStats:
    """``per_second`` orders a second; ``slow`` seconds at 400 ms, ``failing`` all failed."""
    timeline = []
    for i in range(seconds):
        latency = 400.0 if i in slow else 10.0
        failures = per_second if i in failing else 0
        timeline.append(Second(T0 + i, 1.0, per_second, failures,
                               SortedLatencies.of([latency] * per_second)))  # fmt: skip
    whole = EndpointStats(ORDERS, sum(s.requests for s in timeline),
                          sum(s.failures for s in timeline),
                          merge([s.latency for s in timeline]))  # fmt: skip
    return RunStats(
        endpoints={ORDERS: whole, "*": whole},
        elapsed_s=seconds,
        load_start=T0,
        load_end=T0 + seconds,
        timeline=Timeline({ORDERS: tuple(timeline)}, merge),
        faults=faults,
    )


def cut(start_s: float, end_s: float, name: str = "network-cut") -> FaultWindow:
    return FaultWindow(name, T0 + start_s, T0 + end_s)


P99_STEADY = LatencyObjective(id="p99", endpoint=ORDERS, percentile=99, threshold_ms=250,
                              during="steady")  # fmt: skip
P99_FAULTS = LatencyObjective(id="p99-faults", endpoint=ORDERS, percentile=99,
                              threshold_ms=250, during="faults")  # fmt: skip
ERRORS_STEADY = ErrorRatioObjective(id="errors", endpoint="*", max_ratio=0.01, during="steady")


def judge(objective: Objective, stats: RunStats, allowance_s: float = 5.0) -> Evaluation:
    (result,) = evaluate([objective], stats, default_min_samples=100,
                         recovery_allowance_s=allowance_s)  # fmt: skip
    return result


def test_a_slow_fault_window_fails_the_faults_objective_but_not_the_steady_one() -> None:
    stats = run(slow=range(20, 26), faults=(cut(20, 22),))
    steady = judge(P99_STEADY, stats)
    faults = judge(P99_FAULTS, stats)
    assert steady.status is Status.PASS and "in steady state" in steady.reason
    assert faults.status is Status.FAIL and faults.observed == 400.0


def test_slowness_beyond_the_recovery_allowance_is_judged_as_steady_state() -> None:
    stats = run(slow=range(20, 30), faults=(cut(20, 22),))  # 22 + 5 s allowance = 27 < 30
    assert judge(P99_STEADY, stats).status is Status.FAIL


def test_without_the_phase_the_same_run_fails_the_whole_run_objective() -> None:
    stats = run(slow=range(20, 26), faults=(cut(20, 22),))
    whole = LatencyObjective(id="p99", endpoint=ORDERS, percentile=99, threshold_ms=250)
    assert judge(whole, stats).status is Status.FAIL


def test_a_faults_objective_in_a_run_without_faults_is_not_applicable() -> None:
    result = judge(P99_FAULTS, run())
    assert result.status is Status.NA
    assert "no fault window" in result.reason


def test_phases_are_inconclusive_when_the_fault_windows_are_unknown() -> None:
    stats = run()
    from dataclasses import replace

    result = judge(P99_STEADY, replace(stats, faults_known=False))
    assert result.status is Status.INCONCLUSIVE


def test_overlapping_fault_windows_are_one_episode() -> None:
    merged = episodes([cut(10, 15, "a"), cut(12, 20, "b"), cut(30, 31, "c")])
    assert [(e.name, e.start - T0, e.end - T0) for e in merged] == [("a+b", 10, 20), ("c", 30, 31)]


RECOVER = RecoveryObjective(id="recover", endpoint=ORDERS, threshold_ms=5000, window_s=5,
                            min_requests=20)  # fmt: skip


def recovery(stats: RunStats, objective: RecoveryObjective = RECOVER) -> Evaluation:
    (_steady, _errors, result) = evaluate(
        [P99_STEADY, ERRORS_STEADY, objective], stats, default_min_samples=100,
        recovery_allowance_s=5.0,
    )  # fmt: skip
    return result


@pytest.mark.parametrize(
    ("bad", "status", "observed_ms", "words"),
    [
        pytest.param(range(0), Status.PASS, 0.0, "network-cut recovered in 0 s",
                     id="healthy right after the fault: recovered in 0 s"),
        pytest.param(range(20, 25), Status.PASS, 3000.0, "network-cut recovered in 3 s",
                     id="failing 3 s past the fault: recovered in 3 s"),
        pytest.param(range(20, 28), Status.FAIL, 6000.0, "worst 6 s (threshold 5 s)",
                     id="failing 6 s past the fault: recovery too slow"),
        pytest.param(range(20, 60), Status.FAIL, None, "not recovered in the 38 s watched",
                     id="a cut that never heals fails recovery"),
    ],
)  # fmt: skip
def test_recovery_times_the_return_to_the_steady_state_objectives(
    bad: range, status: Status, observed_ms: float | None, words: str
) -> None:
    result = recovery(run(failing=bad, faults=(cut(20, 22),)))
    assert result.status is status, result.reason
    assert result.observed == observed_ms
    assert words in result.reason


def test_recovery_is_judged_on_the_worst_fault() -> None:
    stats = run(failing=range(40, 44), faults=(cut(10, 11, "kill-replica"), cut(40, 42)))
    result = recovery(stats)
    assert result.status is Status.PASS and result.observed == 2000.0
    assert "kill-replica recovered in 0 s, network-cut recovered in 2 s" in result.reason


def test_a_fault_too_close_to_the_end_of_the_load_is_inconclusive_not_passed() -> None:
    result = recovery(run(seconds=60, failing=range(55, 60), faults=(cut(55, 57),)))
    assert result.status is Status.INCONCLUSIVE
    assert "too little time after the fault" in result.reason


def test_recovery_needs_enough_requests_in_the_window() -> None:
    result = recovery(run(per_second=3, faults=(cut(20, 22),)))  # 15 < 20 requests per 5 s
    assert result.status is Status.FAIL


def test_recovery_without_faults_is_not_applicable() -> None:
    result = recovery(run())
    assert result.status is Status.NA


def test_a_recovery_threshold_beyond_the_allowance_is_refused() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"exceeds slos\.recoveryAllowance"):
        Slos(objectives=(P99_STEADY, RECOVER), recovery_allowance_s=2.0)


def test_a_recovery_without_a_steady_objective_to_return_to_is_refused() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="needs a steady-state latency objective"):
        Slos(objectives=(P99_FAULTS, RECOVER))

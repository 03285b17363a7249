"""Stock-drift SLOs: oversell, drift outside the interval, convergence lag, undersell."""

from __future__ import annotations

from dataclasses import replace

import pytest

from slo.evaluate import Status, evaluate
from slo.objectives import (
    ConvergenceLagObjective,
    DriftObjective,
    Objective,
    OversellObjective,
    StoreReconcileObjective,
    UndersellObjective,
)
from slo.stats import DriftStats, RunStats

CLEAN = DriftStats(
    oversell_units=0, negative_stock_observations=0, truth_observations=500,
    truth_outside_interval=0, view_observations=2000, views_outside_interval=0,
    place_invokes=1000, undersell_false_sold_out=0,
    lag_s={50: 0.02, 95: 0.3, 99: 0.45, 100: 0.6}, never_converged=0,
)  # fmt: skip

OVERSELL = OversellObjective(id="no-oversell")
DRIFT = DriftObjective(id="no-drift")
LAG = ConvergenceLagObjective(id="lag", percentile=99, threshold_ms=500)
UNDERSELL = UndersellObjective(id="undersell", max_ratio=0.01)


def judge(objective: Objective, drift: DriftStats | None) -> tuple[Status, str]:
    stats = RunStats(endpoints={}, elapsed_s=60, drift=drift)
    (evaluation,) = evaluate([objective], stats, default_min_samples=1)
    return evaluation.status, evaluation.reason


@pytest.mark.parametrize(
    ("objective", "drift", "status", "words"),
    [
        (OVERSELL, CLEAN, Status.PASS, "0 units oversold (max 0)"),
        (OVERSELL, replace(CLEAN, oversell_units=3), Status.FAIL, "3 units oversold (max 0)"),
        (DRIFT, CLEAN, Status.PASS, "0 stock observations outside the expected interval"),
        (DRIFT, replace(CLEAN, views_outside_interval=2), Status.FAIL, "2 of 2000 views"),
        (LAG, CLEAN, Status.PASS, "p99 convergence lag is 450 ms, under 500 ms"),
        (LAG, replace(CLEAN, lag_s={**CLEAN.lag_s, 99: 0.5}), Status.FAIL, "threshold 500 ms"),
        (LAG, replace(CLEAN, never_converged=4), Status.FAIL, "4 acknowledged changes never"),
        (LAG, replace(CLEAN, lag_s={99: None}), Status.INCONCLUSIVE, "no channel view was seen"),
        (UNDERSELL, replace(CLEAN, undersell_false_sold_out=10), Status.PASS, "(1%), max 1%"),
        (UNDERSELL, replace(CLEAN, undersell_false_sold_out=11), Status.FAIL, "11 false sold-outs"),
        (UNDERSELL, replace(CLEAN, place_invokes=0), Status.INCONCLUSIVE, "no orders were placed"),
        (OVERSELL, None, Status.INCONCLUSIVE, "no observations of the source of truth"),
        (OVERSELL, replace(CLEAN, truth_observations=0), Status.INCONCLUSIVE, "drift unknown"),
    ],
    ids=[
        "a clean history passes the oversell SLO",
        "any oversold unit fails it",
        "no observation outside the interval passes the drift SLO",
        "stale views beyond their allowance fail it",
        "convergence under the threshold passes",
        "convergence equal to the threshold fails, like latency",
        "changes that never reached every view fail the lag SLO",
        "no convergence seen at all is inconclusive",
        "undersell exactly at the limit passes",
        "undersell above the limit fails",
        "no orders means undersell is inconclusive",
        "a run without drift figures is inconclusive",
        "a run that never observed the truth is inconclusive",
    ],
)
def test_drift_slo_table(
    objective: Objective, drift: DriftStats | None, status: Status, words: str
) -> None:
    got_status, reason = judge(objective, drift)
    assert got_status is status
    assert words in reason


STORE_DRIFT = replace(
    CLEAN,
    truth_outside_interval=5,
    views_outside_interval=1,
    violations_by_fault_set={
        "store-offline": {"truth_outside_interval": 4, "oversell": 1},
        "network-cut+store-offline": {"truth_outside_interval": 1},
        "network-cut": {"view_outside_interval": 1},
    },
)


@pytest.mark.parametrize(
    ("tolerate", "status", "words"),
    [
        ((), Status.FAIL, "6 stock observations outside"),
        (("store-offline",), Status.FAIL, "2 stock observations outside"),
        (("store-offline", "network-cut"), Status.PASS, "6 during store-offline, network-cut"),
    ],
    ids=[
        "without tolerance every observation outside the interval counts",
        "drift blamed on a tolerated fault together with another one still counts",
        "drift blamed only on tolerated faults is reported, not counted",
    ],
)
def test_drift_during_a_tolerated_fault(
    tolerate: tuple[str, ...], status: Status, words: str
) -> None:
    objective = DriftObjective(id="no-drift", tolerate=tolerate)
    got_status, reason = judge(objective, STORE_DRIFT)
    assert got_status is status
    assert words in reason


@pytest.mark.parametrize(
    ("tolerate", "drift", "status", "words"),
    [
        (("store-offline",), STORE_DRIFT, Status.INCONCLUSIVE,
         "6 stock observations outside the expected interval, and the run's fault windows "
         "were unknown to the drift checker: how many fell during store-offline (tolerated) "
         "cannot be told, max 0"),
        (("store-offline",), CLEAN, Status.PASS, "0 stock observations outside"),
        ((), STORE_DRIFT, Status.FAIL, "6 stock observations outside"),
    ],
    ids=[
        "drift that a tolerated fault may explain is inconclusive, never failed",
        "no drift at all passes: nothing needed tolerating",
        "an objective that tolerates nothing does not need the fault windows",
    ],
)  # fmt: skip
def test_drift_tolerating_faults_when_the_fault_windows_are_unknown(
    tolerate: tuple[str, ...], drift: DriftStats, status: Status, words: str
) -> None:
    objective = DriftObjective(id="no-drift", tolerate=tolerate)
    stats = RunStats(endpoints={}, elapsed_s=60, drift=drift, faults_known=False)
    (evaluation,) = evaluate([objective], stats, default_min_samples=1)
    assert evaluation.status is status
    assert words in evaluation.reason


@pytest.mark.parametrize(
    ("scheduled", "reconciled", "status", "words"),
    [
        (1, (0.4,), Status.PASS, "reconciled in 400 ms, under 5000 ms"),
        (2, (0.4, 5.0), Status.FAIL, "slowest of 2 store outages reconciled in 5000 ms"),
        (1, (None,), Status.FAIL, "1 of 1 store outages never reconciled"),
        (1, (), Status.INCONCLUSIVE, "1 store outages scheduled, none was recorded"),
        (0, None, Status.NA, "no store outage in this run: nothing to reconcile"),
    ],
    ids=[
        "reconciled under the threshold passes",
        "reconciling exactly at the threshold fails, like latency",
        "an outbox never emptied fails",
        "a scheduled outage that never happened is inconclusive",
        "a run without a store outage has nothing to reconcile",
    ],
)
def test_store_reconcile_slo(
    scheduled: int, reconciled: tuple[float | None, ...] | None, status: Status, words: str
) -> None:
    objective = StoreReconcileObjective(id="store-reconciles", threshold_ms=5000)
    stats = RunStats(endpoints={}, elapsed_s=60, store_reconcile_s=reconciled,
                     store_outages_scheduled=scheduled)  # fmt: skip
    (evaluation,) = evaluate([objective], stats, default_min_samples=100)
    assert evaluation.status is status
    assert words in evaluation.reason

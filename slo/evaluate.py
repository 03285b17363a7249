"""Judge each SLO objective against a run's recorded figures: pass, fail or inconclusive.

Pure: ``evaluate(objectives, stats)`` reads only its arguments. An objective without
enough data is inconclusive, never a silent pass; ``slo.verdict`` decides what that
means for the run.
"""

from __future__ import annotations

from collections.abc import Sequence

from slo.evaluation import Evaluation, Result, Status, describe, number, percent
from slo.objectives import (
    ConvergenceLagObjective,
    DriftObjective,
    ErrorRatioObjective,
    LatencyObjective,
    Objective,
    OversellObjective,
    RecoveryObjective,
    StoreReconcileObjective,
    ThroughputObjective,
    UndersellObjective,
    steady_objectives,
)
from slo.recovery import evaluate_recovery
from slo.stats import DriftStats, EndpointStats, RunStats
from slo.timeline import phase_stats

DriftObjectives = OversellObjective | DriftObjective | ConvergenceLagObjective | UndersellObjective

__all__ = ["Evaluation", "Status", "evaluate"]


def evaluate(
    objectives: Sequence[Objective],
    stats: RunStats,
    *,
    default_min_samples: int,
    recovery_allowance_s: float = 0.0,
) -> tuple[Evaluation, ...]:
    """Evaluate every objective, in order.

    ``default_min_samples`` applies to objectives that set no ``minSamples``
    (normally ``plan.slos.min_samples``); ``recovery_allowance_s`` is how long after a
    fault still belongs to it (``plan.slos.recovery_allowance_s``).
    """
    return tuple(
        _evaluate_one(objective, objectives, stats, default_min_samples, recovery_allowance_s)
        for objective in objectives
    )


def _evaluate_one(
    objective: Objective,
    objectives: Sequence[Objective],
    stats: RunStats,
    default_min_samples: int,
    allowance_s: float,
) -> Evaluation:
    min_samples = (
        objective.min_samples if objective.min_samples is not None else default_min_samples
    )
    if isinstance(objective, LatencyObjective):
        return _latency(objective, stats, min_samples, allowance_s)
    if isinstance(objective, ErrorRatioObjective):
        return _error_ratio(objective, stats, min_samples, allowance_s)
    if isinstance(objective, RecoveryObjective):
        return evaluate_recovery(
            objective, steady_objectives(tuple(objectives), objective.endpoint), stats
        )
    if isinstance(objective, ThroughputObjective):
        return _throughput(objective, stats)
    if isinstance(objective, StoreReconcileObjective):
        return _store_reconcile(objective, stats)
    return _drift(objective, stats)


def _store_reconcile(objective: StoreReconcileObjective, stats: RunStats) -> Evaluation:
    outages = stats.store_reconcile_s or ()
    result = Result(objective, unit="ms", threshold=objective.threshold_ms, samples=len(outages))
    if stats.store_outages_scheduled == 0:
        return result.not_applicable("no store outage in this run: nothing to reconcile")
    if not outages:
        scheduled = stats.store_outages_scheduled
        return result.inconclusive(f"{scheduled} store outages scheduled, none was recorded")
    limit = f"threshold {objective.threshold_ms:g} ms"
    if any(seconds is None for seconds in outages):
        never = sum(seconds is None for seconds in outages)
        return result.failed_unmeasured(
            f"{never} of {len(outages)} store outages never reconciled ({limit})"
        )
    worst_ms = max(s for s in outages if s is not None) * 1000
    sentence = f"slowest of {len(outages)} store outages reconciled in {worst_ms:.0f} ms"
    if worst_ms < objective.threshold_ms:
        return result.passed(worst_ms, f"{sentence}, under {objective.threshold_ms:g} ms")
    return result.failed(worst_ms, f"{sentence} ({limit})")


def _drift(objective: DriftObjectives, stats: RunStats) -> Evaluation:
    drift = stats.drift
    unit = "ms" if isinstance(objective, ConvergenceLagObjective) else "count"
    threshold: float = (
        objective.threshold_ms if isinstance(objective, ConvergenceLagObjective)
        else objective.max_ratio if isinstance(objective, UndersellObjective)
        else objective.max_units if isinstance(objective, OversellObjective)
        else objective.max_count
    )  # fmt: skip
    if isinstance(objective, UndersellObjective):
        unit = "ratio"
    samples = drift.truth_observations + drift.view_observations if drift else 0
    result = Result(objective, unit=unit, threshold=threshold, samples=samples)
    if drift is None or drift.truth_observations == 0:
        return result.inconclusive("no observations of the source of truth: stock drift unknown")
    if isinstance(objective, OversellObjective):
        units = drift.oversell_units
        sentence = f"{units} units oversold (max {objective.max_units})"
        return (
            result.passed(units, sentence) if units <= threshold else result.failed(units, sentence)
        )
    if isinstance(objective, DriftObjective):
        return _outside_interval(objective, drift, result, faults_known=stats.faults_known)
    if isinstance(objective, UndersellObjective):
        return _undersell(objective, drift, result)
    return _convergence(objective, drift, result)


_OUTSIDE_KINDS = ("truth_outside_interval", "view_outside_interval")


def _outside_interval(
    objective: DriftObjective, drift: DriftStats, result: Result, *, faults_known: bool
) -> Evaluation:
    """Observations outside the interval, less those blamed only on tolerated faults.

    With the fault windows unknown (to the drift checker), nothing could be blamed on a
    fault: an objective that tolerates some is inconclusive, never failed, unless even
    counting every observation passes it.
    """
    outside = drift.truth_outside_interval + drift.views_outside_interval
    if objective.tolerate and not faults_known and outside > objective.max_count:
        return result.inconclusive(
            f"{outside} stock observations outside the expected interval, and the run's fault "
            f"windows were unknown to the drift checker: how many fell during "
            f"{', '.join(objective.tolerate)} (tolerated) cannot be told, max {objective.max_count}"
        )
    tolerated = 0
    if objective.tolerate:
        allowed = set(objective.tolerate)
        tolerated = sum(
            kinds.get(kind, 0)
            for key, kinds in drift.violations_by_fault_set.items()
            if key != "none" and set(key.split("+")) <= allowed
            for kind in _OUTSIDE_KINDS
        )
    counted = outside - tolerated
    sentence = (
        f"{counted} stock observations outside the expected interval "
        f"({drift.truth_outside_interval} of {drift.truth_observations} truth, "
        f"{drift.views_outside_interval} of {drift.view_observations} views"
    )
    if objective.tolerate:
        sentence += f"; {tolerated} during {', '.join(objective.tolerate)} tolerated"
    sentence += f"), max {objective.max_count}"
    if counted <= objective.max_count:
        return result.passed(counted, sentence)
    return result.failed(counted, sentence)


def _undersell(objective: UndersellObjective, drift: DriftStats, result: Result) -> Evaluation:
    if drift.place_invokes == 0:
        return result.inconclusive("no orders were placed")
    ratio = drift.undersell_false_sold_out / drift.place_invokes
    sentence = (
        f"{drift.undersell_false_sold_out} false sold-outs in {drift.place_invokes} orders "
        f"({percent(ratio)}), max {percent(objective.max_ratio)}"
    )
    return (
        result.passed(ratio, sentence)
        if ratio <= objective.max_ratio
        else result.failed(ratio, sentence)
    )


def _convergence(
    objective: ConvergenceLagObjective, drift: DriftStats, result: Result
) -> Evaluation:
    lag_s = drift.lag_s.get(objective.percentile)
    label = "worst" if objective.percentile == 100 else f"p{objective.percentile}"
    threshold = f"{number(objective.threshold_ms)} ms"
    if drift.never_converged:
        observed = lag_s * 1000 if lag_s is not None else float("inf")
        return result.failed(
            observed, f"{drift.never_converged} acknowledged changes never reached every view"
        )
    if lag_s is None:
        return result.inconclusive("no channel view was seen catching up with an order")
    observed = lag_s * 1000
    sentence = f"{label} convergence lag is {number(observed)} ms"
    if observed < objective.threshold_ms:
        return result.passed(observed, f"{sentence}, under {threshold}")
    return result.failed(observed, f"{sentence}, threshold {threshold}")


def _request_stats(
    objective: LatencyObjective | ErrorRatioObjective, stats: RunStats, allowance_s: float
) -> tuple[EndpointStats | None, str, str | None]:
    """The figures an objective judges, how to name them, and why there are none (n/a).

    ``during: all`` takes the whole run; ``steady`` and ``faults`` the intervals of
    that phase (see ``slo.timeline``).
    """
    endpoint = describe(objective.endpoint)
    if objective.during == "all":
        return stats.endpoints.get(objective.endpoint), endpoint, None
    if not stats.faults_known:
        return None, endpoint, None
    if objective.during == "faults" and not stats.faults:
        return None, endpoint, "no fault window in this run: nothing to judge during faults"
    label = (
        f"{endpoint} during faults"
        if objective.during == "faults"
        else f"{endpoint} in steady state"
    )
    if stats.timeline is None:
        return None, label, None
    figures = phase_stats(
        stats.timeline, objective.endpoint, objective.during, stats.faults, allowance_s
    )
    return figures, label, None


def _latency(
    objective: LatencyObjective, stats: RunStats, min_samples: int, allowance_s: float
) -> Evaluation:
    recorded, endpoint, not_applicable = _request_stats(objective, stats, allowance_s)
    samples = recorded.latency.total_count if recorded else 0
    result = Result(objective, unit="ms", threshold=objective.threshold_ms, samples=samples)
    if not_applicable:
        return result.not_applicable(not_applicable)
    if not stats.faults_known:
        return result.inconclusive("the run's fault windows are unknown: phases cannot be told")
    if recorded is None or samples == 0:
        return result.inconclusive(f"no latency recorded for {endpoint}")
    if samples < min_samples:
        return result.inconclusive(f"only {samples} samples for {endpoint}, need {min_samples}")
    observed = recorded.latency.value_at_percentile(objective.percentile)
    label = f"p{number(objective.percentile)} of {endpoint}"
    threshold = f"{number(objective.threshold_ms)} ms"
    if observed < objective.threshold_ms:
        return result.passed(observed, f"{label} is {number(observed)} ms, under {threshold}")
    return result.failed(observed, f"{label} is {number(observed)} ms, threshold {threshold}")


def _error_ratio(
    objective: ErrorRatioObjective, stats: RunStats, min_samples: int, allowance_s: float
) -> Evaluation:
    recorded, endpoint, not_applicable = _request_stats(objective, stats, allowance_s)
    requests = recorded.requests if recorded else 0
    result = Result(objective, unit="ratio", threshold=objective.max_ratio, samples=requests)
    if not_applicable:
        return result.not_applicable(not_applicable)
    if not stats.faults_known:
        return result.inconclusive("the run's fault windows are unknown: phases cannot be told")
    if recorded is None or requests == 0:
        return result.inconclusive(f"no requests recorded for {endpoint}")
    if requests < min_samples:
        return result.inconclusive(f"only {requests} requests to {endpoint}, need {min_samples}")
    ratio = recorded.failures / requests
    sentence = (
        f"error ratio of {endpoint} is {percent(ratio)} "
        f"({recorded.failures} of {requests} failed), max {percent(objective.max_ratio)}"
    )
    if ratio <= objective.max_ratio:
        return result.passed(ratio, sentence)
    return result.failed(ratio, sentence)


def _throughput(objective: ThroughputObjective, stats: RunStats) -> Evaluation:
    endpoint = describe(objective.endpoint)
    planned = stats.planned.get(objective.endpoint, 0.0)
    recorded = stats.endpoints.get(objective.endpoint)
    requests = recorded.requests if recorded else 0
    result = Result(objective, unit="ratio", threshold=objective.min_ratio, samples=requests)
    if planned <= 0:
        return result.inconclusive(f"the plan does not pace {endpoint}: nothing to compare with")
    if requests == 0:
        return result.inconclusive(f"no requests recorded for {endpoint}")
    ratio = requests / planned
    sentence = (
        f"{endpoint} got {percent(ratio)} of its planned requests "
        f"({requests} of {number(planned)}), min {percent(objective.min_ratio)}"
    )
    if ratio >= objective.min_ratio:
        return result.passed(ratio, sentence)
    return result.failed(ratio, sentence)

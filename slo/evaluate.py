"""Judge each SLO objective against a run's recorded figures: pass, fail or inconclusive.

Pure: ``evaluate(objectives, stats)`` reads only its arguments. An objective without
enough data is inconclusive, never a silent pass; ``slo.verdict`` decides what that
means for the run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from slo.objectives import (
    ConvergenceLagObjective,
    DriftObjective,
    ErrorRatioObjective,
    LatencyObjective,
    Objective,
    OversellObjective,
    StoreReconcileObjective,
    ThroughputObjective,
    UndersellObjective,
)
from slo.stats import ALL_ENDPOINTS, DriftStats, RunStats

DriftObjectives = OversellObjective | DriftObjective | ConvergenceLagObjective | UndersellObjective

__all__ = ["Evaluation", "Status", "evaluate"]


class Status(StrEnum):
    """The result of one SLO, and of a whole verdict."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Evaluation:
    """One objective's result, with the figures and a sentence explaining it.

    ``observed`` and ``threshold`` are in ``unit`` (``ms`` for latency, ``ratio`` for
    error ratio and throughput); ``observed`` is ``None`` when there was nothing to
    measure. ``samples`` is how many requests the result rests on.
    """

    slo_id: str
    kind: str
    endpoint: str
    status: Status
    observed: float | None
    threshold: float | None
    unit: str
    samples: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, as written to ``verdict.json``."""
        return {**asdict(self), "status": self.status.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evaluation:
        """Read back what ``to_dict`` wrote."""
        fields = {**data, "status": Status(data["status"])}
        return cls(**fields)


def evaluate(
    objectives: Sequence[Objective], stats: RunStats, *, default_min_samples: int
) -> tuple[Evaluation, ...]:
    """Evaluate every objective, in order.

    ``default_min_samples`` applies to objectives that set no ``minSamples``
    (normally ``plan.slos.min_samples``).
    """
    return tuple(_evaluate_one(objective, stats, default_min_samples) for objective in objectives)


def _evaluate_one(objective: Objective, stats: RunStats, default_min_samples: int) -> Evaluation:
    min_samples = (
        objective.min_samples if objective.min_samples is not None else default_min_samples
    )
    if isinstance(objective, LatencyObjective):
        return _latency(objective, stats, min_samples)
    if isinstance(objective, ErrorRatioObjective):
        return _error_ratio(objective, stats, min_samples)
    if isinstance(objective, ThroughputObjective):
        return _throughput(objective, stats)
    if isinstance(objective, StoreReconcileObjective):
        return _store_reconcile(objective, stats)
    return _drift(objective, stats)


def _store_reconcile(objective: StoreReconcileObjective, stats: RunStats) -> Evaluation:
    outages = stats.store_reconcile_s or ()
    result = _Result(objective, unit="ms", threshold=objective.threshold_ms, samples=len(outages))
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
    result = _Result(objective, unit=unit, threshold=threshold, samples=samples)
    if drift is None or drift.truth_observations == 0:
        return result.inconclusive("no observations of the source of truth: stock drift unknown")
    if isinstance(objective, OversellObjective):
        units = drift.oversell_units
        sentence = f"{units} units oversold (max {objective.max_units})"
        return (
            result.passed(units, sentence) if units <= threshold else result.failed(units, sentence)
        )
    if isinstance(objective, DriftObjective):
        return _outside_interval(objective, drift, result)
    if isinstance(objective, UndersellObjective):
        return _undersell(objective, drift, result)
    return _convergence(objective, drift, result)


_OUTSIDE_KINDS = ("truth_outside_interval", "view_outside_interval")


def _outside_interval(objective: DriftObjective, drift: DriftStats, result: _Result) -> Evaluation:
    outside = drift.truth_outside_interval + drift.views_outside_interval
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


def _undersell(objective: UndersellObjective, drift: DriftStats, result: _Result) -> Evaluation:
    if drift.place_invokes == 0:
        return result.inconclusive("no orders were placed")
    ratio = drift.undersell_false_sold_out / drift.place_invokes
    sentence = (
        f"{drift.undersell_false_sold_out} false sold-outs in {drift.place_invokes} orders "
        f"({_percent(ratio)}), max {_percent(objective.max_ratio)}"
    )
    return (
        result.passed(ratio, sentence)
        if ratio <= objective.max_ratio
        else result.failed(ratio, sentence)
    )


def _convergence(
    objective: ConvergenceLagObjective, drift: DriftStats, result: _Result
) -> Evaluation:
    lag_s = drift.lag_s.get(objective.percentile)
    label = "worst" if objective.percentile == 100 else f"p{objective.percentile}"
    threshold = f"{_number(objective.threshold_ms)} ms"
    if drift.never_converged:
        observed = lag_s * 1000 if lag_s is not None else float("inf")
        return result.failed(
            observed, f"{drift.never_converged} acknowledged changes never reached every view"
        )
    if lag_s is None:
        return result.inconclusive("no channel view was seen catching up with an order")
    observed = lag_s * 1000
    sentence = f"{label} convergence lag is {_number(observed)} ms"
    if observed < objective.threshold_ms:
        return result.passed(observed, f"{sentence}, under {threshold}")
    return result.failed(observed, f"{sentence}, threshold {threshold}")


def _latency(objective: LatencyObjective, stats: RunStats, min_samples: int) -> Evaluation:
    endpoint = _describe(objective.endpoint)
    recorded = stats.endpoints.get(objective.endpoint)
    samples = recorded.latency.total_count if recorded else 0
    result = _Result(objective, unit="ms", threshold=objective.threshold_ms, samples=samples)
    if recorded is None or samples == 0:
        return result.inconclusive(f"no latency recorded for {endpoint}")
    if samples < min_samples:
        return result.inconclusive(f"only {samples} samples for {endpoint}, need {min_samples}")
    observed = recorded.latency.value_at_percentile(objective.percentile)
    label = f"p{_number(objective.percentile)} of {endpoint}"
    threshold = f"{_number(objective.threshold_ms)} ms"
    if observed < objective.threshold_ms:
        return result.passed(observed, f"{label} is {_number(observed)} ms, under {threshold}")
    return result.failed(observed, f"{label} is {_number(observed)} ms, threshold {threshold}")


def _error_ratio(objective: ErrorRatioObjective, stats: RunStats, min_samples: int) -> Evaluation:
    endpoint = _describe(objective.endpoint)
    recorded = stats.endpoints.get(objective.endpoint)
    requests = recorded.requests if recorded else 0
    result = _Result(objective, unit="ratio", threshold=objective.max_ratio, samples=requests)
    if recorded is None or requests == 0:
        return result.inconclusive(f"no requests recorded for {endpoint}")
    if requests < min_samples:
        return result.inconclusive(f"only {requests} requests to {endpoint}, need {min_samples}")
    ratio = recorded.failures / requests
    sentence = (
        f"error ratio of {endpoint} is {_percent(ratio)} "
        f"({recorded.failures} of {requests} failed), max {_percent(objective.max_ratio)}"
    )
    if ratio <= objective.max_ratio:
        return result.passed(ratio, sentence)
    return result.failed(ratio, sentence)


def _throughput(objective: ThroughputObjective, stats: RunStats) -> Evaluation:
    endpoint = _describe(objective.endpoint)
    planned = stats.planned.get(objective.endpoint, 0.0)
    recorded = stats.endpoints.get(objective.endpoint)
    requests = recorded.requests if recorded else 0
    result = _Result(objective, unit="ratio", threshold=objective.min_ratio, samples=requests)
    if planned <= 0:
        return result.inconclusive(f"the plan does not pace {endpoint}: nothing to compare with")
    if requests == 0:
        return result.inconclusive(f"no requests recorded for {endpoint}")
    ratio = requests / planned
    sentence = (
        f"{endpoint} got {_percent(ratio)} of its planned requests "
        f"({requests} of {_number(planned)}), min {_percent(objective.min_ratio)}"
    )
    if ratio >= objective.min_ratio:
        return result.passed(ratio, sentence)
    return result.failed(ratio, sentence)


@dataclass(frozen=True)
class _Result:
    """What every outcome of one objective shares; builds its ``Evaluation``."""

    objective: Objective
    unit: str
    threshold: float
    samples: int

    def _build(self, status: Status, observed: float | None, reason: str) -> Evaluation:
        return Evaluation(
            slo_id=self.objective.id,
            kind=self.objective.kind,
            endpoint=self.objective.endpoint,
            status=status,
            observed=observed,
            threshold=self.threshold,
            unit=self.unit,
            samples=self.samples,
            reason=reason,
        )

    def passed(self, observed: float, reason: str) -> Evaluation:
        return self._build(Status.PASS, observed, reason)

    def failed(self, observed: float, reason: str) -> Evaluation:
        return self._build(Status.FAIL, observed, reason)

    def inconclusive(self, reason: str) -> Evaluation:
        return self._build(Status.INCONCLUSIVE, None, reason)

    def failed_unmeasured(self, reason: str) -> Evaluation:
        return self._build(Status.FAIL, None, reason)

    def not_applicable(self, reason: str) -> Evaluation:
        """Nothing this objective judges happened in the run, by plan (not missing data)."""
        return self._build(Status.PASS, None, reason)


def _describe(endpoint: str) -> str:
    return "all requests" if endpoint == ALL_ENDPOINTS else endpoint


def _number(value: float) -> str:
    """``250.0`` -> ``250``, ``412.345`` -> ``412.3``, ``0.1234`` -> ``0.123``."""
    digits = 1 if abs(value) >= 10 else 3
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return text or "0"


def _percent(ratio: float) -> str:
    return f"{_number(ratio * 100)}%"

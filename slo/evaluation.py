"""What evaluating one objective gives: a status, the figures and a sentence.

Shared by every evaluator (``slo.evaluate``, recovery, chaos outcomes, data quality,
the load generator's health) and by the verdict. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from slo.objectives import Objective
from slo.stats import ALL_ENDPOINTS

__all__ = ["Evaluation", "Result", "Status", "describe", "number", "percent"]


class Status(StrEnum):
    """The result of one SLO, and of a whole verdict.

    ``NA`` ("n/a"): nothing this objective judges happened in the run, by plan (no
    fault to recover from, no store outage to reconcile). Shown as such and never
    counted as a pass: a verdict made only of ``n/a`` is inconclusive.
    """

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    NA = "n/a"


@dataclass(frozen=True)
class Evaluation:
    """One objective's result, with the figures and a sentence explaining it.

    ``observed`` and ``threshold`` are in ``unit`` (``ms`` for latency, ``ratio`` for
    error ratio and throughput); ``observed`` is ``None`` when there was nothing to
    measure. ``samples`` is how many requests the result rests on. ``exit_code``: the
    exit code a failure of this evaluation forces (5 when a fault was not reverted);
    None for an ordinary SLO breach, whose code the plan chooses.
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
    exit_code: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form, as written to ``verdict.json``."""
        data = {**asdict(self), "status": self.status.value}
        if self.exit_code is None:
            del data["exit_code"]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Evaluation:
        """Read back what ``to_dict`` wrote."""
        fields = {**data, "status": Status(data["status"])}
        return cls(**fields)


@dataclass(frozen=True)
class Result:
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
        return self._build(Status.NA, None, reason)


def describe(endpoint: str) -> str:
    return "all requests" if endpoint == ALL_ENDPOINTS else endpoint


def number(value: float) -> str:
    """``250.0`` -> ``250``, ``412.345`` -> ``412.3``, ``0.1234`` -> ``0.123``."""
    digits = 1 if abs(value) >= 10 else 3
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return text or "0"


def percent(ratio: float) -> str:
    return f"{number(ratio * 100)}%"

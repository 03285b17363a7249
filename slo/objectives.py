"""The SLO part of a plan: objectives (latency, errors, throughput, drift) and the gate policy.

``slos.objectives`` is a list tagged by ``kind``; ``Objective`` is that union.
"""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal, Self

from pydantic import Field, field_validator, model_validator

from slo.conventions import (
    ALERT_WINDOWS,
    CLIENT_LATENCY_BUCKETS_S,
    DEFAULT_ALERT_WINDOWS,
    ENDPOINT_PLACE_ORDER,
)
from slo.exitcodes import ExitCode
from slo.fields import Milliseconds, PlanModel, Seconds, at_most_ms, at_most_s, check_name
from slo.issues import raise_issues
from slo.policy import DataQuality, policy
from slo.stats import ALL_ENDPOINTS

__all__ = [
    "MAX_COUNT",
    "MAX_SAMPLES",
    "MAX_THRESHOLD_MS",
    "PROMQL_KINDS",
    "ConvergenceLagObjective",
    "DataQuality",
    "DriftObjective",
    "During",
    "ErrorRatioObjective",
    "LatencyObjective",
    "Objective",
    "OversellObjective",
    "RecoveryObjective",
    "Slos",
    "Source",
    "Threshold",
    "ThroughputObjective",
    "UndersellObjective",
    "steady_objectives",
]

MAX_SAMPLES: Final = 10_000_000
"""Most samples an SLO may demand: a 7-day load at 1000 requests/s is ~600 million, but
a minimum above ten million would leave every ordinary run inconclusive."""

MAX_THRESHOLD_MS: Final = 3_600_000.0
"""Longest duration threshold (latency, lag, reconcile): an hour. A request or a
replication slower than that is an outage, and the HDR histograms record up to an hour."""

MAX_COUNT: Final = 1_000_000_000
"""Largest count an oversell or drift objective may allow: beyond any run's orders."""

Threshold = Annotated[Milliseconds, at_most_ms(MAX_THRESHOLD_MS)]
"""A duration threshold of an objective, at most an hour."""

PROMQL_KINDS: Final = ("latency", "error_ratio")
"""Objective kinds the gate can also judge from Prometheus (``source: prometheus``)."""

Source = Literal["client", "prometheus"]
"""Where the gate reads an objective's figures: the run directory's own recordings
(``client``) or Prometheus over the run's window (``prometheus``, docs/promql-gate.md).
Unset: ``prometheus`` when the gate is given ``--prometheus-url`` and the kind allows it."""

_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_ENDPOINT = re.compile(r"\*|[A-Z]+ /\S*")
_RESERVED_EXIT_CODES = {
    ExitCode.USAGE: "usage errors",
    ExitCode.INFRA: "infrastructure errors",
    ExitCode.INCONCLUSIVE: "inconclusive verdicts",
    ExitCode.REVERT_FAILED: "failed reverts",
}


class _ObjectiveBase(PlanModel):
    """Fields every SLO objective has."""

    id: str
    endpoint: str = ALL_ENDPOINTS
    min_samples: int | None = Field(default=None, ge=1, le=MAX_SAMPLES)
    description: str = ""
    source: Source | None = None

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        rule = "use lowercase letters, digits, '-' and '_', starting with a letter or digit"
        return check_name(value, what="SLO id", pattern=_SLUG, rule=rule)

    @field_validator("endpoint")
    @classmethod
    def _check_endpoint(cls, value: str) -> str:
        rule = "use '*' for all requests or 'METHOD /route', e.g. 'POST /orders'"
        return check_name(value, what="endpoint", pattern=_ENDPOINT, rule=rule)

    @model_validator(mode="after")
    def _check_source(self) -> Self:
        if self.source != "prometheus":
            return self
        kind = str(getattr(self, "kind", ""))
        if kind not in PROMQL_KINDS:
            message = (
                f"source 'prometheus' is not available for {kind} objectives: only "
                f"{' and '.join(PROMQL_KINDS)} have a PromQL SLI; remove it (the gate judges "
                "this one from the run directory)"
            )
            raise_issues("Objective", [(("source",), message, self.source)])
        threshold_ms = getattr(self, "threshold_ms", None)
        if kind == "latency" and threshold_ms is not None:
            bounds_ms = [b * 1000 for b in CLIENT_LATENCY_BUCKETS_S]
            if not any(abs(b - threshold_ms) <= 1e-9 * b for b in bounds_ms):
                listed = ", ".join(f"{b:g}" for b in bounds_ms)
                message = (
                    f"source 'prometheus' needs a threshold on a latency bucket boundary "
                    f"(ms: {listed}); {threshold_ms:g} ms is not one"
                )
                raise_issues("Objective", [(("threshold",), message, threshold_ms)])
        return self


During = Literal["all", "steady", "faults"]
"""When a request objective applies: the whole run; ``steady`` state, outside every fault
window and its recovery allowance (``slos.recoveryAllowance``); or ``faults``, inside
them. A fault is judged by its own objective, never by loosening the steady one."""


class LatencyObjective(_ObjectiveBase):
    """``percentile`` of the endpoint's latency must stay strictly below ``threshold``."""

    kind: Literal["latency"] = "latency"
    during: During = "all"
    percentile: float = Field(gt=0, le=100)
    threshold_ms: Threshold = Field(
        gt=0, validation_alias="threshold", serialization_alias="threshold"
    )


class ErrorRatioObjective(_ObjectiveBase):
    """Failed requests / all requests of the endpoint must be at most ``max``."""

    kind: Literal["error_ratio"] = "error_ratio"
    during: During = "all"
    max_ratio: float = Field(ge=0, le=1, validation_alias="max", serialization_alias="max")


class ThroughputObjective(_ObjectiveBase):
    """Achieved requests / planned requests of the endpoint must be at least ``minRatio``."""

    kind: Literal["throughput"] = "throughput"
    endpoint: str = ENDPOINT_PLACE_ORDER
    min_ratio: float = Field(gt=0, le=1)


class OversellObjective(_ObjectiveBase):
    """Units confirmed beyond the stock that existed must be at most ``max`` (normally 0)."""

    kind: Literal["oversell"] = "oversell"
    max_units: int = Field(
        default=0, ge=0, le=MAX_COUNT, validation_alias="max", serialization_alias="max"
    )


class DriftObjective(_ObjectiveBase):
    """Stock observations (truth, and views beyond their staleness allowance) outside the
    expected interval must be at most ``max`` (normally 0).

    ``tolerate`` names faults (experiments) whose drift is by design: an observation
    blamed only on those (during the fault or its recovery) is reported, not counted.
    A store offline is the case: its sales reach the truth when it reconnects.
    """

    kind: Literal["drift_outside_interval"] = "drift_outside_interval"
    max_count: int = Field(
        default=0, ge=0, le=MAX_COUNT, validation_alias="max", serialization_alias="max"
    )
    tolerate: tuple[str, ...] = ()


class ConvergenceLagObjective(_ObjectiveBase):
    """``percentile`` (50, 95, 99 or 100) of ack → every channel view reflects it must stay
    strictly below ``threshold``; an ack no view ever reflected fails it."""

    kind: Literal["convergence_lag"] = "convergence_lag"
    percentile: Literal[50, 95, 99, 100]
    threshold_ms: Threshold = Field(
        gt=0, validation_alias="threshold", serialization_alias="threshold"
    )


class UndersellObjective(_ObjectiveBase):
    """False "sold out" answers / order attempts must be at most ``max``."""

    kind: Literal["undersell_ratio"] = "undersell_ratio"
    max_ratio: float = Field(ge=0, le=1, validation_alias="max", serialization_alias="max")


class StoreReconcileObjective(_ObjectiveBase):
    """After every store outage (a ``store-offline`` fault) the sales the stores queued must
    all reach the source of truth strictly within ``threshold`` of the link coming back."""

    kind: Literal["store_reconcile"] = "store_reconcile"
    threshold_ms: Threshold = Field(
        gt=0, validation_alias="threshold", serialization_alias="threshold"
    )


class RecoveryObjective(_ObjectiveBase):
    """After each fault ends, the endpoint's latency and error SLIs must be back within
    their steady-state objectives strictly within ``threshold`` (worst fault counts).

    Recovered means: the first ``window`` after the fault whose requests (at least
    ``minRequests``) meet every steady-state latency objective of the endpoint and
    every steady-state error-ratio objective of the endpoint or of all requests.
    """

    kind: Literal["recovery"] = "recovery"
    endpoint: str = ENDPOINT_PLACE_ORDER
    threshold_ms: Threshold = Field(
        gt=0, validation_alias="threshold", serialization_alias="threshold"
    )
    # The window slides second by second over threshold + window after each fault;
    # ten minutes of healthy traffic is proof enough, and bounds that work.
    window_s: Annotated[Seconds, at_most_s(600)] = Field(
        default_factory=lambda: policy().recovery.window_s,
        gt=0,
        validation_alias="window",
        serialization_alias="window",
    )
    min_requests: int = Field(
        default_factory=lambda: policy().recovery.min_requests, ge=1, le=MAX_SAMPLES
    )


Objective = Annotated[
    LatencyObjective
    | ErrorRatioObjective
    | ThroughputObjective
    | OversellObjective
    | DriftObjective
    | ConvergenceLagObjective
    | UndersellObjective
    | StoreReconcileObjective
    | RecoveryObjective,
    Field(discriminator="kind"),
]
"""One SLO objective; ``kind`` says which."""


class Slos(PlanModel):
    """The objectives and how their results become a verdict."""

    on_inconclusive: Literal["fail", "pass"] = "fail"
    breach_exit_code: int = Field(default=int(ExitCode.BREACH), ge=1, le=125)
    min_samples: int = Field(default=100, ge=1, le=MAX_SAMPLES)
    objectives: tuple[Objective, ...] = Field(min_length=1)
    generator_max_cpu: float = Field(default=80.0, gt=0, le=100)
    """Load-generator CPU (percent of one core, mean over any 5 s) above which a run
    is inconclusive: the generator, not the target, may have set the latency."""
    generator_min_sent_ratio: float = Field(default=0.99, ge=0, le=1)
    """Share of planned arrivals that must have been sent for a conclusive run."""
    # An hour after a fault still belonging to it would exempt most of a run from the
    # steady-state objectives; real OMS failovers settle in seconds to minutes.
    recovery_allowance_s: Annotated[Seconds, at_most_s(3600)] = Field(
        default_factory=lambda: policy().faults.recovery_allowance_s,
        ge=0,
        validation_alias="recoveryAllowance",
        serialization_alias="recoveryAllowance",
    )
    """After a fault ends, this long still belongs to the fault (``during: faults``)."""
    data_quality: DataQuality = Field(default_factory=lambda: policy().data_quality)
    """How incomplete the measurements may be before the run is inconclusive."""
    alert_windows: str = DEFAULT_ALERT_WINDOWS
    """Burn-rate windows of the generated Prometheus alerts (``peakops alerts generate``):
    a window set shipped in ``alerts/windows/`` (``ALERT_WINDOWS``); ``rehearsal``
    compresses them for runs of minutes."""
    alert_min_events: int | None = Field(default=None, ge=1, le=MAX_SAMPLES)
    """Low-traffic guard of the generated alerts: an event-ratio alert fires only when
    its long window saw at least this many events (None: no guard)."""

    @field_validator("alert_windows")
    @classmethod
    def _check_alert_windows(cls, value: str) -> str:
        if value not in ALERT_WINDOWS:
            raise ValueError(
                f"unknown alert window set {value!r}: use one of {', '.join(ALERT_WINDOWS)}"
            )
        return value

    @field_validator("breach_exit_code")
    @classmethod
    def _check_exit_code(cls, value: int) -> int:
        if value in _RESERVED_EXIT_CODES:
            used_for = _RESERVED_EXIT_CODES[ExitCode(value)]
            raise ValueError(
                f"exit code {value} is reserved for {used_for}; use 1 or a code from 6 to 125"
            )
        return value

    @field_validator("objectives")
    @classmethod
    def _check_unique_ids(cls, value: tuple[Objective, ...]) -> tuple[Objective, ...]:
        first_index: dict[str, int] = {}
        problems = []
        for index, objective in enumerate(value):
            if objective.id in first_index:
                where = f"objectives[{first_index[objective.id]}]"
                message = f"duplicate SLO id {objective.id!r} (also used by {where})"
                problems.append(((index, objective.kind, "id"), message, objective.id))
            first_index.setdefault(objective.id, index)
        if problems:
            raise_issues("Slos", problems)
        return value

    @model_validator(mode="after")
    def _check_recovery(self) -> Self:
        problems: list[tuple[tuple[int, str, str], str, object]] = []
        for index, objective in enumerate(self.objectives):
            if not isinstance(objective, RecoveryObjective):
                continue
            allowance_ms = self.recovery_allowance_s * 1000
            if objective.threshold_ms > allowance_ms:
                message = (
                    f"threshold {objective.threshold_ms:g} ms exceeds slos.recoveryAllowance "
                    f"({allowance_ms:g} ms): steady-state objectives would judge a system "
                    "still allowed to recover"
                )
                problems.append(((index, "recovery", "threshold"), message, objective.threshold_ms))
            if not steady_objectives(self.objectives, objective.endpoint):
                message = (
                    f"recovery of {objective.endpoint!r} needs a steady-state latency objective "
                    "on that endpoint or an error_ratio objective on it or on '*'"
                )
                problems.append(((index, "recovery", "endpoint"), message, objective.endpoint))
        if problems:
            raise_issues("Slos", [(("objectives", *path), m, v) for path, m, v in problems])
        return self


def steady_objectives(
    objectives: tuple[Objective, ...], endpoint: str
) -> tuple[LatencyObjective | ErrorRatioObjective, ...]:
    """The steady-state objectives a ``recovery`` of ``endpoint`` returns to."""
    found: list[LatencyObjective | ErrorRatioObjective] = []
    for objective in objectives:
        if isinstance(objective, LatencyObjective | ErrorRatioObjective) and (
            objective.during != "faults"
        ):
            same = objective.endpoint == endpoint
            everything = isinstance(objective, ErrorRatioObjective) and (
                objective.endpoint == ALL_ENDPOINTS
            )
            if same or everything:
                found.append(objective)
    return tuple(found)

"""The plan (``peak.yaml``, ``apiVersion: peakops/v1``) as frozen, validated models.

The models know nothing of YAML: ``slo.loader`` parses the file and calls
``validate_plan``; everything after that sees only ``Plan``. The SLO models live in
``slo.objectives`` and are re-exported here. Fields are documented in
``docs/plan-file.md``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, Literal, Self

from pydantic import Field, ValidationError, field_validator, model_validator

from slo.conventions import CHANNELS, PROFILES, STORE_OFFLINE
from slo.durations import format_duration
from slo.errors import PlanError, PlanIssue
from slo.fields import TEXT_DURATIONS, PlanModel, Seconds, check_name
from slo.issues import LineLookup, issues_from_validation_error, raise_issues, show
from slo.objectives import (
    ErrorRatioObjective,
    LatencyObjective,
    Objective,
    Slos,
    ThroughputObjective,
)
from slo.policy import policy
from slo.target import Catalog, Probes, Target

__all__ = [
    "API_VERSION",
    "DEFAULT_CHANNEL_MIX",
    "Catalog",
    "ChaosStep",
    "ErrorRatioObjective",
    "LatencyObjective",
    "Load",
    "Objective",
    "Outputs",
    "Plan",
    "Platform",
    "Probes",
    "Rollback",
    "Slos",
    "Target",
    "ThroughputObjective",
    "plan_from_snapshot",
    "plan_snapshot",
    "validate_plan",
    "with_overrides",
]

API_VERSION: Final = "peakops/v1"
"""The one plan format this version of peakops reads."""

DEFAULT_CHANNEL_MIX: Final[Mapping[str, float]] = MappingProxyType(
    {"web": 0.4, "app": 0.3, "store": 0.2, "marketplace": 0.1}
)
"""Share of journeys per sales channel when a plan gives no ``load.channels``."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_NAME_RULE = "use letters, digits, '.', '-' and '_' (at most 63), starting with a letter or digit"
_K8S_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_K8S_RULE = "use a Kubernetes name: lowercase letters, digits and '-', at most 63"


class Platform(PlanModel):
    """Where faults and rollbacks land: local processes or a Kubernetes deployment."""

    kind: Literal["local", "kubernetes"] = "local"
    namespace: str | None = None
    deployment: str | None = None

    @field_validator("namespace", "deployment")
    @classmethod
    def _check_k8s_name(cls, value: str | None) -> str | None:
        if value is not None:
            check_name(value, what="name", pattern=_K8S_NAME, rule=_K8S_RULE)
        return value

    @model_validator(mode="after")
    def _check_kubernetes(self) -> Self:
        if self.kind == "kubernetes":
            missing = [key for key in ("namespace", "deployment") if getattr(self, key) is None]
            message = "missing required field (needed with kind: kubernetes)"
            if missing:
                raise_issues("Platform", [((key,), message, None) for key in missing])
        return self


class Load(PlanModel):
    """The order flood: traffic profile, model, rates, duration, concurrency and mix.

    Rates are shopper orders per minute (one journey places one order). The profile
    moves the rate between ``baseline_per_min`` (level 0) and ``peak_rate_per_min``
    (level 1) over the run.
    """

    profile: str = "bfcm"
    mode: Literal["open", "closed"] = "open"
    scenario: Literal["shoppers", "url"] = "shoppers"
    """``shoppers``: retail journeys against an OMS. ``url``: each arrival GETs the
    target's ``baseUrl`` once (an ad-hoc flood, like wrk2 ``-R``); rates are then
    requests per minute."""
    duration_s: Seconds = Field(gt=0, validation_alias="duration", serialization_alias="duration")
    baseline_per_min: float = Field(
        gt=0, validation_alias="baseline", serialization_alias="baseline"
    )
    peak_per_min: float | None = Field(
        default=None, gt=0, validation_alias="peak", serialization_alias="peak"
    )
    peak_multiplier: float = Field(default=3.0, ge=1)
    compression: float | None = Field(default=None, gt=0)
    arrivals: Literal["poisson", "uniform"] = "poisson"
    max_concurrency: int = Field(default=256, ge=1)
    users: int = Field(default=20, ge=1)
    target_orders_per_min: float | None = Field(
        default=None,
        gt=0,
        validation_alias="targetOrdersPerMinute",
        serialization_alias="targetOrdersPerMinute",
    )
    channels: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_CHANNEL_MIX))
    cancel_ratio: float = Field(default=0.1, ge=0, le=1)
    zipf: float = Field(default=1.1, ge=0)
    seed: int = 1
    trace_sample_ratio: float = Field(default=0.1, ge=0, le=1)
    """Share of requests traced (exported spans); every request carries a
    ``traceparent`` either way. A traced request costs ~80-120 µs of load-generator CPU."""
    max_traces_per_second: float = Field(default=50.0, gt=0)
    """Cap on traced requests per second per load process, so tracing stays cheap at
    any rate (docs/benchmarks.md)."""

    @property
    def peak_rate_per_min(self) -> float:
        """Orders per minute at the profile's peak: ``peak``, else baseline * peakMultiplier."""
        if self.peak_per_min is not None:
            return self.peak_per_min
        return self.baseline_per_min * self.peak_multiplier

    @field_validator("profile")
    @classmethod
    def _check_profile(cls, value: str) -> str:
        if value not in PROFILES:
            raise ValueError(f"unknown profile {value!r} (expected one of: {', '.join(PROFILES)})")
        return value

    @model_validator(mode="after")
    def _check_peak(self) -> Self:
        peak, baseline = self.peak_per_min, self.baseline_per_min
        if peak is not None and peak < baseline:
            message = f"peak ({show(peak)}) must not be below baseline ({show(baseline)})"
            raise_issues("Load", [(("peak",), message, peak)])
        return self

    @field_validator("channels")
    @classmethod
    def _check_channels(cls, value: dict[str, float]) -> dict[str, float]:
        expected = ", ".join(CHANNELS)
        problems: list[tuple[tuple[str | int, ...], str, object]] = [
            ((name,), f"unknown channel {name!r} (expected one of: {expected})", name)
            for name in value
            if name not in CHANNELS
        ]
        problems += [
            ((name,), f"expected a weight >= 0, got {show(weight)}", weight)
            for name, weight in value.items()
            if weight < 0
        ]
        if not problems and sum(value.values()) <= 0:
            problems.append(((), "channel weights must not all be zero", show(value)))
        if problems:
            raise_issues("Load", problems)
        return value


class ChaosStep(PlanModel):
    """One Chaos Toolkit experiment, started ``offset`` after the load starts."""

    experiment: str
    offset_s: Seconds = Field(ge=0, validation_alias="offset", serialization_alias="offset")
    duration_s: Seconds | None = Field(
        default=None, gt=0, validation_alias="duration", serialization_alias="duration"
    )
    stop_burn_rate: float = Field(default_factory=lambda: policy().chaos.stop_burn_rate, gt=0)
    """Stop condition: halt and roll back once the flood fails this many times faster
    than the error-ratio SLO allows (measured over 1 s while the fault is active)."""

    @field_validator("experiment")
    @classmethod
    def _check_experiment(cls, value: str) -> str:
        return check_name(value, what="experiment name", pattern=_NAME, rule=_NAME_RULE)


class Rollback(PlanModel):
    """Whether a breached verdict rolls the release back, and to which revision."""

    enabled: bool = False
    to_revision: str | None = None

    @field_validator("to_revision", mode="before")
    @classmethod
    def _revision_as_text(cls, value: object) -> object:
        # ``toRevision: 3`` is a natural way to write a Kubernetes revision number.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class Outputs(PlanModel):
    """What a run writes besides the run directory's records."""

    run_dir: str = Field(default="runs", min_length=1)
    junit: bool = True
    summary: bool = True


class Plan(PlanModel):
    """A whole peak rehearsal: target, platform, load, SLOs, chaos, rollback, outputs."""

    api_version: Literal["peakops/v1"]
    name: str = "peak-rehearsal"
    target: Target
    platform: Platform = Platform()
    load: Load
    slos: Slos
    chaos: tuple[ChaosStep, ...] = ()
    rollback: Rollback = Rollback()
    outputs: Outputs = Outputs()

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return check_name(value, what="plan name", pattern=_NAME, rule=_NAME_RULE)

    @model_validator(mode="after")
    def _check_chaos_in_window(self) -> Self:
        end = self.load.duration_s
        problems: list[tuple[tuple[str | int, ...], str, object]] = [
            (("chaos", index, "offset"), _late_step_message(step.offset_s, end), step.offset_s)
            for index, step in enumerate(self.chaos)
            if step.offset_s >= end
        ]
        problems += [
            (("chaos", index, "experiment"), _NEEDS_A_STORE, step.experiment)
            for index, step in enumerate(self.chaos)
            if step.experiment == STORE_OFFLINE
            and self.target.kind == "embedded"
            and self.target.stores == 0
        ]
        if problems:
            raise_issues("Plan", problems)
        return self

    @model_validator(mode="after")
    def _check_url_scenario(self) -> Self:
        if self.load.scenario == "url" and self.target.kind != "url":
            message = "scenario url needs target.kind: url (the URL to flood)"
            raise_issues("Plan", [(("load", "scenario"), message, self.load.scenario)])
        return self


_NEEDS_A_STORE = (
    f"{STORE_OFFLINE!r} cuts store-1's link to inventory: set target.stores to 1 or more"
)


def _late_step_message(offset_s: float, end_s: float) -> str:
    offset, end = format_duration(offset_s), format_duration(end_s)
    return f"offset {offset} is not before the end of the load ({end})"


def validate_plan(data: object, *, source: str, line_of: LineLookup | None = None) -> Plan:
    """Check the version of parsed plan data, then build the ``Plan``.

    ``data`` is what YAML or JSON parsing produced; durations must be strings.
    ``line_of`` maps a field path to its source line. Raises ``PlanError`` listing
    every problem.
    """
    if not isinstance(data, Mapping):
        message = f"expected a mapping with apiVersion: {API_VERSION}, got {show(data)}"
        raise PlanError.single(source, message, line=line_of(()) if line_of else None)
    _check_api_version(data, source, line_of)
    try:
        return Plan.model_validate(data, context=TEXT_DURATIONS)
    except ValidationError as err:
        issues = issues_from_validation_error(err, root=Plan, source=source, line_of=line_of)
        raise PlanError(issues) from err


def _check_api_version(data: Mapping[Any, Any], source: str, line_of: LineLookup | None) -> None:
    version = data.get("apiVersion")
    if "apiVersion" not in data:
        message = f"missing required field (expected {API_VERSION})"
    elif version != API_VERSION:
        message = f"unsupported apiVersion {show(version)} (supported: {API_VERSION})"
    else:
        return
    line = line_of(("apiVersion",)) if line_of else None
    value = None if "apiVersion" not in data else show(version)
    raise PlanError([PlanIssue(source, line, "apiVersion", value, message)])


def plan_snapshot(plan: Plan) -> dict[str, Any]:
    """The plan as JSON-able data with YAML keys; ``plan_from_snapshot`` reads it back."""
    return plan.model_dump(mode="json", by_alias=True)


def plan_from_snapshot(data: Mapping[str, Any], source: str) -> Plan:
    """Rebuild a plan from ``plan_snapshot`` data (e.g. ``run.json``), fully re-validated.

    Errors are reported like the loader's, naming ``source`` but no line.
    """
    return validate_plan(data, source=source)


def with_overrides(
    plan: Plan,
    *,
    duration_s: float | None = None,
    oms_version: str | None = None,
    profile: str | None = None,
    baseline_per_min: float | None = None,
    peak_per_min: float | None = None,
) -> Plan:
    """A new plan with command-line overrides applied and everything re-validated.

    Raises ``PlanError`` (source ``overrides``) when an override is invalid.
    """
    data = plan_snapshot(plan)
    load_overrides = {
        "duration": duration_s,
        "profile": profile,
        "baseline": baseline_per_min,
        "peak": peak_per_min,
    }
    data["load"].update({key: value for key, value in load_overrides.items() if value is not None})
    if oms_version is not None:
        data["target"]["omsVersion"] = oms_version
    try:
        # Not validate_plan: overrides are numbers, so durations need not be text here.
        return Plan.model_validate(data)
    except ValidationError as err:
        issues = issues_from_validation_error(err, root=Plan, source="overrides")
        raise PlanError(issues) from err

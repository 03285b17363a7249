"""The plan (``peak.yaml``, ``apiVersion: peakops/v1``) as frozen, validated models.

The models know nothing of YAML: ``slo.loader`` parses the file and calls
``validate_plan``; everything after that sees only ``Plan``. The SLO models live in
``slo.objectives``, the load block in ``slo.load_plan``, the release in
``slo.release_plan``; all are re-exported here. Fields are documented in
``docs/plan-file.md``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, Literal, Self

from pydantic import Field, ValidationError, field_validator, model_validator

from slo.chaos_steps import ChaosStep, step_problems
from slo.collect_model import Canary, Collect
from slo.conventions import EXPERIMENTS_TIMED
from slo.errors import PlanError, PlanIssue
from slo.fields import TEXT_DURATIONS, PlanModel, check_name
from slo.hosts import url_host
from slo.issues import LineLookup, Loc, issues_from_validation_error, raise_issues, show
from slo.load_plan import DEFAULT_CHANNEL_MIX, MAX_DURATION_S, MAX_RATE_PER_MIN, Load
from slo.monitoring_plan import Monitoring, with_rehearsal_windows
from slo.objectives import (
    ErrorRatioObjective,
    LatencyObjective,
    Objective,
    Slos,
    ThroughputObjective,
)
from slo.regression import Regression
from slo.release_plan import Deploy, Rollback, release_problems
from slo.target import Catalog, Probes, Target

__all__ = [
    "API_VERSION",
    "DEFAULT_CHANNEL_MIX",
    "MAX_DURATION_S",
    "MAX_RATE_PER_MIN",
    "Canary",
    "Catalog",
    "ChaosStep",
    "Collect",
    "Deploy",
    "ErrorRatioObjective",
    "LatencyObjective",
    "Load",
    "Monitoring",
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
    deploy: Deploy | None = None
    """A release shipped under load (slo.release_plan)."""
    rollback: Rollback = Rollback()
    outputs: Outputs = Outputs()
    collect: Collect = Collect()
    """The peak-day collector (``peakops collect``): slo.collect_model, docs/collect.md."""
    monitoring: Monitoring = Monitoring()
    """Prometheus and Alertmanager beside a rehearsal: slo.monitoring_plan, docs/alerts.md."""
    regression: Regression | None = None
    """Limits against a baseline run (``gate --baseline``): slo.regression, docs/ci.md."""

    @model_validator(mode="before")
    @classmethod
    def _resolve_alert_windows(cls, data: object) -> object:
        return with_rehearsal_windows(data)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return check_name(value, what="plan name", pattern=_NAME, rule=_NAME_RULE)

    @model_validator(mode="after")
    def _check_chaos(self) -> Self:
        problems: list[tuple[Loc, str, object]] = []
        for index, step in enumerate(self.chaos):
            problems += [
                (("chaos", index, *loc), message, value)
                for loc, message, value in step_problems(
                    step,
                    load_s=self.load.duration_s,
                    platform=self.platform.kind,
                    target=self.target,
                )
            ]
        if problems:
            raise_issues("Plan", problems)
        return self

    @model_validator(mode="after")
    def _check_prometheus_host(self) -> Self:
        url = self.monitoring.prometheus_url
        if url is not None and url_host(url) not in self.target.allow_hosts:
            message = (
                f"host {url_host(url)!r} is not in target.allowHosts "
                f"({', '.join(self.target.allow_hosts)}): add it there"
            )
            raise_issues("Plan", [(("monitoring", "prometheusUrl"), message, url)])
        return self

    @model_validator(mode="after")
    def _check_release(self) -> Self:
        problems = release_problems(
            self.deploy, self.rollback, target=self.target.kind,
            platform=self.platform.kind, load_s=self.load.duration_s,
        )  # fmt: skip
        if problems:
            raise_issues("Plan", problems)
        return self

    @model_validator(mode="after")
    def _check_url_scenario(self) -> Self:
        if self.load.scenario == "url" and self.target.kind != "url":
            message = "scenario url needs target.kind: url (the URL to flood)"
            raise_issues("Plan", [(("load", "scenario"), message, self.load.scenario)])
        return self


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

    Errors are reported like the loader's, naming ``source`` but no line. Snapshots
    written before chaos steps had to say their duration are read as they ran.
    """
    return validate_plan(_as_run(data), source=source)


_FORMER_DEFAULT_DURATION = "10s"
"""What a timed experiment held its fault for when its step gave no duration (the
experiment files' ``peakops_duration_s`` default), before plans had to say."""


def _as_run(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """An older snapshot's chaos steps as they ran: a timed step without a duration held
    its fault for 10 s; a duration on a one-shot step was ignored."""
    steps = data.get("chaos")
    if not isinstance(steps, list):
        return data
    upgraded: list[object] = []
    for step in steps:
        if isinstance(step, Mapping) and step.get("duration") is None:
            if step.get("experiment") in EXPERIMENTS_TIMED:
                step = {**step, "duration": _FORMER_DEFAULT_DURATION}
        elif isinstance(step, Mapping) and step.get("experiment") not in EXPERIMENTS_TIMED:
            step = {**step, "duration": None}
        upgraded.append(step)
    return {**data, "chaos": upgraded}


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

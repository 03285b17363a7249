"""The shipped policy (``slo/data/policy.yaml``): tunables that are data, not code.

Burn-rate thresholds, grace periods, recovery windows, drift and data-quality defaults.
Read once, on first use (importing this module reads nothing), into a frozen model;
plan fields that override a default take it from here.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml
from pydantic import Field, ValidationError

from slo.fields import TEXT_DURATIONS, PlanModel, Seconds

__all__ = ["ChaosPolicy", "DataQuality", "DriftPolicy", "Policy", "policy"]


class ChaosPolicy(PlanModel):
    stop_burn_rate: float = Field(gt=0)
    stop_window_s: Seconds = Field(gt=0, alias="stopWindow")
    load_start_timeout_s: Seconds = Field(gt=0, alias="loadStartTimeout")
    child_grace_s: Seconds = Field(gt=0, alias="childGrace")
    rollback_grace_s: Seconds = Field(gt=0, alias="rollbackGrace")


class FaultsPolicy(PlanModel):
    recovery_allowance_s: Seconds = Field(ge=0, alias="recoveryAllowance")


class RecoveryPolicy(PlanModel):
    window_s: Seconds = Field(gt=0, alias="window")
    min_requests: int = Field(ge=1)


class DriftPolicy(PlanModel):
    view_staleness_s: Seconds = Field(ge=0, alias="viewStaleness")
    lag_resolution_s: Seconds = Field(gt=0, alias="lagResolution")
    reorder_window_s: Seconds = Field(gt=0, alias="reorderWindow")


class DataQuality(PlanModel):
    """How incomplete a run's measurements may be before its verdict is inconclusive."""

    max_probe_error_ratio: float = Field(ge=0, le=1)
    max_unresolved_ratio: float = Field(ge=0, le=1)
    max_unjudged_ratio: float = Field(ge=0, le=1)


class LoadPolicy(PlanModel):
    grace_s: Seconds = Field(gt=0, alias="grace")


class RehearsalPolicy(PlanModel):
    start_timeout_s: Seconds = Field(gt=0, alias="startTimeout")
    gate_timeout_s: Seconds = Field(gt=0, alias="gateTimeout")


class Policy(PlanModel):
    chaos: ChaosPolicy
    faults: FaultsPolicy
    recovery: RecoveryPolicy
    drift: DriftPolicy
    data_quality: DataQuality
    load: LoadPolicy
    rehearsal: RehearsalPolicy


@cache
def policy() -> Policy:
    """The shipped policy (read once). A broken file is a bug of the package: it raises."""
    text = resources.files("slo").joinpath("data/policy.yaml").read_text(encoding="utf-8")
    try:
        return Policy.model_validate(yaml.safe_load(text), context=TEXT_DURATIONS)
    except ValidationError as err:  # shipped data, not user input
        raise RuntimeError(f"slo/data/policy.yaml is invalid: {err}") from err

"""One step of a plan's ``chaos:`` list, and what stops it from running as planned.

A step names an experiment of ``chaos/experiments/`` (``slo.conventions.EXPERIMENTS``);
timed ones hold their fault for a ``duration`` that must end inside the load; some
need a platform kind or a store. ``slo.plan.Plan`` checks every step with
``step_problems``.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, field_validator, model_validator

from slo.conventions import (
    EXPERIMENTS,
    EXPERIMENTS_KUBERNETES_ONLY,
    EXPERIMENTS_LOCAL_ONLY,
    EXPERIMENTS_TIMED,
    STORE_OFFLINE,
)
from slo.durations import format_duration
from slo.fields import PlanModel, Seconds
from slo.issues import Loc, raise_issues, show
from slo.policy import policy
from slo.target import Target

__all__ = ["ChaosStep", "step_problems"]


class ChaosStep(PlanModel):
    """One Chaos Toolkit experiment, started ``offset`` after the load starts."""

    experiment: str
    """One of ``slo.conventions.EXPERIMENTS`` (the files in ``chaos/experiments/``)."""
    offset_s: Seconds = Field(ge=0, validation_alias="offset", serialization_alias="offset")
    duration_s: Seconds | None = Field(
        default=None, gt=0, validation_alias="duration", serialization_alias="duration"
    )
    """How long a timed experiment (``EXPERIMENTS_TIMED``) holds its fault: required
    for those, refused for the others. Offset plus duration must fit in the load."""
    # 1000x the budget: with a 0.1 % error budget that is a 100 % error ratio, so a
    # larger rate could never stop anything and only reads as "stop enabled".
    stop_burn_rate: float = Field(
        default_factory=lambda: policy().chaos.stop_burn_rate, gt=0, le=1000
    )
    """Stop condition: halt and roll back once the flood fails (or is slow) this many times
    faster than the steady-state SLOs allow (over 5 s windows while the fault is active)."""

    @field_validator("experiment")
    @classmethod
    def _check_experiment(cls, value: str) -> str:
        if value not in EXPERIMENTS:
            known = ", ".join(EXPERIMENTS)
            raise ValueError(f"unknown experiment {show(value)} (known: {known})")
        return value

    @model_validator(mode="after")
    def _check_duration(self) -> Self:
        name = self.experiment
        if name in EXPERIMENTS_TIMED and self.duration_s is None:
            message = (
                f"missing required field ({name} holds its fault for a duration, "
                "e.g. duration: 10s)"
            )
            raise_issues("ChaosStep", [(("duration",), message, None)])
        if name not in EXPERIMENTS_TIMED and self.duration_s is not None:
            message = f"{name} takes no duration: it acts once and the platform heals it"
            value = format_duration(self.duration_s)
            raise_issues("ChaosStep", [(("duration",), message, value)])
        return self


_NEEDS_A_STORE = (
    f"{STORE_OFFLINE!r} cuts store-1's link to inventory: set target.stores to 1 or more"
)


def step_problems(
    step: ChaosStep, *, load_s: float, platform: str, target: Target
) -> list[tuple[Loc, str, object]]:
    """What stops one chaos step from running as planned in a plan (``load_s``: the
    load's duration; ``platform``: ``plan.platform.kind``)."""
    problems: list[tuple[Loc, str, object]] = []
    name, offset, duration = step.experiment, step.offset_s, step.duration_s
    end = format_duration(load_s)
    if offset >= load_s:
        message = f"offset {format_duration(offset)} is not before the end of the load ({end})"
        problems.append((("offset",), message, format_duration(offset)))
    elif duration is not None and offset + duration > load_s:
        # A fault still held when the load stops is judged by no request, and its
        # recovery is never seen: it must end inside the load.
        message = (
            f"offset {format_duration(offset)} + duration {format_duration(duration)} "
            f"ends after the load ({end}): shorten the fault, start it earlier, "
            "or lengthen the load"
        )
        problems.append((("duration",), message, format_duration(duration)))
    if name in EXPERIMENTS_KUBERNETES_ONLY and platform != "kubernetes":
        message = (
            f"{name!r} needs platform.kind: kubernetes (it deletes the pods of a zone; "
            "local processes have no zones)"
        )
        problems.append((("experiment",), message, name))
    if name in EXPERIMENTS_LOCAL_ONLY and platform != "local":
        message = (
            f"{name!r} needs platform.kind: local (it works through the local fault proxy; "
            "a NetworkPolicy can only cut a link: use network-cut)"
        )
        problems.append((("experiment",), message, name))
    if name == STORE_OFFLINE and target.kind == "embedded" and target.stores == 0:
        problems.append((("experiment",), _NEEDS_A_STORE, name))
    return problems

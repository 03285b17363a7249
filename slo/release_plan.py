"""The release half of a plan: a deploy under load, and when a breach rolls it back.

``deploy: {version: v2, offset: 20s}`` ships ``version`` on the local platform
``offset`` after the load starts, the way a real release lands during peak traffic.
``rollback`` says what a breach does::

    rollback:
      on: fail                # fail: a breach rolls back; never (the default): it does not
      requireConclusive: true # the end-of-run gate rolls back only on a conclusive fail
      maxPerRevision: 1       # rollbacks away from one revision, ever
      cooldown: 5m            # between two automatic rollbacks
      recoverWithin: 10s      # after the rollback, the steady SLOs must hold again this soon
      probe: 10s              # a rollback after the flood is followed by a flood this long
      analysis: {interval: 2s, window: 10s, failures: 2, successes: 2, minSamples: 20}

``analysis`` is the in-flood judgement (``rollout.analysis``): every ``interval``, the
latency and error-ratio objectives over the last ``window``; ``failures`` failing
intervals in a row make a breach certain and roll back at once. ``enabled: true`` (the
older form) means ``on: fail``. Documented in docs/plan-file.md and docs/rollback.md.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from slo.fields import PlanModel, Seconds

__all__ = ["EMBEDDED_VERSIONS", "Analysis", "Deploy", "Rollback", "release_problems"]

EMBEDDED_VERSIONS = ("v1", "v2")
"""The versions of the embedded reference OMS (v2: the regression)."""

Problem = tuple[tuple[str | int, ...], str, object]


class Deploy(PlanModel):
    """Ship ``version`` on the local platform ``offset`` after the load starts."""

    version: str = Field(min_length=1, max_length=63)
    offset_s: Seconds = Field(ge=0, validation_alias="offset", serialization_alias="offset")


class Analysis(PlanModel):
    """The in-flood analysis that decides a breach is certain (see the module doc)."""

    interval_s: Seconds = Field(
        default=2.0, gt=0, le=600, validation_alias="interval", serialization_alias="interval"
    )
    window_s: Seconds = Field(
        default=10.0, gt=0, le=3600, validation_alias="window", serialization_alias="window"
    )
    failures: int = Field(default=2, ge=1, le=100)
    successes: int = Field(default=2, ge=1, le=100)
    min_samples: int = Field(default=20, ge=1, le=1_000_000)


class Rollback(PlanModel):
    """Whether a breach rolls the release back, how often, and what recovery must show."""

    enabled: bool = False
    on: Literal["fail", "never"] = "never"
    to_revision: str | None = None
    require_conclusive: bool = True
    max_per_revision: int = Field(default=1, ge=1, le=100)
    cooldown_s: Seconds = Field(
        default=300.0, ge=0, validation_alias="cooldown", serialization_alias="cooldown"
    )
    recover_within_s: Seconds = Field(
        default=10.0, gt=0, validation_alias="recoverWithin", serialization_alias="recoverWithin"
    )
    probe_s: Seconds = Field(
        default=10.0, gt=0, le=600, validation_alias="probe", serialization_alias="probe"
    )
    analysis: Analysis = Analysis()

    @field_validator("to_revision", mode="before")
    @classmethod
    def _revision_as_text(cls, value: object) -> object:
        # ``toRevision: 3`` is a natural way to write a Kubernetes revision number.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="before")
    @classmethod
    def _enabled_means_on_fail(cls, data: object) -> object:
        # YAML 1.2 reads ``enabled: yes`` as the text "yes": true to the field, so here too.
        if (
            isinstance(data, dict)
            and "on" not in data
            and str(data.get("enabled")).lower() in {"true", "yes", "on", "y", "t", "1"}
        ):
            return {**data, "on": "fail"}
        return data

    @property
    def active(self) -> bool:
        """Whether a breach rolls back."""
        return self.on == "fail"


def release_problems(
    deploy: Deploy | None, rollback: Rollback, *, target: str, platform: str, load_s: float
) -> list[Problem]:
    """What cannot work in this plan's release half, as (field path, message, value)."""
    problems: list[Problem] = []
    if deploy is not None:
        if target != "embedded" or platform != "local":
            message = "a deploy under load needs target.kind: embedded on platform.kind: local"
            problems.append((("deploy",), message, deploy.version))
        elif deploy.version not in EMBEDDED_VERSIONS:
            known = ", ".join(EMBEDDED_VERSIONS)
            message = f"unknown version of the embedded OMS {deploy.version!r} (known: {known})"
            problems.append((("deploy", "version"), message, deploy.version))
        if deploy.offset_s >= load_s:
            message = f"must be within the load ({load_s:g} s): the deploy lands under load"
            problems.append((("deploy", "offset"), message, deploy.offset_s))
    if rollback.active and target == "url" and platform == "local":
        message = "a url target cannot be rolled back by peakops: use platform.kind: kubernetes"
        problems.append((("rollback", "on"), message, rollback.on))
    return problems

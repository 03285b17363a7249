"""Building blocks of the plan models: the shared model config, duration fields, name checks.

Durations are written as strings in YAML (``60s``, ``250ms``) and stored as numbers
(seconds, or milliseconds for latency thresholds). Python code may pass numbers
directly; plan files and snapshots must use strings, so that ``threshold: 250`` is
never silently read as 250 ms or 250 s. ``TEXT_DURATIONS`` is the validation context
that enforces this.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Annotated, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    ValidationInfo,
)
from pydantic.alias_generators import to_camel

from slo.durations import format_duration, format_duration_ms, parse_duration, parse_duration_ms
from slo.issues import raise_issues, show

__all__ = [
    "TEXT_DURATIONS",
    "Milliseconds",
    "PlanModel",
    "Seconds",
    "at_most_ms",
    "at_most_s",
    "check_name",
]

TEXT_DURATIONS: Final[Mapping[str, bool]] = MappingProxyType({"text_durations": True})
"""Validation context for plan files and snapshots: durations must be strings."""

_DURATION_HINT = "use a number and a unit, e.g. 250ms, 30s, 5m"


class PlanModel(BaseModel):
    """Base of every plan model: frozen, camelCase YAML keys, unknown keys rejected."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
    )


def _duration(parse: Callable[[str], float]) -> Callable[[object, ValidationInfo], object]:
    def validate(value: object, info: ValidationInfo) -> object:
        if isinstance(value, str):
            return parse(value)
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        text_only = bool(info.context and info.context.get("text_durations"))
        if is_number and not text_only:
            return value
        raise ValueError(f"invalid duration {show(value)}: {_DURATION_HINT}")

    return validate


def _serializer(write: Callable[[float], str]) -> PlainSerializer:
    return PlainSerializer(write, return_type=str, when_used="json")


Seconds = Annotated[float, BeforeValidator(_duration(parse_duration)), _serializer(format_duration)]
"""A duration in seconds, written ``60s`` / ``1h30m`` in YAML."""

Milliseconds = Annotated[
    float, BeforeValidator(_duration(parse_duration_ms)), _serializer(format_duration_ms)
]
"""A duration in milliseconds, written ``250ms`` / ``1.5s`` in YAML."""


def at_most_s(limit_s: float) -> AfterValidator:
    """Upper bound of a ``Seconds`` field, reported in duration units (``at most 10m``
    reads better than ``at most 600``): ``Annotated[Seconds, at_most_s(600)]``."""
    return AfterValidator(_at_most(limit_s, format_duration))


def at_most_ms(limit_ms: float) -> AfterValidator:
    """Upper bound of a ``Milliseconds`` field, reported in duration units."""
    return AfterValidator(_at_most(limit_ms, format_duration_ms))


def _at_most(limit: float, write: Callable[[float], str]) -> Callable[[float], float]:
    def check(value: float) -> float:
        if value > limit:
            got = write(value)
            raise_issues("duration", [((), f"expected at most {write(limit)}, got {got}", got)])
        return value

    return check


def check_name(value: str, *, what: str, pattern: re.Pattern[str], rule: str) -> str:
    """Return ``value`` if it matches ``pattern``, else raise a ``ValueError`` naming it."""
    if not pattern.fullmatch(value):
        raise ValueError(f"invalid {what} {value!r}: {rule}")
    return value

"""Regression limits against a baseline run (``regression:`` in the plan) and their judgement.

Pure. The plan says how much worse than a baseline run a run may be, per endpoint:
latency percentiles relative (``p99: +10%``) or absolute (``p99: +25ms``), the error
ratio in percentage points (``errorRatio: +0.5pp``), throughput as a relative drop
(``throughput: -5%``), and oversold units as a count (``oversell: +0``).
``judge_regression`` turns two runs' figures into one evaluation per limit and
endpoint (kind ``regression``), which the verdict judges like any objective.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Final, Literal

from pydantic import BeforeValidator, Field, PlainSerializer, field_validator

from slo.durations import format_duration_ms, parse_duration_ms
from slo.evaluation import Evaluation, Status, describe, number
from slo.fields import PlanModel, check_name
from slo.objectives import (
    MAX_COUNT,
    ErrorRatioObjective,
    LatencyObjective,
    Objective,
    RecoveryObjective,
    ThroughputObjective,
)
from slo.stats import ALL_ENDPOINTS

__all__ = [
    "KIND",
    "LATENCY_METRICS",
    "Change",
    "EndpointFigures",
    "Regression",
    "RunFigures",
    "judge_regression",
    "regression_endpoints",
]

KIND: Final = "regression"
"""The ``kind`` of every evaluation this module makes."""

LATENCY_METRICS: Final = ("p50", "p95", "p99")
"""The latency percentiles a plan may limit, as written in the plan (``p99``)."""

_MAX_PERCENT = 1000.0
_MAX_DELTA_MS = 3_600_000.0
_CHANGE = re.compile(r"([+-]?)\s*(\d+(?:\.\d+)?)\s*(%|pp)")
_ENDPOINT = re.compile(r"\*|[A-Z]+ /\S*")


@dataclass(frozen=True)
class Change:
    """How much worse a figure may get: ``amount`` in ``unit``.

    ``%`` relative to the baseline, ``ms`` absolute latency, ``pp`` percentage points
    of a ratio, ``units`` a count. Always a magnitude (never negative): the direction
    that is worse is the metric's (latency up, throughput down).
    """

    amount: float
    unit: Literal["%", "ms", "pp", "units"]
    sign: Literal["+", "-"] = "+"

    def __str__(self) -> str:
        if self.unit == "ms":
            return f"+{format_duration_ms(self.amount)}"
        if self.unit == "units":
            return f"+{number(self.amount)}"
        return f"{self.sign}{number(self.amount)}{self.unit}"


def _parse(
    allowed: tuple[str, ...], sign: Literal["+", "-"], example: str
) -> Callable[[object], object]:
    """A validator reading ``+10%`` / ``+25ms`` / ``+0.5pp`` / ``-5%`` into a ``Change``."""

    def parse(value: object) -> object:
        if isinstance(value, Change):
            return value
        if not isinstance(value, str):
            raise ValueError(f"expected a change such as {example}, got {value!r}")
        text = value.strip()
        got_sign, amount, unit = _split(text, allowed, example)
        if got_sign and got_sign != sign:
            worse = "grow" if sign == "+" else "drop"
            raise ValueError(f"{text!r}: the limit is how much it may {worse}: write {example}")
        # A drop of more than 100 % or more than 100 points of a ratio means nothing.
        bounded = unit == "pp" or sign == "-"
        limit = _MAX_DELTA_MS if unit == "ms" else (100.0 if bounded else _MAX_PERCENT)
        if amount > limit:
            shown = format_duration_ms(limit) if unit == "ms" else f"{number(limit)}{unit}"
            raise ValueError(f"{text!r}: expected at most {sign}{shown}")
        return Change(amount, unit, sign)  # type: ignore[arg-type]

    return parse


def _split(text: str, allowed: tuple[str, ...], example: str) -> tuple[str, float, str]:
    match = _CHANGE.fullmatch(text)
    if match is not None and match.group(3) in allowed:
        return match.group(1), float(match.group(2)), match.group(3)
    if "ms" in allowed:
        sign, rest = (text[0], text[1:]) if text[:1] in "+-" else ("", text)
        try:
            return sign, parse_duration_ms(rest.strip()), "ms"
        except ValueError:
            pass
    raise ValueError(f"invalid limit {text!r}: write {example}")


def _parse_units(value: object) -> object:
    """``oversell: +0`` (YAML reads ``+3`` as the number 3) or ``"+3"``."""
    if isinstance(value, Change):
        return value
    if isinstance(value, str) and re.fullmatch(r"\+?\d+", value.strip()):
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected a count of units such as +0, got {value!r}")
    if not 0 <= value <= MAX_COUNT:
        raise ValueError(f"expected a count from +0 to +{MAX_COUNT}, got {value}")
    return Change(float(value), "units")


def _text(change: Change) -> str:
    return str(change)


_Written = PlainSerializer(_text, return_type=str, when_used="json")
LatencyLimit = Annotated[
    Change, BeforeValidator(_parse(("%", "ms"), "+", "+10% or +25ms")), _Written
]
PointsLimit = Annotated[
    Change, BeforeValidator(_parse(("pp",), "+", "+0.5pp (percentage points)")), _Written
]
DropLimit = Annotated[Change, BeforeValidator(_parse(("%",), "-", "-5%")), _Written]
UnitsLimit = Annotated[Change, BeforeValidator(_parse_units), PlainSerializer(
    lambda change: int(change.amount), return_type=int, when_used="json")]  # fmt: skip


class Regression(PlanModel):
    """How much worse than a baseline run this run may be (``peakops gate --baseline``)."""

    p50: LatencyLimit | None = None
    p95: LatencyLimit | None = None
    p99: LatencyLimit | None = None
    error_ratio: PointsLimit | None = None
    throughput: DropLimit | None = None
    oversell: UnitsLimit | None = None
    endpoints: tuple[str, ...] | None = Field(default=None, min_length=1)
    """Endpoints compared; None: those the plan's request objectives name."""

    @field_validator("endpoints")
    @classmethod
    def _check_endpoints(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        rule = "use '*' for all requests or 'METHOD /route', e.g. 'POST /orders'"
        for endpoint in value or ():
            check_name(endpoint, what="endpoint", pattern=_ENDPOINT, rule=rule)
        if value is not None and len(set(value)) != len(value):
            raise ValueError("endpoints must not repeat")
        return value


@dataclass(frozen=True)
class EndpointFigures:
    """What one run recorded for one endpoint; percentiles None without a success."""

    endpoint: str
    requests: int
    failures: int
    percentiles_ms: Mapping[str, float | None]
    """``p50``, ``p95``, ``p99`` of the successful requests, in ms."""
    throughput_per_s: float | None

    @property
    def error_ratio(self) -> float | None:
        return self.failures / self.requests if self.requests else None


@dataclass(frozen=True)
class RunFigures:
    """What the regression limits compare of one run."""

    run_id: str
    endpoints: Mapping[str, EndpointFigures]
    oversell_units: int | None = None
    """Units oversold (the drift checker's); None when the run checked no stock."""


def regression_endpoints(
    regression: Regression, objectives: Sequence[Objective]
) -> tuple[str, ...]:
    """The endpoints compared: the plan's list, else those its request objectives name."""
    if regression.endpoints is not None:
        return regression.endpoints
    kinds = (LatencyObjective, ErrorRatioObjective, ThroughputObjective, RecoveryObjective)
    named = {o.endpoint for o in objectives if isinstance(o, kinds)}
    if not named:
        return (ALL_ENDPOINTS,)
    return (*sorted(named - {ALL_ENDPOINTS}), *([ALL_ENDPOINTS] if ALL_ENDPOINTS in named else []))


def judge_regression(
    regression: Regression,
    current: RunFigures,
    baseline: RunFigures,
    *,
    endpoints: Sequence[str],
    min_samples: int,
) -> tuple[Evaluation, ...]:
    """One evaluation per limit and endpoint (oversell: one for the run).

    A figure passes when it got worse by **at most** the limit. Too few requests in
    either run (``min_samples``) or nothing to compare is inconclusive, never a pass.
    """
    found: list[Evaluation] = []
    for endpoint in endpoints:
        pair = _Pair(endpoint, current.endpoints.get(endpoint), baseline.endpoints.get(endpoint))
        for metric in LATENCY_METRICS:
            limit = getattr(regression, metric)
            if limit is not None:
                found.append(pair.latency(metric, limit, min_samples))
        if regression.error_ratio is not None:
            found.append(pair.errors(regression.error_ratio, min_samples))
        if regression.throughput is not None:
            found.append(pair.throughput(regression.throughput, min_samples))
    if regression.oversell is not None:
        found.append(
            _oversell(regression.oversell, current.oversell_units, baseline.oversell_units)
        )
    return tuple(found)


@dataclass(frozen=True)
class _Pair:
    endpoint: str
    current: EndpointFigures | None
    baseline: EndpointFigures | None

    def _evaluation(self, metric: str, status: Status, figures: tuple[float | None, float | None],
                    unit: str, reason: str) -> Evaluation:  # fmt: skip
        observed, threshold = figures
        return Evaluation(
            slo_id=f"{KIND}-{metric}-{self.endpoint}", kind=KIND, endpoint=self.endpoint,
            status=status, observed=observed, threshold=threshold, unit=unit,
            samples=self.current.requests if self.current else 0, reason=reason,
        )  # fmt: skip

    def _too_few(self, min_samples: int) -> str | None:
        counts = (self.baseline.requests if self.baseline else 0,
                  self.current.requests if self.current else 0)  # fmt: skip
        if min(counts) >= min_samples:
            return None
        return (f"too few requests to compare (baseline {counts[0]}, this run {counts[1]}; "
                f"need {min_samples})")  # fmt: skip

    def latency(self, metric: str, limit: Change, min_samples: int) -> Evaluation:
        what = f"{metric} of {describe(self.endpoint)}"
        unsure = self._too_few(min_samples)
        before = self.baseline.percentiles_ms.get(metric) if self.baseline else None
        after = self.current.percentiles_ms.get(metric) if self.current else None
        if unsure is None and (before is None or after is None):
            unsure = "no successful request to compare in " + (
                "the baseline" if before is None else "this run"
            )
        if unsure is not None or before is None or after is None:
            return self._evaluation(metric, Status.INCONCLUSIVE, (after, None), "ms",
                                    f"{what}: {unsure}, limit {_spaced(limit)}")  # fmt: skip
        allowed = before * (1 + limit.amount / 100) if limit.unit == "%" else before + limit.amount
        change = (f"{_signed(_relative(before, after))} %" if limit.unit == "%"
                  else f"{_signed(after - before)} ms")  # fmt: skip
        reason = (f"{what} {number(before)} ms → {number(after)} ms ({change}), "
                  f"limit {_spaced(limit)}")  # fmt: skip
        status = Status.PASS if after <= allowed * (1 + 1e-9) else Status.FAIL
        return self._evaluation(metric, status, (after, allowed), "ms", reason)

    def errors(self, limit: Change, min_samples: int) -> Evaluation:
        what = f"error ratio of {describe(self.endpoint)}"
        unsure = self._too_few(min_samples)
        before = self.baseline.error_ratio if self.baseline else None
        after = self.current.error_ratio if self.current else None
        if unsure is not None or before is None or after is None:
            return self._evaluation("errorRatio", Status.INCONCLUSIVE, (after, None), "ratio",
                                    f"{what}: {unsure}, limit {_spaced(limit)}")  # fmt: skip
        allowed = before + limit.amount / 100
        reason = (f"{what} {number(before * 100)} % → {number(after * 100)} % "
                  f"({_signed((after - before) * 100)} pp), limit {_spaced(limit)}")  # fmt: skip
        status = Status.PASS if after <= allowed + 1e-12 else Status.FAIL
        return self._evaluation("errorRatio", status, (after, allowed), "ratio", reason)

    def throughput(self, limit: Change, min_samples: int) -> Evaluation:
        what = f"throughput of {describe(self.endpoint)}"
        unsure = self._too_few(min_samples)
        before = self.baseline.throughput_per_s if self.baseline else None
        after = self.current.throughput_per_s if self.current else None
        if unsure is None and not before:
            unsure = "the baseline recorded no load window"
        if unsure is not None or not before or after is None:
            return self._evaluation("throughput", Status.INCONCLUSIVE, (after, None), "req/s",
                                    f"{what}: {unsure}, limit {_spaced(limit)}")  # fmt: skip
        allowed = before * (1 - limit.amount / 100)
        reason = (f"{what} {number(before)} → {number(after)} req/s "
                  f"({_signed(_relative(before, after))} %), limit {_spaced(limit)}")  # fmt: skip
        status = Status.PASS if after >= allowed * (1 - 1e-9) else Status.FAIL
        return self._evaluation("throughput", status, (after, allowed), "req/s", reason)


def _oversell(limit: Change, after: int | None, before: int | None) -> Evaluation:
    def build(status: Status, threshold: float | None, reason: str) -> Evaluation:
        return Evaluation(f"{KIND}-oversell", KIND, ALL_ENDPOINTS, status,
                          None if after is None else float(after), threshold, "units", 0,
                          reason)  # fmt: skip

    if after is None and before is None:
        return build(Status.NA, None, "oversell: neither run checked stock")
    if after is None or before is None:
        which = "this run" if after is None else "the baseline"
        return build(Status.INCONCLUSIVE, None, f"oversell: {which} checked no stock")
    allowed = before + limit.amount
    reason = f"oversell {before} → {after} units ({after - before:+d}), limit {limit}"
    return build(Status.PASS if after <= allowed else Status.FAIL, allowed, reason)


def _relative(before: float, after: float) -> float:
    if before == 0:
        return 0.0 if after == 0 else math.inf
    return (after / before - 1) * 100


def _signed(value: float) -> str:
    if math.isinf(value):
        return "+∞"
    return ("+" if value >= 0 else "-") + number(abs(value))


def _spaced(limit: Change) -> str:
    """``+10 %``, ``+0.5 pp``, ``+25 ms``: as the figures beside it are written."""
    if limit.unit in ("%", "pp"):
        return f"{limit.sign}{number(limit.amount)} {limit.unit}"
    if limit.unit == "ms":
        return f"+{number(limit.amount)} ms"
    return str(limit)

"""PromQL of the plan's SLIs, shared by the alert rules (``alerts``) and the gate's
Prometheus source (``rollout.promql_gate``), so both judge the same expression.

Pure: selectors, the two SLI shapes (a ratio of bad to all events, a count of bad
events), the objective -> SLI mapping of the request objectives, and the expression
builders. Histogram thresholds must be bucket boundaries: bad = all - the ``le``
bucket at the threshold (``bucket_at``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from slo.conventions import (
    CLIENT_LATENCY_BUCKETS_S,
    ENDPOINT_PLACE_ORDER,
    LABEL_ENDPOINT,
    LABEL_OUTCOME,
    METRIC_CLIENT_LATENCY,
    METRIC_CLIENT_REQUESTS,
    bucket_label,
)
from slo.durations import format_duration_ms
from slo.errors import UsageError
from slo.objectives import ErrorRatioObjective, LatencyObjective
from slo.stats import ALL_ENDPOINTS

__all__ = [
    "SAMPLE_ENDPOINT",
    "CountSli",
    "Labels",
    "RatioSli",
    "SampleRole",
    "Selector",
    "bucket_at",
    "endpoint_matchers",
    "error_ratio_sli",
    "events_expr",
    "histogram_sli",
    "latency_sli",
    "quantile_expr",
    "sample_endpoint",
    "sli_expr",
]

Labels = tuple[tuple[str, str], ...]
"""Labels as sorted ``(name, value)`` pairs: hashable and printed in a stable order."""

SampleRole = Literal["total", "good", "bad"]

SAMPLE_ENDPOINT = ENDPOINT_PLACE_ORDER
"""The endpoint generated tests send requests to when an SLO covers every endpoint."""


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


@dataclass(frozen=True, slots=True)
class Selector:
    """``metric{name="value", ...}``: equality matchers only, sorted by name."""

    metric: str
    matchers: Labels = ()

    @classmethod
    def of(cls, metric: str, **labels: str) -> Selector:
        return cls(metric, tuple(sorted(labels.items())))

    def renamed(self, metric: str, **labels: str) -> Selector:
        """The same matchers (plus ``labels``) on another metric."""
        return Selector.of(metric, **{**dict(self.matchers), **labels})

    def without(self, name: str) -> Selector:
        """The same selector without the matcher on ``name``."""
        return Selector(self.metric, tuple(m for m in self.matchers if m[0] != name))

    def promql(self) -> str:
        if not self.matchers:
            return self.metric
        inner = ", ".join(f"{name}={_quote(value)}" for name, value in self.matchers)
        return f"{self.metric}{{{inner}}}"

    def matches(self, metric: str, labels: Mapping[str, str]) -> bool:
        """Whether a series with these labels is selected (what Prometheus would do)."""
        return metric == self.metric and all(labels.get(k) == v for k, v in self.matchers)


@dataclass(frozen=True, slots=True)
class RatioSli:
    """Bad events / all events: ``bad`` counts bad ones, or ``good`` good ones
    (bad = total - good, e.g. requests slower than a histogram bucket).

    ``samples`` are concrete series that produce such events, for generated tests:
    each with the role its increments play (all events, good ones or bad ones).
    """

    total: Selector
    bad: Selector | None = None
    good: Selector | None = None
    samples: tuple[tuple[Selector, SampleRole], ...] = ()

    def __post_init__(self) -> None:
        if (self.bad is None) == (self.good is None):
            raise ValueError("a ratio SLI counts either bad or good events, not both")


@dataclass(frozen=True, slots=True)
class CountSli:
    """Bad events counted against a budget of units per SLO period (``max: 0``: none)."""

    bad: Selector
    samples: tuple[tuple[Selector, SampleRole], ...] = ()


def sli_expr(sli: RatioSli | CountSli, window: str, function: str) -> str:
    """PromQL of the SLI over ``window``; ``function`` is ``rate`` or ``increase``
    (the ratio is the same; increase reads as the event count it is)."""
    if isinstance(sli, CountSli):
        return f"sum(increase({sli.bad.promql()}[{window}])) or vector(0)"
    total = f"sum({function}({sli.total.promql()}[{window}]))"
    if sli.bad is not None:
        # No bad series yet (nothing failed) is a ratio of 0, not no SLI at all.
        bad = f"(sum({function}({sli.bad.promql()}[{window}])) or vector(0))"
    else:
        assert sli.good is not None
        good = f"sum({function}({sli.good.promql()}[{window}]))"
        bad = f"(\n  {total}\n  -\n  {good}\n)"
    return f"{bad}\n/\n{total}\n"


def events_expr(sli: RatioSli, window: str) -> str:
    """PromQL of all events of a ratio SLI over ``window`` (empty when never scraped)."""
    return f"sum(increase({sli.total.promql()}[{window}]))"


def quantile_expr(quantile: float, sli: RatioSli, window: str) -> str:
    """``histogram_quantile`` over the buckets of a histogram SLI (``latency_sli``):
    the value is linearly interpolated within the bucket holding the quantile."""
    assert sli.good is not None, "a quantile needs a histogram SLI (good = an le bucket)"
    buckets = sli.good.without("le")
    return f"histogram_quantile({quantile!r}, sum by (le) (increase({buckets.promql()}[{window}])))"


def bucket_at(slo_id: str, threshold_ms: float, buckets: tuple[float, ...], metric: str) -> float:
    """The bucket boundary (seconds) of ``metric`` equal to ``threshold_ms``, or a
    ``UsageError`` naming the SLO, the threshold and the nearest boundaries."""
    threshold_s = threshold_ms / 1000
    for upper in buckets:
        if math.isclose(upper, threshold_s, rel_tol=1e-9):
            return upper
    below = [b for b in buckets if b < threshold_s]
    above = [b for b in buckets if b > threshold_s]
    nearest = [format_duration_ms(b * 1000) for b in (below[-1:] + above[:1])]
    raise UsageError(
        f"cannot generate alerts for SLO {slo_id!r}: threshold "
        f"{format_duration_ms(threshold_ms)} is not a bucket boundary of {metric} "
        f"(nearest: {' and '.join(nearest)}); use one of those, or add the bound to the "
        "metric's buckets in slo/conventions.py"
    )


def histogram_sli(
    metric: str, upper_s: float, where: dict[str, str], sample: dict[str, str]
) -> RatioSli:
    """Observations above ``upper_s``: all (``_count``) - the ``le`` bucket at it."""
    le = bucket_label(upper_s)
    count = Selector.of(f"{metric}_count", **where)
    samples: tuple[tuple[Selector, SampleRole], ...] = (
        (Selector.of(count.metric, **sample), "total"),
        (Selector.of(f"{metric}_bucket", le=le, **sample), "good"),
    )
    return RatioSli(total=count, good=count.renamed(f"{metric}_bucket", le=le), samples=samples)


def endpoint_matchers(endpoint: str) -> dict[str, str]:
    """Matchers selecting one endpoint's series (none for ``*``: every endpoint)."""
    return {} if endpoint == ALL_ENDPOINTS else {LABEL_ENDPOINT: endpoint}


def sample_endpoint(endpoint: str) -> dict[str, str]:
    """The endpoint label of a concrete series of ``endpoint`` (``SAMPLE_ENDPOINT`` for ``*``)."""
    return {LABEL_ENDPOINT: SAMPLE_ENDPOINT if endpoint == ALL_ENDPOINTS else endpoint}


def latency_sli(objective: LatencyObjective) -> RatioSli:
    """Successful requests slower than the threshold, from the client latency histogram;
    ``UsageError`` when the threshold is not one of its bucket boundaries."""
    metric = METRIC_CLIENT_LATENCY
    upper = bucket_at(objective.id, objective.threshold_ms, CLIENT_LATENCY_BUCKETS_S, metric)
    return histogram_sli(
        metric, upper, endpoint_matchers(objective.endpoint), sample_endpoint(objective.endpoint)
    )


def error_ratio_sli(objective: ErrorRatioObjective) -> RatioSli:
    """Requests with ``outcome="fail"`` / all requests of the endpoint."""
    where = endpoint_matchers(objective.endpoint)
    requests = f"{METRIC_CLIENT_REQUESTS}_total"
    total = Selector.of(requests, **where)
    bad = Selector.of(requests, **{LABEL_OUTCOME: "fail"}, **where)
    sample = sample_endpoint(objective.endpoint)
    samples: tuple[tuple[Selector, SampleRole], ...] = (
        (Selector.of(requests, **{LABEL_OUTCOME: "ok"}, **sample), "good"),
        (Selector.of(requests, **{LABEL_OUTCOME: "fail"}, **sample), "bad"),
    )
    return RatioSli(total=total, bad=bad, samples=samples)

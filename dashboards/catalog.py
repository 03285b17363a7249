"""Every series name a dashboard may query, and who produces it.

One source of truth: the family names live in ``slo.conventions`` (the load process,
the peak-day collector, the reference OMS, the recording rules); this module only
knows how each family is exposed (a histogram as ``_bucket``/``_sum``/``_count``, a
counter with its ``_total``) and which windows the recording rules are built over. The
windows come from the alert window sets, which the caller reads (``alerts`` is not
ours to import): ``catalog(windows)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from slo import conventions as n

__all__ = [
    "COLLECTOR",
    "LOAD_PROCESS",
    "PROMETHEUS",
    "RECORDING_RULES",
    "REFERENCE_OMS",
    "MetricCatalog",
    "catalog",
    "family_series",
]

LOAD_PROCESS: Final = "the load process"
COLLECTOR: Final = "the peak-day collector"
REFERENCE_OMS: Final = "the reference OMS"
RECORDING_RULES: Final = "the recording rules"
PROMETHEUS: Final = "Prometheus itself"

Kind = Literal["counter", "gauge", "histogram"]

_LOAD: Mapping[str, Kind] = {
    n.METRIC_CLIENT_LATENCY: "histogram",
    n.METRIC_CLIENT_REQUESTS: "counter",
    n.METRIC_ARRIVALS_PLANNED: "counter",
    n.METRIC_ARRIVALS_SENT: "counter",
    n.METRIC_ARRIVALS_DROPPED: "counter",
    n.METRIC_ORDERS_CONFIRMED: "counter",
    n.METRIC_JOURNEYS_ACTIVE: "gauge",
    n.METRIC_LOAD_CPU: "gauge",
    n.METRIC_DRIFT_OVERSELL: "gauge",
    n.METRIC_DRIFT_OUTSIDE: "gauge",
    n.METRIC_DRIFT_UNDERSELL: "gauge",
    n.METRIC_DRIFT_LAG: "gauge",
}
"""collectors/live_metrics.py: counters named without ``_total`` (exposed with it)."""

_COLLECTOR: Mapping[str, Kind] = {
    n.METRIC_COLLECT_VIEW_DRIFT: "gauge",
    n.METRIC_COLLECT_VIEW_OBSERVATIONS: "counter",
    n.METRIC_COLLECT_VIEW_OUTSIDE: "counter",
    n.METRIC_COLLECT_VIEW_UNJUDGED: "counter",
    n.METRIC_COLLECT_LAG: "histogram",
    n.METRIC_COLLECT_LAG_PENDING: "gauge",
    n.METRIC_COLLECT_LAG_UNTIMED: "counter",
    n.METRIC_COLLECT_NEGATIVE: "counter",
    n.METRIC_COLLECT_PROBE_ERRORS: "counter",
    n.METRIC_COLLECT_PROBE_FAILED: "gauge",
    n.METRIC_COLLECT_PROBE_DURATION: "histogram",
    n.METRIC_COLLECT_LAST_PROBE: "gauge",
    n.METRIC_COLLECT_CANARY_DURATION: "histogram",
    n.METRIC_COLLECT_CANARY_OPS: "counter",
    n.METRIC_COLLECT_CANARY_OPEN: "gauge",
}

_OMS: Mapping[str, Kind] = {
    n.METRIC_OMS_HTTP_LATENCY: "histogram",
    n.METRIC_OMS_ORDERS: "counter",
    n.METRIC_OMS_STORE_ONLINE: "gauge",
    n.METRIC_OMS_STORE_OUTBOX_OPS: "gauge",
    n.METRIC_OMS_STORE_OUTBOX_UNITS: "gauge",
    n.METRIC_OMS_STORE_FORWARDED: "counter",
    n.METRIC_OMS_STORE_FORWARD_DELAY: "histogram",
    n.METRIC_OMS_STOCK_VIEW_LAG: "histogram",
    n.METRIC_OMS_STOCK_VIEW_SEQ: "gauge",
    n.METRIC_OMS_MARKETPLACE_VIEW_SEQ: "gauge",
}

_RULES = (
    n.RULE_OBJECTIVE,
    n.RULE_ERROR_BUDGET,
    n.RULE_ERROR_BUDGET_COUNT,
    n.RULE_CURRENT_BURN,
    n.RULE_PERIOD_BURN,
    n.RULE_BUDGET_REMAINING,
    n.RULE_SLO_INFO,
)
_WINDOWED_RULES = (n.RULE_SLI_ERROR, n.RULE_SLI_BAD, n.RULE_SLI_EVENTS)

_PROMETHEUS = ("ALERTS", "ALERTS_FOR_STATE", "up")
"""Series Prometheus writes itself: alert states of the burn-rate alerts, scrape health."""


def family_series(name: str, kind: Kind) -> tuple[str, ...]:
    """The series names a family is queried by (prometheus_client's exposition)."""
    if kind == "histogram":
        return (f"{name}_bucket", f"{name}_sum", f"{name}_count")
    if kind == "counter":
        return (name if name.endswith("_total") else f"{name}_total",)
    return (name,)


@dataclass(frozen=True)
class MetricCatalog:
    """Series name -> who produces it."""

    producers: Mapping[str, str]

    def producer(self, name: str) -> str | None:
        return self.producers.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.producers


def catalog(windows: Iterable[str]) -> MetricCatalog:
    """Every series the suite produces; ``windows``: the windows (``5m``, ``30d`` ...)
    of every alert window set, over which the windowed recording rules exist."""
    producers: dict[str, str] = {}
    for families, who in ((_LOAD, LOAD_PROCESS), (_COLLECTOR, COLLECTOR), (_OMS, REFERENCE_OMS)):
        for name, kind in families.items():
            producers.update(dict.fromkeys(family_series(name, kind), who))
    producers.update(dict.fromkeys(_RULES, RECORDING_RULES))
    for window in sorted(set(windows)):
        for prefix in _WINDOWED_RULES:
            producers[n.window_rule(prefix, window)] = RECORDING_RULES
    producers.update(dict.fromkeys(_PROMETHEUS, PROMETHEUS))
    return MetricCatalog(dict(sorted(producers.items())))

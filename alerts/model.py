"""What the rule generators read and return: SLOs as SLIs over counters, and rules.

``AlertSlo`` is an objective of the plan reduced to what Prometheus can see: a ratio of
bad to all events (``RatioSli``) or a count of bad events against a budget of units
(``CountSli``), plus the metric whose absence means "no data". Rule models are plain
frozen dataclasses; ``alerts.render`` turns them into YAML. Selectors and SLIs live in
``slo.promql`` (the gate reads the same expressions) and are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alerts.window_sets import WindowSet
from slo.promql import CountSli, Labels, RatioSli, SampleRole, Selector

__all__ = [
    "AlertSlo",
    "AlertSpec",
    "AlertingRule",
    "CountSli",
    "Labels",
    "RatioSli",
    "RecordingRule",
    "Rule",
    "RuleFile",
    "RuleGroup",
    "SampleRole",
    "Selector",
    "Skipped",
]


@dataclass(frozen=True, slots=True)
class AlertSlo:
    """One plan objective as Prometheus sees it.

    ``budget`` is the share of bad events allowed (``RatioSli``) or the bad units
    allowed per SLO period (``CountSli``). ``presence`` is the series whose absence
    raises the no-data alert; ``served_by`` names the process that serves it.
    ``objective`` says the promise in words; ``notes`` what live rules judge differently
    from the gate.
    """

    id: str
    kind: str
    objective: str
    sli: RatioSli | CountSli
    budget: float
    presence: Selector
    served_by: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Skipped:
    """An objective no rule is generated for, and why."""

    id: str
    kind: str
    reason: str


@dataclass(frozen=True, slots=True)
class AlertSpec:
    """What ``alerts.rules`` generates from: the plan's SLOs, its window set and guard."""

    plan_name: str
    window_set_name: str
    windows: WindowSet
    slos: tuple[AlertSlo, ...]
    skipped: tuple[Skipped, ...] = ()
    min_events: int | None = None


@dataclass(frozen=True, slots=True)
class RecordingRule:
    record: str
    expr: str
    labels: Labels = ()

    def to_dict(self) -> dict[str, Any]:
        return {"record": self.record, "expr": self.expr, "labels": dict(self.labels)}


@dataclass(frozen=True, slots=True)
class AlertingRule:
    alert: str
    expr: str
    labels: Labels = ()
    annotations: Labels = ()
    for_: str = "0s"

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert": self.alert,
            "expr": self.expr,
            "for": self.for_,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
        }


Rule = RecordingRule | AlertingRule


@dataclass(frozen=True, slots=True)
class RuleGroup:
    """A Prometheus rule group: its rules run in order, each seeing the ones before."""

    name: str
    rules: tuple[Rule, ...]
    interval: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "rules": [r.to_dict() for r in self.rules]}
        if self.interval is not None:
            out["interval"] = self.interval
        return out


@dataclass(frozen=True, slots=True)
class RuleFile:
    """A Prometheus rule file; ``notes`` become its header comment."""

    groups: tuple[RuleGroup, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"groups": [g.to_dict() for g in self.groups]}
